"""Proxy scores in study files and the proxy warm start of a search: ``nasforge proxies`` end to
end, ``search --proxy-warm-start``, the warm-start wrapper for strategies without their own
initial list, and old study files."""

from __future__ import annotations

import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from conftest import run_cli

from nasforge import spaces, strategies
from nasforge.api import SearchSpec, open_study
from nasforge.cli import main
from nasforge.core import Result, TrialStatus, UserInputError
from nasforge.study import Storage

ASSET = Path(__file__).parent / "assets" / "study-0.1.0.db"
TINY_NB201 = ["--space", "nb201", "--space-option", "channels=4", "--space-option", "cells_per_stage=1"]


@pytest.fixture
def tiny_npz(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "tiny.npz"
    np.savez(path, x=rng.normal(size=(60, 1, 12)).astype(np.float32), y=rng.integers(0, 3, 60))
    return path


def test_proxies_command_scores_stores_resumes_and_the_study_still_shows(tmp_path, tiny_npz, capsys):
    study = tmp_path / "p.db"
    args = ["proxies", "--study", str(study), *TINY_NB201, "--dataset", str(tiny_npz), "--proxy", "synflow",
            "--proxy", "naswot", "--batch-size", "16", "--quiet"]
    first = run_cli(*args, "--n", "4", timeout=120)  # the real command, in its own process
    assert first.returncode == 0, first.stderr
    assert "Stored the scores of 4 architectures" in first.stdout and "synflow" in first.stdout
    storage = Storage.open(study)
    rows = storage.proxy_scores()
    assert len(rows) == 8 and {r["proxy"] for r in rows} == {"synflow", "naswot"}
    assert all(r["seconds"] > 0 and r["batch_size"] == 16 for r in rows)
    storage.close()
    assert main([*args, "--n", "5"]) == 0  # the first 4 are stored: only 1 new
    storage = Storage.open(study)
    assert len(storage.proxy_scores()) == 10 and len(storage.proxy_scores("naswot")) == 5
    storage.close()
    capsys.readouterr()
    assert main(["show", "--study", str(study)]) == 0
    assert "10 zero-cost proxy scores (naswot, synflow) of 5 architectures" in capsys.readouterr().out
    assert main(["proxies", "--study", str(study), "--space", "macro-cnn", "--n", "2"]) == 2
    assert "holds other architectures or data" in capsys.readouterr().err


def test_proxies_command_refuses_an_unknown_proxy_listing_the_known_ones(tmp_path, capsys):
    assert main(["proxies", "--study", str(tmp_path / "p.db"), "--proxy", "synflo"]) == 2
    err = capsys.readouterr().err
    assert "unknown proxy 'synflo'; known: fisher, flops, grad_norm" in err and "Did you mean 'synflow'" in err
    assert not (tmp_path / "p.db").exists()


def test_old_study_files_have_no_proxy_scores_and_take_new_ones(tmp_path):
    old = tmp_path / "old.db"
    shutil.copy(ASSET, old)
    storage = Storage.open(old)
    assert storage.proxy_scores() == []
    trials = storage.trials()
    storage.add_proxy_scores([(trials[0].arch, "synflow", -math.inf, 0.5)], seed=3, batch_size=8)
    assert storage.proxy_scores()[0]["score"] == -math.inf and storage.trials() == trials
    storage.close()


def test_search_warm_start_runs_the_best_scored_first_and_counts_its_seconds(tmp_path):
    path = tmp_path / "w.db"
    spec = SearchSpec(benchmark="mnist1d-nb201", strategy="evolution", seed=1, proxy_warm_start=12, proxy="synflow",
                      proxy_top=3, strategy_options={"population_size": 4, "tournament_size": 2})
    study = open_study(path, spec)
    study.optimize(n_trials=6)
    meta = study.storage.meta()
    warm = meta["proxy_warm_start"]
    scores = study.storage.proxy_scores("synflow")
    assert warm["scored"] == 12 == len(scores) and len(warm["archs"]) == 3
    best3 = [r["arch"].to_json() for r in sorted(scores, key=lambda r: -r["score"])[:3]]
    trials = study.storage.trials()
    assert [t.arch.to_json() for t in trials[:3]] == best3 == warm["archs"]
    assert warm["seconds"] == pytest.approx(sum(r["seconds"] for r in scores))
    assert meta["elapsed_s"] == pytest.approx(warm["seconds"] + sum(t.duration_s for t in trials))
    study.storage.close()
    resumed = open_study(path, spec)  # nothing is scored again, and no warm-start architecture runs twice
    resumed.optimize(n_trials=8)
    assert len(resumed.storage.proxy_scores()) == 12
    assert len({t.arch.digest for t in resumed.storage.trials()}) == 8
    resumed.storage.close()
    with pytest.raises(Exception, match="proxy_top"):
        open_study(path, SearchSpec(**{**spec.to_dict(), "proxy_top": 5}), allow_changes=True)


def test_search_cli_warm_start_on_a_benchmark(tmp_path, capsys):
    result = run_cli("search", "--benchmark", "mnist1d-nb201", "--study", tmp_path / "s.db", "--strategy", "random",
                     "--trials", "4", "--proxy-warm-start", "8", "--proxy", "naswot", "--proxy-top", "2", "--quiet",
                     timeout=120)
    assert result.returncode == 0, result.stderr
    assert "Proxy warm start: 8 architectures scored with naswot" in result.stdout
    assert main(["search", "--benchmark", "mnist1d-nb201", "--study", str(tmp_path / "t.db"), "--proxy-warm-start",
                 "4", "--proxy", "nope"]) == 2
    assert "unknown proxy 'nope'" in capsys.readouterr().err


@pytest.mark.parametrize("name", ["local", "tpe", "hyperband", "bananas", "reinforce"])
def test_the_wrapper_asks_the_warm_start_first_then_the_strategy_and_resumes(name):
    if name == "tpe":
        pytest.importorskip("optuna")
    space = spaces.get("nb201")
    rng = np.random.default_rng(0)
    warm = [space.sample(rng) for _ in range(2)]
    s = strategies.warm_start(strategies.get(name, space, seed=0), warm)
    assert isinstance(s, strategies.WarmStart) and s.name == name
    asked = [s.ask() for _ in range(3)]
    assert [r.arch for r in asked[:2]] == warm and asked[2].meta.get("origin") != "warm-start"
    for r in asked:
        s.tell(r, Result(TrialStatus.OK, {"val_accuracy": 0.5}))
    restored = strategies.warm_start(strategies.get(name, space, seed=0), warm)
    restored.load_state_dict(s.state_dict())
    restored.remember([r.arch for r in asked])
    assert restored.ask().arch not in warm


def test_the_warm_start_feeds_a_local_search_its_incumbent():
    space = spaces.get("nb201")
    warm = [space.sample(np.random.default_rng(1))]
    s = strategies.warm_start(strategies.get("local", space, seed=0), warm)
    request = s.ask()
    s.tell(request, Result(TrialStatus.OK, {"val_accuracy": 0.9}))
    assert s.inner.incumbent[0] == warm[0]
    assert s.ask().arch in space.neighbors(warm[0])


def test_evolution_takes_the_warm_start_in_place_of_random_members():
    space = spaces.get("nb201")
    warm = [space.sample(np.random.default_rng(i)) for i in range(3)]
    s = strategies.warm_start(strategies.get("evolution", space, seed=0, population_size=3, tournament_size=2), warm)
    assert isinstance(s, strategies.RegularizedEvolution)
    asked = [s.ask() for _ in range(3)]
    assert [r.arch for r in asked] == warm
    for r in asked:
        s.tell(r, Result(TrialStatus.OK, {"val_accuracy": 0.5}))
    assert s.ask().meta["origin"] == "evolved"  # the warm start filled the random first population


def test_a_bad_warm_start_setting_is_refused_before_anything_runs():
    with pytest.raises(UserInputError, match="proxy_warm_start"):
        SearchSpec(proxy_warm_start=-1)
    with pytest.raises(UserInputError, match="unknown proxy 'synflowx'"):
        SearchSpec(proxy_warm_start=5, proxy="synflowx")


def test_the_proxies_command_keeps_nasforge_help_free_of_torch():
    import subprocess
    import sys

    code = "import sys\nfrom nasforge.cli import build_parser\nbuild_parser()\nprint('torch' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True).stdout.strip() == "False"
    from nasforge import proxies

    assert proxies.DEFAULT_BATCH == 64  # the default that `nasforge proxies --help` states


def test_a_warm_started_multi_objective_study_keeps_its_objectives_and_constraints(tmp_path):
    """The warm-start wrapper carries the study's objectives to the strategy it wraps: NSGA-II
    ranks on both, and every successful trial meets the constraint."""
    spec = SearchSpec(benchmark="mnist1d-nb201", strategy="nsga2", seed=2, proxy_warm_start=8, proxy="params",
                      proxy_top=2, objectives=["val_accuracy", "latency_ms"], constraints=["params<=80000"])
    study = open_study(tmp_path / "mo.db", spec)
    try:
        study.optimize(n_trials=6)
        assert list(study.strategy.objectives) == ["val_accuracy", "latency_ms"]
        assert list(study.strategy.inner.objectives) == ["val_accuracy", "latency_ms"]
        ok = [t for t in study.storage.trials() if t.status == TrialStatus.OK]
        assert ok and all(t.metrics["params"] <= 80000 for t in ok)
    finally:
        study.storage.close()
