"""Isolated parallel trials: crashes, hangs and memory hogs stay in their worker; a study
runs on any Executor it is given."""

import dataclasses
import functools

import numpy as np
import pytest

from nasforge import execution, spaces, strategies
from nasforge.core import Arch, Event, Executor, Fidelity, UnknownNameError
from nasforge.execution import describe_exit
from nasforge.study import Storage, Study

from synthetic import MatchTarget, slow_to_start


def make(path, estimator, strategy="random"):
    space = spaces.get("macro-cnn")
    return Study(Storage.create(path, {"spec": {}}), strategies.get(strategy, space, seed=0), estimator,
                 Fidelity(epochs=1), 0)


def test_sixteen_workers_lose_nothing(tmp_path):
    study = make(tmp_path / "p.db", MatchTarget(spaces.get("macro-cnn"), sleep=0.05), "evolution")
    stop = study.optimize(n_trials=64, workers=16)
    assert stop.reason == "trials"
    trials = study.trials
    assert len(trials) == 64 and all(t.status == "ok" for t in trials)
    assert len({t.arch for t in trials}) == 64 and len({t.number for t in trials}) == 64


def test_crashes_hangs_and_memory_hogs_become_failed_trials(tmp_path):
    space = spaces.get("macro-cnn")
    est = MatchTarget(space, crash_mod=7, hang_mod=7, allocate_mod=7)
    study = make(tmp_path / "c.db", est)
    study.optimize(n_trials=24, workers=3, trial_timeout=15)  # room for the hog to hit its limit on a busy machine
    trials = study.trials
    assert len(trials) == 24
    by_kind = {"crash": [], "hang": [], "hog": [], "ok": []}
    for t in trials:
        h = int(t.arch.digest, 16) % 7
        by_kind.get({0: "crash", 1: "hang", 2: "hog"}.get(h, "ok")).append(t)
    assert by_kind["crash"] and by_kind["hang"] and by_kind["ok"]
    assert all(t.status == "failed" and "SIGSEGV" in t.error for t in by_kind["crash"])
    assert all(t.status == "failed" and "TrialTimeout" in t.error for t in by_kind["hang"])
    assert all(t.status == "failed" and ("MemoryError" in t.error or "WorkerCrashed" in t.error)
               for t in by_kind["hog"])
    assert all(t.status == "ok" for t in by_kind["ok"])


def test_describe_exit():
    assert describe_exit(-11) == "killed by signal SIGSEGV" and describe_exit(3) == "exit code 3"


def test_trials_in_flight_at_a_kill_are_run_again_once_in_parallel_mode(tmp_path):
    space = spaces.get("macro-cnn")
    path = tmp_path / "k.db"
    study = make(path, MatchTarget(space))
    study.optimize(n_trials=4, workers=2)
    # a kill while two trials ran: they stay 'running' in the file
    lost = [space.sample(np.random.default_rng(i)) for i in (101, 102)]
    lost_ids = [study.storage.start_trial(study.storage.next_number(), a, {"epochs": 1}, 7000 + i, {"origin": "x"})
                for i, a in enumerate(lost)]
    study.storage.close()
    resumed = Study(Storage.open(path), strategies.get("random", space, seed=0), MatchTarget(space),
                    Fidelity(epochs=1), 0)
    assert resumed.interrupted_on_open == 2
    resumed.optimize(n_trials=8, workers=2)
    trials = resumed.trials
    retried = {t.request_meta.get("retry_of"): t for t in trials if "retry_of" in t.request_meta}
    assert set(retried) == set(lost_ids)
    for lost_id, arch in zip(lost_ids, lost):
        assert retried[lost_id].arch == arch and retried[lost_id].status == "ok"
        assert retried[lost_id].seed == resumed.storage.trial(lost_id).seed
    assert sum(t.status == "ok" for t in trials) == 8
    resumed.optimize(n_trials=10, workers=2)  # no second retry of the same interruption
    assert sum("retry_of" in t.request_meta for t in resumed.trials) == 2


class InProcess(Executor):
    """The smallest executor: each trial runs in this process when submitted."""

    def __init__(self, size, factory):
        self.size, self.estimator = size, factory()
        self.done, self.closed = {}, False

    def idle(self):
        return [i for i in range(self.size) if i not in self.done]

    def submit(self, worker, arch_json, fidelity, seed, timeout):
        result = self.estimator.evaluate(Arch.from_json(arch_json), Fidelity.from_dict(fidelity), seed)
        self.done[worker] = dataclasses.asdict(result)

    def wait(self, poll=0.5):
        events = [Event(w, "result", r) for w, r in self.done.items()]
        self.done.clear()
        return events

    def close(self):
        self.closed = True


def test_a_study_runs_on_an_executor_factory_it_is_given(tmp_path):
    space = spaces.get("macro-cnn")
    made = []

    def factory(size, estimator_factory):
        made.append(InProcess(size, estimator_factory))
        return made[-1]

    given = make(tmp_path / "given.db", MatchTarget(space, noise=0.05), "evolution")
    assert given.optimize(n_trials=12, executor=factory).reason == "trials"
    inline = make(tmp_path / "inline.db", MatchTarget(space, noise=0.05), "evolution")
    inline.optimize(n_trials=12)
    trials = lambda study: [(t.number, t.arch, t.seed, t.objective) for t in study.trials]
    assert trials(given) == trials(inline)  # one worker asks and tells in the inline order
    assert len(made) == 1 and made[0].size == 1 and made[0].closed
    assert given.optimize(n_trials=16, workers=4, executor=factory).reason == "trials"
    assert len(given.trials) == 16 and made[1].size == 4 and made[1].closed


def test_executors_are_registered_by_name(tmp_path):
    assert execution.names() == ["process", "ray"]
    assert execution.get("process") is execution.WorkerPool and execution.get("ray") is execution.RayExecutor
    study = make(tmp_path / "u.db", MatchTarget(spaces.get("macro-cnn")))
    with pytest.raises(UnknownNameError, match="unknown executor 'dask'; known: process, ray"):
        study.optimize(n_trials=1, executor="dask")


def test_a_trial_timeout_counts_from_the_start_of_the_trial_not_of_its_worker(tmp_path):
    study = make(tmp_path / "t.db", MatchTarget(spaces.get("macro-cnn")))
    factory = functools.partial(slow_to_start, 3.0)  # each worker takes 3 s to start, each trial ~0 s
    study.optimize(n_trials=4, workers=2, trial_timeout=1.0, estimator_factory=factory)
    assert [t.status for t in study.trials] == ["ok"] * 4, [t.error for t in study.trials]


def test_a_worker_that_never_starts_its_trial_is_stopped(tmp_path, monkeypatch):
    from nasforge.execution import _pool

    monkeypatch.setattr(_pool, "START_LIMIT_S", 1.0)
    study = make(tmp_path / "h.db", MatchTarget(spaces.get("macro-cnn")))
    study.optimize(n_trials=1, workers=1, trial_timeout=1.0, estimator_factory=functools.partial(slow_to_start, 600))
    assert study.trials[0].status == "failed" and "TrialTimeout" in study.trials[0].error
