"""The Ray executor, against a local Ray instance: same study file as local workers,
crashes retried then recorded as failed, hung trials cancelled, CLI flags."""

import functools
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from nasforge import spaces, strategies
from nasforge.core import Fidelity
from nasforge.study import Storage, Study

from synthetic import MatchTarget, slow_to_start

import ray  # noqa: E402 - in the dev extra: the suite needs it

TESTS = str(Path(__file__).parent)


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray instance for the module; its workers can import this folder's helpers."""
    path = os.pathsep.join(filter(None, [TESTS, os.environ.get("PYTHONPATH")]))  # and the nasforge under test
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, runtime_env={"env_vars": {"PYTHONPATH": path}})
    yield
    ray.shutdown()


def match_target(**kwargs):
    return MatchTarget(spaces.get("macro-cnn"), **kwargs)


def make(path, strategy="evolution", seed=0):
    space = spaces.get("macro-cnn")
    return Study(Storage.create(path, {"spec": {}}), strategies.get(strategy, space, seed=seed), match_target(),
                 Fidelity(epochs=1), 0)


def covering_seed(n: int, mod: int = 5) -> int:
    """The first random-search seed whose first ``n`` architectures include a crashing (digest % mod == 0),
    a hanging (== 1) and a fine one: which ones do depends on the space's decisions, not on Ray."""
    space = spaces.get("macro-cnn")
    for seed in range(100):
        strategy = strategies.get("random", space, seed=seed)
        kinds = {min(int(strategy.ask().arch.digest, 16) % mod, 2) for _ in range(n)}
        if kinds == {0, 1, 2}:
            return seed
    raise AssertionError("no seed below 100 samples all three kinds")


def shape(path):
    """The form of a study file: tables, columns, and which fields of each trial are set."""
    conn = sqlite3.connect(path)
    tables = {name: [c[1] for c in conn.execute(f"PRAGMA table_info({name})")]
              for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    trial_fields = {tuple(c is not None for c in row) for row in conn.execute("SELECT * FROM trials")}
    meta_keys = {k for (k,) in conn.execute("SELECT key FROM meta")} if "meta" in tables else set()
    conn.close()
    return tables, trial_fields, meta_keys


def test_a_ray_study_is_indistinguishable_in_form_from_a_local_one(tmp_path, local_ray):
    factory = functools.partial(match_target, sleep=0.05)
    via_ray = make(tmp_path / "ray.db")
    stop = via_ray.optimize(n_trials=16, workers=2, executor="ray", estimator_factory=factory)
    assert stop.reason == "trials"
    local = make(tmp_path / "local.db")
    local.optimize(n_trials=16, workers=2, estimator_factory=factory)
    trials = via_ray.trials
    assert len(trials) == 16 and all(t.status == "ok" for t in trials)
    assert len({t.arch for t in trials}) == 16
    assert shape(tmp_path / "ray.db") == shape(tmp_path / "local.db")
    assert set(trials[0].metrics) == set(local.trials[0].metrics)


@pytest.mark.slow  # ~25 s; the local executor's crash/hang test stays in the default run
def test_crashing_and_hung_trials_fail_without_stopping_a_ray_study(tmp_path, local_ray):
    study = make(tmp_path / "c.db", "random", seed=covering_seed(12))
    factory = functools.partial(match_target, crash_mod=5, hang_mod=5)
    study.optimize(n_trials=12, workers=2, trial_timeout=10, executor="ray", estimator_factory=factory,
                   executor_options={"max_retries": 1})
    trials = study.trials
    assert len(trials) == 12
    kinds = {0: "crash", 1: "hang"}
    crashed = [t for t in trials if kinds.get(int(t.arch.digest, 16) % 5) == "crash"]
    hung = [t for t in trials if kinds.get(int(t.arch.digest, 16) % 5) == "hang"]
    fine = [t for t in trials if int(t.arch.digest, 16) % 5 > 1]
    assert crashed and hung and fine
    assert all(t.status == "failed" and "Ray task failed" in t.error for t in crashed)
    assert all(t.status == "failed" and "TrialTimeout" in t.error for t in hung)
    assert all(t.status == "ok" for t in fine)


def test_a_ray_trial_timeout_counts_from_the_start_of_the_trial(tmp_path, local_ray):
    study = make(tmp_path / "t.db")  # each worker takes 3 s to build its estimator, each trial ~0 s
    study.optimize(n_trials=4, workers=2, trial_timeout=1.0, executor="ray",
                   estimator_factory=functools.partial(slow_to_start, 3.0))
    assert [t.status for t in study.trials] == ["ok"] * 4, [t.error for t in study.trials]


@pytest.mark.slow  # ~20 s: starts its own Ray runtime; the API-level Ray tests above stay in the default run
def test_cli_search_on_ray(tmp_path):
    run = subprocess.run([sys.executable, "-m", "nasforge.cli", "search", "--benchmark", "nb201-cifar10",
                          "--executor", "ray", "--workers", "2", "--trials", "6", "--study", "r.db", "--quiet"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert run.returncode == 0, run.stderr
    assert "6 trials finished" in run.stdout


def test_cli_refuses_trial_gpus_without_ray(tmp_path):
    bad = subprocess.run([sys.executable, "-m", "nasforge.cli", "search", "--benchmark", "nb201-cifar10",
                          "--trial-gpus", "1", "--trials", "2", "--study", "b.db"],
                         capture_output=True, text=True, cwd=tmp_path, timeout=120)
    assert bad.returncode == 2 and "--executor ray" in bad.stderr
