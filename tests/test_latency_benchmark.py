"""benchmarks/latency_prediction.py: a tiny run, its resume, and rescoring from the saved raw rounds."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "latency_prediction.py"
TINY = ["--spaces", "macro-cnn", "--test", "4", "--calibrate", "3", "--repeats", "4", "--rounds", "2",
        "--warmup", "1", "--input-shape", "1", "12", "12"]


def run(*args):
    env = {**os.environ, "PYTHONPATH": str(SCRIPT.parent.parent / "src"), "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(SCRIPT), *map(str, args)], capture_output=True, text=True,
                          timeout=600, env=env)


@pytest.mark.slow  # several seconds of timing and two interpreter starts
def test_tiny_run_resumes_and_rescores(tmp_path):
    out = tmp_path / "lat.json"
    first = run(*TINY, "--json", out)
    assert first.returncode == 0, first.stderr[-3000:]
    doc = json.loads(out.read_text())
    state = doc["spaces"]["macro-cnn"]
    assert len(state["archs"]) == 7
    pass1 = state["pass1"]["value"]
    assert len(pass1) == 7 and all(len(r["wall"]) == 2 and all(len(x) == 2 for x in r["wall"]) for r in pass1)
    assert all(len(r["wall"]) == 1 and len(r["wall"][0]) == 30 for r in state["old1"]["value"])  # old protocol
    assert "2nd measurement (noise ceiling)" in first.stdout and "table + overhead" in first.stdout

    again = run(*TINY, "--json", out)  # everything measured already: nothing is timed again
    assert again.returncode == 0, again.stderr[-3000:]
    assert "pass1:" not in again.stdout and json.loads(out.read_text())["spaces"]["macro-cnn"]["pass1"] == \
        state["pass1"]
    changed = run(*TINY[:-6], "--repeats", "6", "--rounds", "3", "--warmup", "1", "--input-shape", "1", "12", "12",
                  "--json", out)
    assert changed.returncode != 0 and "another --json" in changed.stderr

    rescored = run("--rescore", out, "--clock", "cpu", "--statistic", "round-min-median")
    assert rescored.returncode == 0, rescored.stderr[-3000:]
    assert "cpu   round-min-median" in rescored.stdout
