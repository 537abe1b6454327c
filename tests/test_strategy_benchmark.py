"""benchmarks/strategies.py: the regret tables on a budget of evaluations and of simulated time."""

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nasforge.spaces import nb201

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "strategies.py"


@pytest.fixture(scope="module")
def curve_table(tmp_path_factory):
    """Every unique NB201 cell with a made-up 12-epoch curve: 3x3 convs help, and each
    costs training time, so stopping bad cells early pays on the clock."""
    cells = {}
    rng = np.random.default_rng(0)
    for arch in nb201.unique_archs():
        ops = nb201.to_string(arch)
        final = 0.80 + 0.03 * ops.count("nor_conv_3x3") + 0.01 * ops.count("nor_conv_1x1") + rng.normal(0, 0.005)
        curve = [round(final * (1 - 0.6 * np.exp(-e / 2.5)), 5) for e in range(1, 13)]
        cells[nb201.canonical(arch)] = {"arch": ops, "params": 1000, "flops": 1000, "latency_ms": 0.1,
                                        "curves": [curve], "test_accuracy": [round(final - 0.01, 5)],
                                        "train_seconds": [4.0 + ops.count("nor_conv")], "seeds": [0]}
    path = tmp_path_factory.mktemp("curves") / "table.json.gz"
    meta = {"space_options": {"channels": 16, "cells_per_stage": 1}, "epochs": 12}
    with gzip.open(path, "wt") as f:
        json.dump({"meta": meta, "cells": cells}, f)
    return path


def run_script(*args, env=None, cwd=None):
    run = subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=600,
                         env={**os.environ, **(env or {})}, cwd=cwd)
    assert run.returncode == 0, run.stderr
    return run.stdout


def load_script():
    """benchmarks/strategies.py as a module: its functions, without running ``main``."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("strategies_bench", SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


def rows(output):
    """strategy -> the table's cells (strings) of its row."""
    table = {}
    for line in output.splitlines():
        cells = [c.strip() for c in line.split("|")]
        if len(cells) > 3 and cells[0] and cells[0] != "strategy":
            table[cells[0]] = cells[1:]
    return table


def test_multi_fidelity_runs_more_cheaper_evaluations_on_the_simulated_clock(curve_table, tmp_path):
    out = run_script("--benchmark", "mnist1d-nb201", "--time-budget", "400", "--seeds", "3",
                     "--strategies", "random,asha,hyperband", "--plot", str(tmp_path / "time.png"),
                     env={"NASFORGE_MNIST1D_NB201": str(curve_table)})
    assert "400 simulated training seconds" in out and "val regret @12s" in out and "@400s" in out
    table = rows(out)
    assert set(table) == {"random", "asha", "hyperband"}
    evals = {name: float(cells[-2]) for name, cells in table.items()}
    # random reads whole 12-epoch curves (5-10 s each): at most 400 / 4 evaluations
    assert evals["random"] <= 100 and evals["asha"] > 1.5 * evals["random"]
    regret_at = {name: [float(c.split("±")[0]) for c in cells[:6]] for name, cells in table.items()}
    assert all(r[-1] <= r[0] for r in regret_at.values())  # the incumbent only gets better
    assert (tmp_path / "time.png").stat().st_size > 10_000
    continued = rows(run_script("--benchmark", "mnist1d-nb201", "--time-budget", "400", "--seeds", "3",
                                "--strategies", "random,asha", "--continue-runs", "--jobs", "2",
                                env={"NASFORGE_MNIST1D_NB201": str(curve_table)}))
    # promotions pay only their extra epochs: more evaluations in the same time; random never promotes
    # (and seeds run in parallel processes give the serial run's numbers)
    assert float(continued["asha"][-2]) > evals["asha"] and continued["random"] == table["random"][:-1] + [
        continued["random"][-1]]


def test_a_continued_run_reads_the_same_recorded_run_and_pays_only_the_extra_epochs(curve_table):
    from nasforge.benchmarks import mnist1d_table
    from nasforge.core import Fidelity

    bench = mnist1d_table(curve_table).fresh(continue_runs=True)
    rec = next(r for r in bench.table.values() if r["train_seconds"][0] > 4.0)
    arch = nb201.from_string(rec["arch"])
    third = bench.evaluate(arch, Fidelity(epochs=3), seed=0)
    full = bench.evaluate(arch, Fidelity(epochs=12), seed=1)
    assert third.cost_s == pytest.approx(rec["train_seconds"][0] * 3 / 12)
    assert full.cost_s == pytest.approx(rec["train_seconds"][0] * 9 / 12)
    again = bench.evaluate(arch, Fidelity(epochs=12), seed=2)  # not a promotion: a new training
    assert again.cost_s == pytest.approx(rec["train_seconds"][0])
    assert mnist1d_table(curve_table).evaluate(arch, Fidelity(epochs=12), 1).cost_s == again.cost_s


def test_evaluation_budget_table_and_a_time_budget_on_a_table_without_curves(tmp_path):
    out = run_script("--benchmark", "nb201-cifar10", "--evals", "25", "--seeds", "3", "--strategies", "random,evolution")
    assert "best mean validation accuracy 91.61%" in out
    table = rows(out)
    assert set(table) == {"random", "evolution"} and all(float(cells[-2]) == 25 for cells in table.values())
    run = subprocess.run([sys.executable, str(SCRIPT), "--benchmark", "nb201-cifar10", "--time-budget", "100"],
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 2 and "needs a benchmark with recorded curves" in run.stderr


def test_incumbents_on_the_simulated_clock():
    bench = load_script()
    history = [("a", 0.5, 10.0), ("b", 0.4, 12.0), ("c", 0.7, 30.0)]
    assert bench.incumbents(history, 5) == ["a", "a", "c", "c", "c"]
    assert bench.incumbents_at(history, [5.0, 10.0, 29.9, 30.0, 99.0]) == [None, "a", "a", "c", "c"]


def test_cli_search_continues_promoted_runs_on_the_curve_benchmark(curve_table, tmp_path):
    from nasforge.study import Storage

    env = {**os.environ, "NASFORGE_MNIST1D_NB201": str(curve_table)}

    def search(study, *extra):
        return subprocess.run([sys.executable, "-m", "nasforge.cli", "search", "--benchmark", "mnist1d-nb201",
                               "--strategy", "asha", "--strategy-option", "min_resource=3",
                               "--strategy-option", "max_resource=12", "--trials", "40", "--study", study,
                               "--quiet", *extra], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)

    def seconds_per_epoch_of_finished_archs(study):
        """Per architecture that reached 12 epochs: seconds paid over all its trials / recorded seconds."""
        storage = Storage.open(tmp_path / study)
        paid, reached = {}, set()
        for t in storage.trials(("ok",)):
            paid[t.arch.to_json()] = paid.get(t.arch.to_json(), 0.0) + t.metrics["train_seconds"]
            if t.fidelity["epochs"] == 12:
                reached.add(t.arch.to_json())
        storage.close()
        return paid, reached

    assert search("c.db", "--continue-runs").returncode == 0
    assert search("r.db").returncode == 0
    continued, reached = seconds_per_epoch_of_finished_archs("c.db")
    retrained, reached_r = seconds_per_epoch_of_finished_archs("r.db")
    assert reached and reached == reached_r  # same seed, same decisions: only the bill differs
    for arch in reached:  # rungs 3, 9, 12: continuing pays 12 epochs, retraining 3 + 9 + 12
        assert retrained[arch] == pytest.approx(continued[arch] * 24 / 12)
    refused = subprocess.run([sys.executable, "-m", "nasforge.cli", "search", "--benchmark", "nb201-cifar10",
                              "--strategy", "asha", "--continue-runs", "--trials", "3", "--study", "n.db"],
                             capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert refused.returncode != 0 and "needs a benchmark with learning curves" in refused.stderr


def test_mean_runs_makes_every_evaluation_read_the_ground_truth(curve_table, tmp_path):
    """With --mean-runs a trial reads the mean over recorded runs, which is what regret is
    measured against; without, it reads one run (here 1 point above or below that mean)."""
    with gzip.open(curve_table, "rt") as f:
        doc = json.load(f)
    for rec in doc["cells"].values():
        curve = rec["curves"][0]
        rec["curves"] = [[round(v + 0.01, 5) for v in curve], [round(v - 0.01, 5) for v in curve]]
        rec["test_accuracy"] *= 2
        rec["train_seconds"] *= 2
    two_runs = tmp_path / "two_runs.json.gz"
    with gzip.open(two_runs, "wt") as f:
        json.dump(doc, f)
    out = run_script("--benchmark", "mnist1d-nb201", "--time-budget", "200", "--seeds", "2", "--strategies",
                     "random", "--mean-runs", env={"NASFORGE_MNIST1D_NB201": str(two_runs)})
    assert "mean over recorded runs" in out and "random" in rows(out)

    script = load_script()
    from nasforge.benchmarks import mnist1d_table

    bench = mnist1d_table(two_runs)
    means = bench.means()
    for noisy_runs in (False, True):
        bench.noisy = noisy_runs
        folder = tmp_path / f"noisy-{noisy_runs}"
        folder.mkdir()
        history = script.run(bench, "random", 0, folder, evals=20)
        gaps = [abs(observed * 100 - means[key]) for key, observed, _ in history]
        assert len(gaps) == 20 and (all(g == pytest.approx(1.0) for g in gaps) if noisy_runs
                                    else all(g == pytest.approx(0.0, abs=1e-9) for g in gaps))


def test_perfect_fidelity_makes_every_rung_read_the_final_accuracy(curve_table, tmp_path, monkeypatch):
    monkeypatch.setenv("NASFORGE_MNIST1D_NB201", str(curve_table))
    script = load_script()
    finals = script.load_benchmark("mnist1d-nb201").means()  # percent, the curves' last epoch
    for perfect in (False, True):
        bench = script.load_benchmark("mnist1d-nb201", mean_runs=True, perfect=perfect)
        assert min(rec["train_seconds"][0] for rec in bench.table.values()) >= 4.0  # the made-up table
        folder = tmp_path / f"perfect-{perfect}"
        folder.mkdir()
        history = script.run(bench, "asha", 0, folder, time_budget=150, continue_runs=True, min_epochs=3)
        gaps = [finals[key] - observed * 100 for key, observed, _ in history]
        assert len(history) > 20
        if perfect:  # rung 0 (3 epochs) included: everything reads the final accuracy
            assert all(g == pytest.approx(0.0, abs=1e-9) for g in gaps)
        else:  # the made-up curves are still rising at 3 and 9 epochs
            assert sum(g > 1.0 for g in gaps) > len(gaps) / 2
    out = run_script("--benchmark", "mnist1d-nb201", "--time-budget", "100", "--seeds", "2", "--strategies", "asha",
                     "--perfect-fidelity", env={"NASFORGE_MNIST1D_NB201": str(curve_table)})
    assert "PERFECT FIDELITY" in out and "asha" in rows(out)
    run = subprocess.run([sys.executable, str(SCRIPT), "--perfect-fidelity", "--evals", "5"],
                         capture_output=True, text=True)
    assert run.returncode == 2 and "--perfect-fidelity needs --time-budget" in run.stderr
