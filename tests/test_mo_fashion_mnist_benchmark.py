"""benchmarks/mo_fashion_mnist.py: which front models it retrains, and when one dominates the hand CNN."""

import gzip
import importlib.util
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nasforge.core import Arch, TrialStatus
from nasforge.study import TrialRecord

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "mo_fashion_mnist.py"


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("mo_fashion_mnist", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def trial(i, acc, params, status=TrialStatus.OK):
    return TrialRecord(i, i, status, Arch("macro-cnn", {"i": i}), {}, 0,
                       metrics={"val_accuracy": acc, "params": params})


def test_dominance_needs_equal_or_better_accuracy_and_a_strictly_lower_cost(bench):
    hand = {"test_accuracy": 0.90, "params": 1000, "latency_cpu_ms": 2.0}
    assert bench.dominance({"test_accuracy": 0.90, "params": 999, "latency_cpu_ms": 2.0}, hand) == "params"
    assert bench.dominance({"test_accuracy": 0.91, "params": 1000, "latency_cpu_ms": 1.5}, hand) == "latency"
    assert bench.dominance({"test_accuracy": 0.95, "params": 10, "latency_cpu_ms": 0.1}, hand) == "params + latency"
    assert bench.dominance({"test_accuracy": 0.8999, "params": 10, "latency_cpu_ms": 0.1}, hand) == ""
    assert bench.dominance({"test_accuracy": 0.95, "params": 1000, "latency_cpu_ms": 2.0}, hand) == ""  # ties


def test_pick_front_keeps_only_non_dominated_trials_most_accurate_first(bench):
    trials = [trial(1, 0.80, 100), trial(2, 0.85, 200), trial(3, 0.84, 300),  # 3 is dominated by 2
              trial(4, 0.90, 400), trial(5, 0.95, 900), trial(6, 0.99, 50, TrialStatus.PRUNED)]
    front = bench.pick_front(trials, ["val_accuracy", "params"], 10)
    assert [t.id for t in front] == [5, 4, 2, 1]
    assert [t.id for t in bench.pick_front(trials, ["val_accuracy", "params"], 2)] == [5, 4]


def write_small_fashion_mnist(folder: Path, n_train: int, n_test: int) -> None:
    """A tiny IDX copy of Fashion-MNIST's format: class k's images are bright in row band k."""
    rng = np.random.default_rng(0)
    for kind, n in (("train", n_train), ("t10k", n_test)):
        y = rng.integers(0, 10, n).astype(np.uint8)
        x = rng.integers(0, 60, (n, 28, 28)).astype(np.uint8)
        for i, k in enumerate(y):
            x[i, 2 * k + 4:2 * k + 7] = 250
        with gzip.open(folder / f"{kind}-images-idx3-ubyte.gz", "wb") as f:
            f.write(struct.pack(">IIII", 2051, n, 28, 28) + x.tobytes())
        with gzip.open(folder / f"{kind}-labels-idx1-ubyte.gz", "wb") as f:
            f.write(struct.pack(">II", 2049, n) + y.tobytes())


@pytest.mark.slow
def test_the_script_end_to_end_on_a_tiny_copy(tmp_path):
    """Search, retrain, auto under --max-params and the table, on 600 images (about a minute)."""
    data = tmp_path / "fm"
    data.mkdir()
    write_small_fashion_mnist(data, 600, 200)
    env = {**os.environ, "NASFORGE_FASHION_MNIST_DIR": str(data), "NASFORGE_CACHE": str(tmp_path / "cache"),
           "PYTHONPATH": str(SCRIPT.parent.parent / "src")}
    run = subprocess.run([sys.executable, str(SCRIPT), "--out", str(tmp_path / "out"), "--trials", "3",
                          "--population", "3", "--subset", "0.5", "--val-samples", "50", "--max-retrain", "2",
                          "--max-params", "50000", "--auto-budget", "25", "--train-samples", "400",
                          "--rounds", "1", "--repeats", "3"],
                         capture_output=True, text=True, timeout=600, env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    results = json.loads((tmp_path / "out" / "results.json").read_text())
    assert results["rows"]["hand-cnn"]["params"] == 288_170
    assert {r["train_samples"] for r in results["rows"].values()} == {400}  # every model on the same sample
    assert 1 <= len(results["rows"]) - 1 <= 2
    audit = results["auto"]["audit"]
    assert audit["all_trained_meet"] and audit["final_meets"] and audit["final_params"] <= 50_000
    assert "| hand-cnn |" in run.stdout and "dominate the hand CNN" in run.stdout
