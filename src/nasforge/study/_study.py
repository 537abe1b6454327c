"""The study loop: ask -> evaluate -> tell -> persist, with budgets and resume."""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from .. import execution
from ..core import (FINISHED, Clock, Estimator, Event, Executor, Fidelity, Result, Strategy, TrialRequest,
                    TrialStatus, WallClock)
from ._constraints import REJECTED, precheck
from ._storage import Storage, TrialRecord

ExecutorFactory = Callable[..., Executor]  # (workers, estimator_factory, **options) -> Executor


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


class Pruner(Protocol):
    """Gives each trial an ``on_epoch`` callback that may stop it early (raising ``TrialPruned``);
    e.g. ``nasforge.estimation.PredictivePruner``. ``metric`` is what it watches on the curve."""

    metric: str

    def watch(self, horizon: int, incumbent: float | None) -> Callable[[dict], None]: ...


def _chain(*callbacks):
    """One ``on_epoch`` callback calling each given one in order (None when none is given)."""
    given = [c for c in callbacks if c is not None]
    if len(given) <= 1:
        return given[0] if given else None

    def call(point: dict) -> None:
        for callback in given:
            callback(point)

    return call


@dataclass
class StopReason:
    reason: str  # "trials", "time", "failures", "constraints"
    message: str


StopRule = Callable[..., "StopReason | None"]  # (elapsed_s, in_flight=0) -> why to stop now, or None


def _same(estimator):
    """Picklable ``lambda: estimator`` for worker processes."""
    return estimator


def result_of(event: Event) -> Result:
    """The result an executor's event stands for: the trial's own, or a failure saying why its worker stopped."""
    if event.kind == "result":
        return Result(**event.payload)
    if event.kind == "timeout":
        return Result(TrialStatus.FAILED, error=f"TrialTimeout: the trial ran past --trial-timeout "
                                                f"({event.payload:g}s) and its worker was stopped")
    return Result(TrialStatus.FAILED, error=f"WorkerCrashed: the trial's worker process died ({event.payload}); "
                                            "a segfault or running out of memory are the usual causes")


class Study:
    """Runs a strategy against an estimator, persisting every trial in ``storage``.

    ``clock`` says what a second of search is: wall time (the default) or, for
    a tabular benchmark, the simulated sum of recorded training costs.

    ``pruner`` (e.g. ``estimation.PredictivePruner``) gives every trial trained
    for the study's full number of epochs an ``on_epoch`` callback that may stop
    it early; such a trial is stored as pruned with the reason (docs/pruning.md).

    The strategy's state is committed with every trial it asks (in the same
    transaction as the new running trial) and with every result it is told,
    so a killed study resumes exactly: trials in flight when it died are
    marked interrupted and run again first (same architecture, fidelity,
    number and seed), and the restored strategy, which already asked them,
    never proposes them a second time.

    ``constraints`` (:class:`~nasforge.core.objectives.Constraint`): an architecture
    whose costs known before training break one is recorded as a pruned trial with
    ``request_meta["rejected"]`` and never trains (it costs no time and does not
    count toward ``n_trials``); a result that breaks one is pruned (see
    ``_constraints.py``). So every successful trial meets every constraint.

    The strategy is handed the estimator's ``costs`` and the constraints
    (``Strategy.set_known_costs``): a cost-aware strategy (``mo-bo``) looks up the costs
    of many candidates before choosing one to train; lookups are not trials.
    """

    MAX_REJECTIONS = 2000  # in a row: the strategy finds nothing that meets the constraints

    def __init__(self, storage: Storage, strategy: Strategy, estimator: Estimator, fidelity: Fidelity, seed: int,
                 clock: Clock | None = None, pruner: Pruner | None = None, constraints=()):
        self.storage = storage
        self.constraints = tuple(constraints)
        self.feasibility = ""  # how the constraints were found satisfiable (set by whoever checked them)
        self._rejected_in_a_row = 0
        self.clock = clock or WallClock()
        self.pruner = pruner
        self.strategy = strategy
        self.estimator = estimator
        self.fidelity = fidelity
        self.seed = seed
        # costs known before training (a table's latency, a built model's parameters) are free to a
        # strategy that reads them: lookups are not trials
        strategy.set_known_costs(estimator.costs, self.constraints)
        meta = storage.meta()
        state = meta.get("strategy_state")
        # a file from before states were stored at each ask: the rule starts after its trials
        self._asked_after = meta.get("state_at_ask_after", storage.last_trial_id())
        if state is not None:
            strategy.load_state_dict(state)
        self.interrupted_on_open = storage.mark_interrupted(reason="the study stopped while this trial ran; "
                                                                   "it was run again on resume")
        finished = storage.trials(FINISHED)
        # the history is the study's, not the state's; trials to run again count as asked
        strategy.remember([t.arch for t in finished] + [t.arch for t in self._unretried_interruptions()])
        self._finished = sum(not t.request_meta.get("rejected") for t in finished)
        self._failed = sum(t.status == TrialStatus.FAILED for t in finished)
        self._incumbent: float | None = None  # the pruner's bar: the best value finished at the full horizon
        for t in finished:
            self._raise_incumbent(t.status, t.fidelity, t.metrics)

    def close(self) -> None:
        """Release the study file: its writer lock, and its connection, which folds SQLite's
        write-ahead log (``.db-wal``) back into the file. A study left to the garbage collector
        rewrites its file whenever that runs; ``with nasforge.search(...) as study:`` closes it."""
        self.storage.close()

    def __enter__(self) -> "Study":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

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
                 trial_timeout: float | None = None, estimator_factory: Callable[[], Estimator] | None = None,
                 executor: str | ExecutorFactory = "process", executor_options: dict | None = None) -> StopReason:
        """Run until ``n_trials`` trials have finished in total or ``time_budget``
        seconds of search (summed over every run of this study) are spent;
        on a tabular benchmark those are simulated seconds of recorded training.

        A trial already running when the budget runs out is allowed to finish.
        With ``max_failures``, the study also stops once that many of its
        trials have failed (a study that only fails is misconfigured).

        With ``workers`` > 1, a ``trial_timeout``, an ``executor`` other than
        the default, or a space that ``runs_user_code`` (define-by-run), trials
        run isolated in an :class:`~nasforge.core.Executor`
        (see :meth:`_optimize_isolated`). ``executor`` is a registered name
        (``"process"``: local worker processes; ``"ray"``: Ray tasks) or a
        factory called as ``executor(workers, estimator_factory, **executor_options)``
        (for Ray the options are address, cpus_per_trial, ...). Workers build
        their estimator with ``estimator_factory`` (default: a copy of this one).
        """
        if n_trials is None and time_budget is None:
            raise ValueError("give n_trials, time_budget or both, or the study would never stop")
        reporter = reporter or SilentReporter()
        make_executor = execution.get(executor) if isinstance(executor, str) else executor
        stop_at = functools.partial(self._stop_reason, n_trials, time_budget, max_failures)
        self.clock.start(self.elapsed())  # before the workers start: their start-up counts as search time
        user_code = self.strategy.space.runs_user_code  # a crash in it must fail a trial, not the study
        if workers > 1 or trial_timeout is not None or executor != "process" or user_code:
            factory = estimator_factory or functools.partial(_same, self.estimator)
            pool = make_executor(workers, factory, **(executor_options or {}))
            return self._optimize_isolated(pool, stop_at, reporter, trial_timeout)
        return self._optimize_inline(stop_at, reporter)

    def _optimize_inline(self, stop_at: StopRule, reporter: Reporter) -> StopReason:
        """Run trials one after another in this process (bit-for-bit reproducible)."""
        retries = self._unretried_interruptions()
        while (stop := stop_at(self.clock.now())) is None:
            if retries:
                request, trial_id, fidelity, seed = self._retry_trial(retries.pop(0), reporter)
            else:
                request, trial_id, fidelity, seed = self._start_trial(self.storage.next_number(), reporter)
                if isinstance(fidelity, Result):  # rejected by a constraint before training
                    self._finish(trial_id, request, fidelity, reporter)
                    continue
            on_epoch = _chain(reporter.epoch_done, self._watch(fidelity))
            try:
                result = self.estimator.evaluate(request.arch, fidelity, seed, on_epoch=on_epoch)
            except KeyboardInterrupt:
                self._interrupted([trial_id], "stopped by the user (Ctrl-C); asked again on resume")
                raise
            self._finish(trial_id, request, result, reporter)
        return stop

    def _optimize_isolated(self, pool: Executor, stop_at: StopRule, reporter: Reporter,
                           trial_timeout: float | None) -> StopReason:
        """Run trials on ``pool``'s workers, asking while others run; close the pool at the end.

        A worker that crashes or passes ``trial_timeout`` is replaced and its
        trial stored as failed. Trials finish in any order, so results are
        not bit-for-bit reproducible across runs (the sequential path is).
        After a kill, trials that were running are recorded as interrupted;
        on resume each is run again first (same architecture, fidelity and
        seed; ``request_meta["retry_of"]`` names the interrupted trial) and
        its result told to the strategy like any other.
        """
        running: dict[int, tuple[int, TrialRequest]] = {}  # worker -> (trial id, request)
        retries = self._unretried_interruptions()
        try:
            while True:
                stop = self._submit_to_idle(pool, running, retries, stop_at, reporter, trial_timeout)
                if not running:
                    return stop or stop_at(self.clock.now()) or StopReason("trials", "nothing left to run")
                for event in pool.wait():
                    trial_id, request = running.pop(event.worker)
                    self._finish(trial_id, request, result_of(event), reporter)
        except KeyboardInterrupt:
            self._interrupted([trial_id for trial_id, _ in running.values()], "stopped by the user (Ctrl-C)")
            raise
        finally:
            pool.close()

    def _submit_to_idle(self, pool: Executor, running: dict, retries: list[TrialRecord], stop_at: StopRule,
                        reporter: Reporter, trial_timeout: float | None) -> StopReason | None:
        """Start a trial on each idle worker (interrupted ones first, each once) and note it in
        ``running``, until a budget counting the trials in flight says stop: that reason."""
        for worker in pool.idle():
            stop = stop_at(self.clock.now(), len(running))
            if stop is not None:
                return stop
            if retries:
                request, trial_id, fidelity, seed = self._retry_trial(retries.pop(0), reporter)
            else:
                while True:  # rejected architectures are recorded at once; ask again for this worker
                    request, trial_id, fidelity, seed = self._start_trial(self.storage.next_number(), reporter)
                    if not isinstance(fidelity, Result):
                        break
                    self._finish(trial_id, request, fidelity, reporter)
                    stop = stop_at(self.clock.now(), len(running))
                    if stop is not None:
                        return stop
            watch = self._watch(fidelity)  # passed only when pruning: executors written before it keep working
            pool.submit(worker, request.arch.to_json(), fidelity.to_dict(), seed, trial_timeout,
                        **({"on_epoch": watch} if watch is not None else {}))
            running[worker] = (trial_id, request)
        return None

    def _watch(self, fidelity: Fidelity):
        """The pruner's ``on_epoch`` callback for a trial at ``fidelity``, or None. Only trials
        trained for the study's full number of epochs are watched (multi-fidelity strategies
        stop their short trials themselves), against the best finished so far (in a pool: when
        the trial starts)."""
        full = fidelity.seconds is None and self.fidelity.seconds is None and fidelity.epochs >= self.fidelity.epochs
        return self.pruner.watch(fidelity.epochs, self._incumbent) if self.pruner is not None and full else None

    def _raise_incumbent(self, status, fidelity: dict, metrics: dict) -> None:
        """Count a finished trial towards the pruner's incumbent: an ok one at the full horizon."""
        if self.pruner is None or status != TrialStatus.OK:
            return
        f = Fidelity.from_dict(fidelity)
        value = metrics.get(self.pruner.metric)
        if value is not None and f.seconds is None and f.epochs >= self.fidelity.epochs:
            self._incumbent = value if self._incumbent is None else max(self._incumbent, value)

    def _finish(self, trial_id: int, request: TrialRequest, result: Result, reporter: Reporter) -> None:
        """Count the trial's cost on the clock, tell the strategy, commit both, report."""
        self.clock.advance(result.cost_s)  # counts only on a simulated (benchmark) clock
        result = self._constrained(request, result)
        self._raise_incumbent(result.status, result.fidelity, result.metrics)  # a result over a limit is no bar
        self.strategy.tell(request, result)
        self._commit(trial_id, result, self.clock.now(), rejected=bool(request.meta.get("rejected")))
        reporter.trial_finished(self.storage.trial(trial_id), self.best())

    def _interrupted(self, trial_ids: list[int], reason: str) -> None:
        """Record the trials in flight at a Ctrl-C as interrupted (asked again on resume) and the time spent."""
        for trial_id in trial_ids:
            self.storage.mark_interrupted(trial_id, reason)
        self.storage.set_meta({"elapsed_s": self.clock.now()})

    def _start_trial(self, number: int, reporter: Reporter) -> tuple[TrialRequest, int, Fidelity | Result, int]:
        """Ask the strategy and record the request as a running trial. An architecture that breaks a
        constraint before training comes back with its rejection (a pruned Result) instead of a fidelity."""
        request = self.strategy.ask()
        fidelity = Fidelity.from_dict({**self.fidelity.to_dict(), **(request.fidelity or {})})
        seed = trial_seed(self.seed, number)
        costs, broken = precheck(self.estimator, self.constraints, request.arch)
        if broken:
            request = TrialRequest(request.arch, request.fidelity, {**request.meta, "rejected": "; ".join(broken)})
        trial_id = self.storage.start_trial(number, request.arch, fidelity.to_dict(), seed, request.meta,
                                            {"strategy_state": self.strategy.state_dict(), "state_at_ask_after": self._asked_after})
        if broken:
            return request, trial_id, Result(TrialStatus.PRUNED, costs, [], fidelity.to_dict(), 0.0,
                                             f"{REJECTED}: rejected before training: {'; '.join(broken)}"), seed
        reporter.trial_started(number, request, fidelity)
        return request, trial_id, fidelity, seed

    def _constrained(self, request: TrialRequest, result: Result) -> Result:
        """``result``, or the pruned result it becomes when its metrics break a constraint."""
        if request.meta.get("rejected") or not result.ok or not self.constraints:
            return result
        from ..core.objectives import violations

        broken = violations(self.constraints, result.metrics)
        if not broken:
            return result
        return Result(TrialStatus.PRUNED, result.metrics, result.curve, result.fidelity, result.cost_s,
                      f"{REJECTED}: trained, then pruned: {'; '.join(broken)}")

    def _unretried_interruptions(self) -> list[TrialRecord]:
        """Interrupted trials to run again (a Ctrl-C or kill hit them while in flight): those the
        stored strategy state has already asked. Trials of files written before the state was
        stored at each ask (ids up to ``state_at_ask_after``) were asked again by their strategy
        itself, so they are not retried."""
        trials = self.storage.trials()
        retried = {t.request_meta.get("retry_of") for t in trials}
        return [t for t in trials if t.status == TrialStatus.INTERRUPTED and t.id not in retried
                and t.id > self._asked_after]

    def _retry_trial(self, old: TrialRecord, reporter: Reporter):
        """Run an interrupted trial again: same architecture, fidelity, number and seed."""
        request = TrialRequest(old.arch, old.fidelity, {**old.request_meta, "retry_of": old.id})
        fidelity = Fidelity.from_dict(old.fidelity)
        trial_id = self.storage.start_trial(old.number, old.arch, fidelity.to_dict(), old.seed, request.meta)
        reporter.trial_started(old.number, request, fidelity)
        return request, trial_id, fidelity, old.seed

    def _stop_reason(self, n_trials, time_budget, max_failures, elapsed, in_flight=0) -> StopReason | None:
        finished = self.finished_count()
        if n_trials is not None and finished + in_flight >= n_trials:
            return StopReason("trials", f"{finished} trials finished")
        if time_budget is not None and elapsed >= time_budget:
            return StopReason("time", f"time budget of {time_budget:g}s spent ({elapsed:.0f}s)")
        if self._rejected_in_a_row >= self.MAX_REJECTIONS:
            return StopReason("constraints", f"the last {self._rejected_in_a_row} architectures asked all broke the "
                                             f"constraints ({', '.join(map(str, self.constraints))})")
        if max_failures is not None and self._failed >= max_failures:
            last = self.storage.trials((TrialStatus.FAILED,))[-1]
            first_line = (last.error or "").splitlines()[0] if last.error else "no error text"
            return StopReason("failures", f"{self._failed} trials failed (limit {max_failures}); "
                                          f"last error: {first_line}")
        return None

    def _commit(self, trial_id: int, result: Result, elapsed: float, rejected: bool = False) -> None:
        objective = self.strategy.score(result)
        self._rejected_in_a_row = self._rejected_in_a_row + 1 if rejected else 0
        self._finished += not rejected
        self._failed += result.status == TrialStatus.FAILED
        self.storage.finish_trial(
            trial_id, result.status, result.metrics, result.curve, objective, result.error, result.cost_s,
            {"strategy_state": self.strategy.state_dict(), "elapsed_s": elapsed})


__all__ = ["Pruner", "Reporter", "SilentReporter", "StopReason", "Study", "trial_seed"]
