import csv
import json

import numpy as np
import pytest

from nasforge import benchmarks, spaces, strategies
from nasforge.api import SearchSpec, open_study
from nasforge.core import Fidelity, UserInputError
from nasforge.spaces import nb201

from conftest import run_cli, run_cli_here, shared_file


@pytest.fixture(scope="module")
def package_bench():
    return benchmarks.get("nb201-cifar10")


@pytest.fixture(scope="module")
def csv_bench():
    return benchmarks.from_csv(shared_file("nb201_cifar10_avg.csv"))


def test_each_benchmark_declares_its_space_and_only_curve_benchmarks_continue_runs():
    declared = {name: benchmarks.space_name(name) for name in benchmarks.names()}
    assert declared == {"mnist1d-nb201": "nb201", "nasbench-macro": "nasbench-macro", "nb201-cifar10": "nb201",
                        "nb201-cifar10-csv": "nb201", "nb201-cifar100": "nb201", "nb201-imagenet16": "nb201"}
    assert set(declared.values()) <= set(spaces.names())
    assert SearchSpec(benchmark="nasbench-macro").space == "nasbench-macro"
    with pytest.raises(UserInputError, match=r"learning curves \(mnist1d-nb201\); 'nb201-cifar10' records final "):
        benchmarks.get("nb201-cifar10", continue_runs=True)
    assert benchmarks.get("mnist1d-nb201", continue_runs=True).continue_runs
    assert not benchmarks.get("mnist1d-nb201").continue_runs


def test_published_optimum_is_reproduced(package_bench, csv_bench):
    key, best = csv_bench.best()
    assert round(best, 2) == 91.61  # best mean CIFAR-10 validation accuracy (shared/data/README.md)
    assert round(csv_bench.table[key]["test_accuracy"], 2) == 91.09
    assert round(csv_bench.best("test_accuracy")[1], 2) == 91.52
    pkg_key, pkg_best = package_bench.best()
    assert round(pkg_best, 2) == 91.61
    assert nb201.to_string(nb201.from_index(int(pkg_key, 5))) == key


def test_package_keys_match_the_csv_arch_strings(package_bench):
    with open(shared_file("nb201_cifar10_avg.csv")) as f:
        rows = list(csv.DictReader(f))
    diffs = [abs(np.mean(package_bench.table[benchmarks.package_key(nb201.from_string(r["arch_str"]))]["val_accuracy"])
                 - float(r["valid-accuracy"])) for r in rows]
    assert len(diffs) == 15625 and max(diffs) < 0.01


def test_lookup_is_seeded_noise_around_the_mean(package_bench):
    arch = nb201.from_string("|nor_conv_3x3~0|+|nor_conv_3x3~0|nor_conv_3x3~1|+|skip_connect~0|nor_conv_3x3~1|nor_conv_1x1~2|")
    values = {package_bench.evaluate(arch, Fidelity(), seed).metrics["val_accuracy"] for seed in range(30)}
    assert 2 <= len(values) <= 3
    assert package_bench.evaluate(arch, Fidelity(), 5).metrics == package_bench.evaluate(arch, Fidelity(), 5).metrics
    result = package_bench.evaluate(arch, Fidelity(), 0)
    assert result.cost_s == result.metrics["train_seconds"] > 1000


def test_simulated_clock_and_budget(tmp_path):
    study = open_study(tmp_path / "b.db", SearchSpec(benchmark="nb201-cifar10", strategy="random"))
    stop = study.optimize(time_budget=20_000)
    costs = [t.duration_s for t in study.trials]
    assert stop.reason == "time"
    assert sum(costs[:-1]) < 20_000 <= sum(costs)
    assert study.elapsed() == pytest.approx(sum(costs))


def test_evolution_beats_random_on_nb201(package_bench):
    """Mean best validation accuracy after 100 evaluations over 10 seeds each."""
    def best_after(name, seed):
        s = strategies.get(name, package_bench.space, seed=seed, **({"population_size": 20, "tournament_size": 5}
                                                                     if name == "evolution" else {}))
        best = 0.0
        for _ in range(100):
            req = s.ask()
            res = package_bench.evaluate(req.arch, Fidelity(), seed)
            s.tell(req, res)
            best = max(best, float(np.mean(package_bench.record(req.arch)["val_accuracy"])))
        return best

    evo = np.mean([best_after("evolution", s) for s in range(10)])
    rnd = np.mean([best_after("random", s) for s in range(10)])
    assert evo > rnd, (evo, rnd)


def test_cli_benchmark_search(tmp_path):
    study = tmp_path / "nb.db"
    proc = run_cli("search", "--benchmark", "nb201-cifar10", "--strategy", "evolution", "--trials", "50",
                   "--study", study, "--quiet")
    assert proc.returncode == 0, proc.stderr
    assert "Stopped: 50 trials finished" in proc.stdout and "|nor_conv" in proc.stdout
    train = run_cli("train", "--study", study)
    assert train.returncode == 2 and "tabular benchmark" in train.stderr
    unknown = run_cli("search", "--benchmark", "nb301", "--study", tmp_path / "x.db")
    assert unknown.returncode == 2 and "unknown benchmark 'nb301'; known: " in unknown.stderr
    assert "nasbench-macro" in unknown.stderr and "nb201-cifar10" in unknown.stderr


def shown(study):
    """`nasforge show --json` of ``study``, parsed."""
    return json.loads(run_cli_here("show", "--study", study, "--json").stdout)


def test_merge_combines_studies_run_elsewhere(tmp_path):
    for seed in (1, 2):
        assert run_cli_here("search", "--benchmark", "nb201-cifar10", "--strategy", "random", "--trials", "7",
                            "--seed", seed, "--study", tmp_path / f"s{seed}.db", "--quiet").returncode == 0
    proc = run_cli_here("merge", "--into", tmp_path / "all.db", tmp_path / "s1.db", tmp_path / "s2.db")
    assert proc.returncode == 0 and "Merged 14 finished trial(s)" in proc.stdout
    merged = shown(tmp_path / "all.db")["trials"]
    parts = [shown(tmp_path / f"s{s}.db")["trials"] for s in (1, 2)]
    key = lambda t: (json.dumps(t["arch"], sort_keys=True), t["metrics"]["val_accuracy"])
    assert sorted(map(key, merged)) == sorted(key(t) for p in parts for t in p)
    assert {t["request_meta"]["merged_from"]["study"] for t in merged} == {str(tmp_path / "s1.db"), str(tmp_path / "s2.db")}
    assert run_cli_here("merge", "--into", tmp_path / "all.db", tmp_path / "s1.db").returncode == 2  # never overwrites
    assert run_cli_here("search", "--benchmark", "nb201-cifar100", "--trials", "2", "--study", tmp_path / "c.db",
                        "--quiet").returncode == 0
    mismatch = run_cli_here("merge", "--into", tmp_path / "bad.db", tmp_path / "s1.db", tmp_path / "c.db")
    assert mismatch.returncode == 2 and "benchmark: 'nb201-cifar10' vs 'nb201-cifar100'" in mismatch.stderr
    assert not (tmp_path / "bad.db").exists()
    twice = run_cli_here("merge", "--into", tmp_path / "twice.db", tmp_path / "s1.db", tmp_path / "s1.db",
                         tmp_path / "all.db")
    assert twice.returncode == 0 and "Merged 14 finished trial(s)" in twice.stdout  # each evaluation once


def test_allow_changes_continues_a_study_with_another_strategy_but_never_another_space(tmp_path):
    study = tmp_path / "c.db"
    assert run_cli_here("search", "--benchmark", "nb201-cifar10", "--strategy", "random", "--trials", "6",
                        "--study", study, "--quiet").returncode == 0
    refused = run_cli_here("search", "--strategy", "evolution", "--trials", "12", "--study", study, "--quiet")
    assert refused.returncode == 2 and "--allow-changes" in refused.stderr
    changed = run_cli_here("search", "--strategy", "evolution", "--trials", "12", "--study", study, "--quiet",
                           "--allow-changes")
    assert changed.returncode == 0, changed.stderr
    doc = shown(study)
    assert doc["spec"]["strategy"] == "evolution" and len(doc["trials"]) == 12
    assert len({json.dumps(t["arch"], sort_keys=True) for t in doc["trials"]}) == 12  # history still skipped
    fixed = run_cli_here("search", "--benchmark", "nb201-cifar100", "--trials", "14", "--study", study,
                         "--allow-changes")
    assert fixed.returncode == 2 and "cannot change" in fixed.stderr
