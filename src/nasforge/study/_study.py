"""The study loop: ask -> evaluate -> tell -> persist, with budgets and resume."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ..core import (FINISHED, Clock, Estimator, Fidelity, Result, Strategy, TrialRequest, TrialStatus, UserInputError,
                    WallClock)
from ._storage import Storage, TrialRecord



def trial_seed(study_seed: int, number: int) -> int:
    """The seed of the ``number``-th trial: fixed by the study seed, so a resumed trial repeats exactly."""
    return int(np.random.SeedSequence([study_seed, number]).generate_state(1)[0] & 0x7FFFFFFF)


class Reporter(Protocol):
    """Receives progress events (the CLI draws them; the API may ignore them)."""

    def trial_started(self, number: int, request: TrialRequest, fidelity: Fidelity) -> None: ...
    def epoch_done(self, point: dict) -> None: ...
    def trial_finished(self, record: TrialRecord, best: TrialRecord | None) -> None: ...


class SilentReporter:
    def trial_started(self, number, request, fidelity):
        pass

    def epoch_done(self, point):
        pass

    def trial_finished(self, record, best):
        pass


@dataclass
class StopReason:
    reason: str  # "trials", "time", "failures"
    message: str


def _same(estimator):
    """Picklable ``lambda: estimator`` for worker processes."""
    return estimator


class Study:
    """Runs a strategy against an estimator, persisting every trial in ``storage``.

    ``clock`` says what a second of search is: wall time (the default) or, for
    a tabular benchmark, the simulated sum of recorded training costs.

    Every finished trial is committed together with the strategy state that
    includes it before the next ask, so a killed study resumes exactly:
    trials in flight when it died are marked interrupted and asked again.
    """

    def __init__(self, storage: Storage, strategy: Strategy, estimator: Estimator, fidelity: Fidelity, seed: int,
                 clock: Clock | None = None):
        self.storage = storage
        self.clock = clock or WallClock()
        self.strategy = strategy
        self.estimator = estimator
        self.fidelity = fidelity
        self.seed = seed
        state = storage.meta().get("strategy_state")
        if state is not None:
            strategy.load_state_dict(state)
        self.interrupted_on_open = storage.mark_interrupted(reason="the study stopped while this trial ran; "
                                                                   "it was asked again on resume")
        finished = storage.trials(FINISHED)
        strategy.remember(t.arch for t in finished)  # the history is the study's, not the state's
        self._finished = len(finished)
        self._failed = sum(t.status == TrialStatus.FAILED for t in finished)

    @property
    def trials(self) -> list[TrialRecord]:
        return self.storage.trials()

    def best(self) -> TrialRecord | None:
        return self.storage.best()

    def finished_count(self) -> int:
        return self._finished

    def elapsed(self) -> float:
        return float(self.storage.meta().get("elapsed_s", 0.0))

    def optimize(self, n_trials: int | None = None, time_budget: float | None = None,
                 reporter: Reporter | None = None, max_failures: int | None = None, workers: int = 1,
                 trial_timeout: float | None = None, estimator_factory=None, executor: str = "process",
                 executor_options: dict | None = None) -> StopReason:
        """Run until ``n_trials`` trials have finished in total or ``time_budget``
        seconds of search (summed over every run of this study) are spent;
        on a tabular benchmark those are simulated seconds of recorded training.

        A trial already running when the budget runs out is allowed to finish.
        With ``max_failures``, the study also stops once that many of its
        trials have failed (a study that only fails is misconfigured).

        With ``workers`` > 1 or a ``trial_timeout``, trials run in isolated
        worker processes (see :meth:`_optimize_isolated`); with
        ``executor="ray"`` they run as Ray tasks (``executor_options`` go to
        :class:`~nasforge.execution.RayExecutor`: address, cpus_per_trial, ...).
        """
        if n_trials is None and time_budget is None:
            raise ValueError("give n_trials, time_budget or both, or the study would never stop")
        reporter = reporter or SilentReporter()
        if executor not in ("process", "ray"):
            raise UserInputError(f"unknown executor {executor!r}; known: process, ray")
        if workers > 1 or trial_timeout is not None or executor == "ray":
            return self._optimize_isolated(n_trials, time_budget, reporter, max_failures, workers, trial_timeout,
                                           estimator_factory, executor, executor_options or {})
        clock = self._start_clock()
        number = self.finished_count()
        while True:
            stop = self._stop_reason(n_trials, time_budget, max_failures, clock.now())
            if stop is not None:
                return stop
            request, trial_id, fidelity, seed = self._start_trial(number, reporter)
            try:
                result = self.estimator.evaluate(request.arch, fidelity, seed, on_epoch=reporter.epoch_done)
            except KeyboardInterrupt:
                self.storage.mark_interrupted(trial_id, "stopped by the user (Ctrl-C); asked again on resume")
                self.storage.set_meta({"elapsed_s": clock.now()})
                raise
            clock.advance(result.cost_s)
            self.strategy.tell(request, result)
            self._commit(trial_id, result, clock.now())
            number += 1
            reporter.trial_finished(self.storage.trial(trial_id), self.best())

    def _start_clock(self) -> Clock:
        self.clock.start(self.elapsed())
        return self.clock

    def _start_trial(self, number: int, reporter: Reporter) -> tuple[TrialRequest, int, Fidelity, int]:
        """Ask the strategy and record the request as a running trial."""
        request = self.strategy.ask()
        fidelity = Fidelity.from_dict({**self.fidelity.to_dict(), **(request.fidelity or {})})
        seed = trial_seed(self.seed, number)
        trial_id = self.storage.start_trial(number, request.arch, fidelity.to_dict(), seed, request.meta)
        reporter.trial_started(number, request, fidelity)
        return request, trial_id, fidelity, seed

    def _unretried_interruptions(self) -> list[TrialRecord]:
        """Interrupted trials not yet run again (a Ctrl-C or kill hit them while in flight)."""
        trials = self.storage.trials()
        retried = {t.request_meta.get("retry_of") for t in trials}
        return [t for t in trials if t.status == TrialStatus.INTERRUPTED and t.id not in retried]

    def _retry_trial(self, old: TrialRecord, number: int, reporter: Reporter):
        """Run an interrupted trial again: same architecture, fidelity and seed."""
        request = TrialRequest(old.arch, old.fidelity, {**old.request_meta, "retry_of": old.id})
        fidelity = Fidelity.from_dict(old.fidelity)
        trial_id = self.storage.start_trial(number, old.arch, fidelity.to_dict(), old.seed, request.meta)
        reporter.trial_started(number, request, fidelity)
        return request, trial_id, fidelity, old.seed

    def _stop_reason(self, n_trials, time_budget, max_failures, elapsed, in_flight=0) -> StopReason | None:
        finished = self.finished_count()
        if n_trials is not None and finished + in_flight >= n_trials:
            return StopReason("trials", f"{finished} trials finished")
        if time_budget is not None and elapsed >= time_budget:
            return StopReason("time", f"time budget of {time_budget:g}s spent ({elapsed:.0f}s)")
        if max_failures is not None and self._failed >= max_failures:
            last = self.storage.trials((TrialStatus.FAILED,))[-1]
            first_line = (last.error or "").splitlines()[0] if last.error else "no error text"
            return StopReason("failures", f"{self._failed} trials failed (limit {max_failures}); "
                                          f"last error: {first_line}")
        return None

    def _optimize_isolated(self, n_trials, time_budget, reporter, max_failures, workers, trial_timeout,
                           estimator_factory, executor="process", executor_options=None) -> StopReason:
        """Run trials in a pool of worker processes, asking while others run.

        A worker that crashes or passes ``trial_timeout`` is replaced and its
        trial stored as failed. Trials finish in any order, so results are
        not bit-for-bit reproducible across runs (the sequential path is).
        After a kill, trials that were running are recorded as interrupted;
        on resume each is run again first (same architecture, fidelity and
        seed; ``request_meta["retry_of"]`` names the interrupted trial) and
        its result told to the strategy like any other.
        """
        import functools

        from ..execution import RayExecutor, WorkerPool

        factory = estimator_factory or functools.partial(_same, self.estimator)
        clock = self._start_clock()
        if executor == "ray":
            pool = RayExecutor(workers, factory, **(executor_options or {}))
        else:
            pool = WorkerPool(workers, factory)
        running: dict[int, tuple[int, TrialRequest, int]] = {}  # worker -> (trial id, request, number)
        retries = self._unretried_interruptions()
        stop = None
        try:
            while True:
                for worker in pool.idle():
                    stop = self._stop_reason(n_trials, time_budget, max_failures, clock.now(), len(running))
                    if stop is not None:
                        break
                    number = self.storage.next_number()
                    if retries:
                        request, trial_id, fidelity, seed = self._retry_trial(retries.pop(0), number, reporter)
                    else:
                        request, trial_id, fidelity, seed = self._start_trial(number, reporter)
                    pool.submit(worker, request.arch.to_json(), fidelity.to_dict(), seed, trial_timeout)
                    running[worker] = (trial_id, request, number)
                if not running:
                    return stop or self._stop_reason(n_trials, time_budget, max_failures, clock.now()) \
                        or StopReason("trials", "nothing left to run")
                for event in pool.wait():
                    trial_id, request, _ = running.pop(event.worker)
                    if event.kind == "result":
                        result = Result(**event.payload)
                    elif event.kind == "timeout":
                        result = Result(TrialStatus.FAILED, error=f"TrialTimeout: the trial ran past --trial-timeout "
                                                       f"({event.payload:g}s) and its worker was stopped")
                    else:
                        result = Result(TrialStatus.FAILED, error=f"WorkerCrashed: the trial's worker process died "
                                                      f"({event.payload}); a segfault or running out of memory "
                                                      "are the usual causes")
                    clock.advance(result.cost_s)  # counts only on a simulated (benchmark) clock
                    self.strategy.tell(request, result)
                    self._commit(trial_id, result, clock.now())
                    reporter.trial_finished(self.storage.trial(trial_id), self.best())
        except KeyboardInterrupt:
            for trial_id, _, _ in running.values():
                self.storage.mark_interrupted(trial_id, "stopped by the user (Ctrl-C)")
            self.storage.set_meta({"elapsed_s": clock.now()})
            raise
        finally:
            pool.close()

    def _commit(self, trial_id: int, result: Result, elapsed: float) -> None:
        objective = self.strategy.score(result)
        self._finished += 1
        self._failed += result.status == TrialStatus.FAILED
        self.storage.finish_trial(
            trial_id, result.status, result.metrics, result.curve, objective, result.error, result.cost_s,
            {"strategy_state": self.strategy.state_dict(), "elapsed_s": elapsed})


__all__ = ["Reporter", "SilentReporter", "StopReason", "Study", "trial_seed"]
