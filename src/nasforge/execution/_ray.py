"""Trials as Ray tasks, on a local Ray instance or an existing cluster.

An :class:`~nasforge.core.Executor` like :class:`WorkerPool` (``idle``/``submit``/
``wait``/``close`` with numbered slots), so the study loop does not care where trials
run and the study file is written only by the driver, exactly as with local workers.

Each trial is one task with its own CPU/GPU request. Ray re-runs a task
whose worker process died (``max_retries``, for lost nodes or killed
workers); a trial that keeps killing its worker ends as a failed trial. A
trial past its timeout is cancelled (force-killed). Ray reuses worker
processes, so each keeps the estimator (and its data set) it built for the
first trial of a study instead of reloading it.

Each task is a generator that first says it began the trial's own work
(after its estimator is built): a trial's timeout counts from then, so
time queued for resources and a worker's start-up do not count. A task
that has not begun :data:`START_LIMIT_S` seconds after it was submitted is
stopped like one past its timeout.
"""

from __future__ import annotations

import dataclasses
import hashlib
import pickle
import time
from collections.abc import Callable
from typing import Any

from ..core import Arch, Event, Executor, Fidelity, UserInputError, require
from ._common import START_LIMIT_S, STARTED, register

_ESTIMATORS: dict[str, Any] = {}  # per Ray worker process: study key -> estimator


def _evaluate(key: str, factory: Callable[[], Any], threads: int, arch_json: str, fidelity: dict, seed: int,
              on_epoch=None):
    """Yields :data:`STARTED` as the trial's own work begins, then the result as a dict."""
    import torch  # heavy: imported by the Ray worker that trains, not by the driver

    torch.set_num_threads(threads)
    if key not in _ESTIMATORS:
        _ESTIMATORS[key] = factory()
    yield STARTED
    result = _ESTIMATORS[key].evaluate(Arch.from_json(arch_json), Fidelity.from_dict(fidelity), seed,
                                       on_epoch=on_epoch)
    yield dataclasses.asdict(result)


@register("ray")
class RayExecutor(Executor):
    """``size`` concurrent trial slots backed by Ray tasks."""

    def __init__(self, size: int, factory: Callable[[], Any], address: str | None = None,
                 cpus_per_trial: float = 1.0, gpus_per_trial: float = 0.0, max_retries: int = 2,
                 runtime_env: dict | None = None, num_cpus: int | None = None):
        self.ray = require("ray", "ray")
        if cpus_per_trial <= 0 or gpus_per_trial < 0:
            raise UserInputError(f"trial resources must be positive; got cpus={cpus_per_trial}, gpus={gpus_per_trial}")
        self.size, self.factory = size, factory
        self.key = hashlib.sha1(pickle.dumps(factory)).hexdigest()
        if not self.ray.is_initialized():
            options = {"ignore_reinit_error": True, "include_dashboard": False, "log_to_driver": False,
                       "runtime_env": runtime_env}
            if address:
                options["address"] = address
            elif num_cpus is not None:
                options["num_cpus"] = num_cpus
            try:
                self.ray.init(**options)
            except ConnectionError as exc:
                raise UserInputError(f"cannot reach the Ray cluster at {address!r}: {exc}") from None
            self._owns_ray = True
        else:
            self._owns_ray = False
        self.threads = max(1, int(cpus_per_trial))
        self.remote = self.ray.remote(_evaluate).options(num_cpus=cpus_per_trial, num_gpus=gpus_per_trial,
                                                        max_retries=max_retries, num_returns="streaming")
        self._running: dict[int, list] = {}  # slot -> [task's generator, submitted at, began at or None, timeout]
        self._factory_ref = None

    def idle(self) -> list[int]:
        return [i for i in range(self.size) if i not in self._running]

    def submit(self, worker: int, arch_json: str, fidelity: dict, seed: int, timeout: float | None,
               on_epoch=None) -> None:
        if self._factory_ref is None:  # shipped to the object store once, not with every task
            self._factory_ref = self.ray.put(self.factory)
        task = self.remote.remote(self.key, self._factory_ref, self.threads, arch_json, fidelity, seed,
                                  on_epoch)
        self._running[worker] = [task, time.monotonic(), None, timeout]

    def _deadline(self, slot: int) -> float | None:
        """``timeout`` after the task began; :data:`START_LIMIT_S` after submission while it has not."""
        _, submitted, began, timeout = self._running[slot]
        if timeout is None:
            return None
        return began + timeout if began is not None else submitted + START_LIMIT_S + timeout

    def _next(self, slot: int) -> Event | None:
        """The task's next message: None when it says it began, else the event of its result or failure."""
        try:
            message = self.ray.get(next(self._running[slot][0]))
        except Exception as exc:  # the task's worker died (after retries) or Ray failed it
            return Event(slot, "died", f"Ray task failed: {type(exc).__name__}: "
                                       f"{str(exc).splitlines()[0] if str(exc) else ''}")
        if message == STARTED:
            self._running[slot][2] = time.monotonic()
            return None
        return Event(slot, "result", message)

    def wait(self, poll: float = 0.5) -> list[Event]:
        """Block until a running trial finishes, fails or times out (or ``poll`` seconds pass)."""
        if not self._running:
            return []
        now = time.monotonic()
        deadlines = [d for d in map(self._deadline, self._running) if d is not None]
        limit = max(0.0, min([poll, *(d - now for d in deadlines)]))
        tasks = [task for task, *_ in self._running.values()]
        ready, _ = self.ray.wait(tasks, num_returns=1, timeout=limit)
        events = []
        for slot, (task, *_) in list(self._running.items()):
            event = self._next(slot) if task in ready else None
            if event is not None:
                del self._running[slot]
                events.append(event)
            elif (deadline := self._deadline(slot)) is not None and time.monotonic() > deadline:
                timeout = self._running.pop(slot)[3]
                self.ray.cancel(task, force=True)
                events.append(Event(slot, "timeout", timeout))
        return events

    def close(self) -> None:
        for task, *_ in self._running.values():
            self.ray.cancel(task, force=True)
        self._running.clear()
        if self._owns_ray:
            self.ray.shutdown()
