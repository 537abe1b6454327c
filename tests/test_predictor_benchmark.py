"""benchmarks/predictors.py: the rank-correlation tables, with a proxy cache as extra features."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "predictors.py"
MACRO = Path(os.environ.get("NASFORGE_NASBENCH_MACRO",
                            Path(__file__).resolve().parents[2] / "shared/data/nas-bench-macro_cifar10.json"))


@pytest.mark.skipif(not MACRO.is_file(), reason=f"NAS-Bench-Macro table not found at {MACRO}")
def test_tables_with_a_proxy_cache(tmp_path):
    """A cache scoring every NAS-Bench-Macro network with a proxy that is the accuracy itself adds an
    ``enc+cost+zc`` variant; its proxy alone ranks perfectly and proxy-features gets near it. A proxy
    named like a cost feature is not added twice; an all-infinite one is left out."""
    table = json.loads(MACRO.read_text())
    cache = tmp_path / "proxies.json"
    lines = [json.dumps({"key": k, "scores": {"oracle": r["mean_acc"], "flops": 1.0, "dud": float("-inf")}})
             for k, r in table.items()]  # the JSON-lines cache of benchmarks/zero_cost_proxies.py
    cache.write_text("\n".join(lines) + '\n{"key": "00000000", "sco')  # its last line half written
    out = tmp_path / "results.json"
    run = subprocess.run([sys.executable, str(SCRIPT), "--benchmarks", "macro", "--sizes", "10,25",
                          "--seeds", "2", "--test-size", "200", "--families", "gp,proxy-features",
                          "--macro-json", str(MACRO), "--proxy-cache", str(cache), "--json", str(out)],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "| proxy-features | enc+cost+zc |" in run.stdout and "| gp | enc |" in run.stdout
    results = json.loads(out.read_text())["macro"]
    assert {r["feature"] for r in results["references"]} == {"params", "flops", "zc:oracle"}
    oracle = [r["kendall"] for r in results["references"] if r["feature"] == "zc:oracle"]
    assert oracle == [1.0, 1.0]
    with_zc = [r["kendall"] for r in results["results"] if r["family"] == "proxy-features"
               and r["variant"] == "enc+cost+zc" and r["n"] == 25]
    assert min(with_zc) > 0.8


def test_unknown_names_are_refused():
    for flag, name in (("--benchmarks", "nowhere"), ("--families", "oracle")):
        run = subprocess.run([sys.executable, str(SCRIPT), flag, name], capture_output=True, text=True, timeout=60)
        assert run.returncode == 2 and name in run.stderr, run.stderr
