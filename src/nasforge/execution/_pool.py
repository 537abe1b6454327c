"""Isolated trial execution: a pool of worker processes, one trial at a time each.

A trial that crashes its process (segfault, out of memory, ``os._exit``)
or runs past its timeout takes only its worker down: the pool reports it
and starts a fresh worker. The timeout counts from when the worker begins
the trial (it says so first), not from when the trial was handed to it, so
a worker's start-up on a busy machine does not count. Workers come from a
fork server (or are spawned), never forked from the study's own
multi-threaded process, so they are safe with PyTorch's threads, and each
gets ``cores // workers`` torch threads so the workers do not oversubscribe
the machine.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable
from multiprocessing.connection import wait
from typing import Any

from ..core import Arch, Event, Executor, Fidelity
from ..core.processes import describe_exit, process_context
from ._common import START_LIMIT_S, STARTED, register


def _worker_main(conn, factory: Callable[[], Any], threads: int) -> None:
    import torch  # heavy: imported by the worker that trains, not by the study

    torch.set_num_threads(threads)
    estimator = factory()
    while True:
        try:
            message = conn.recv()
        except EOFError:
            return
        if message is None:
            return
        arch_json, fidelity, seed, on_epoch = message
        conn.send(STARTED)
        result = estimator.evaluate(Arch.from_json(arch_json), Fidelity.from_dict(fidelity), seed, on_epoch=on_epoch)
        conn.send(dataclasses.asdict(result))


@register("process")
class WorkerPool(Executor):
    """``size`` worker processes that each evaluate one trial at a time."""

    def __init__(self, size: int, factory: Callable[[], Any], threads: int | None = None):
        self.size = size
        self.factory = factory
        self.threads = threads or max(1, (os.cpu_count() or 1) // size)
        self._ctx = process_context()
        self._procs: list[Any] = [None] * size
        self._conns: list[Any] = [None] * size
        self._started: dict[int, list] = {}  # busy worker -> [submitted at, began at or None, timeout]
        for i in range(size):
            self._spawn(i)

    def _spawn(self, i: int) -> None:
        parent, child = self._ctx.Pipe()
        proc = self._ctx.Process(target=_worker_main, args=(child, self.factory, self.threads), daemon=True)
        proc.start()
        child.close()
        self._procs[i], self._conns[i] = proc, parent

    def idle(self) -> list[int]:
        return [i for i in range(self.size) if i not in self._started]

    def submit(self, worker: int, arch_json: str, fidelity: dict, seed: int, timeout: float | None,
               on_epoch=None) -> None:
        self._conns[worker].send((arch_json, fidelity, seed, on_epoch))
        self._started[worker] = [time.monotonic(), None, timeout]

    def _restart(self, i: int) -> None:
        proc = self._procs[i]
        if proc.is_alive():
            proc.kill()
        proc.join(5)
        self._conns[i].close()
        self._spawn(i)

    def _deadline(self, i: int) -> float | None:
        """When worker ``i``'s trial times out: ``timeout`` after it began, or, while the worker has not
        begun it yet, :data:`START_LIMIT_S` after it was submitted."""
        submitted, began, timeout = self._started[i]
        if timeout is None:
            return None
        return began + timeout if began is not None else submitted + START_LIMIT_S + timeout

    def _read(self, i: int) -> dict | None:
        """Worker ``i``'s messages so far: notes when it began its trial; its result, or None."""
        conn = self._conns[i]
        try:
            while conn.poll():
                message = conn.recv()
                if message != STARTED:
                    return message
                self._started[i][1] = time.monotonic()
        except (EOFError, OSError):
            pass
        return None

    def wait(self, poll: float = 0.5) -> list[Event]:
        """Block until a busy worker finishes, dies or times out (or ``poll`` seconds pass)."""
        busy = list(self._started)
        if not busy:
            return []
        now = time.monotonic()
        deadlines = [d for d in map(self._deadline, busy) if d is not None]
        limit = max(0.0, min([poll, *(d - now for d in deadlines)]))
        ready = wait([self._conns[i] for i in busy] + [self._procs[i].sentinel for i in busy], timeout=limit)
        events = []
        for i in busy:
            proc, timeout = self._procs[i], self._started[i][2]
            result = self._read(i)
            if result is not None:
                events.append(Event(i, "result", result))
                del self._started[i]
            elif proc.sentinel in ready or not proc.is_alive():
                proc.join(5)
                events.append(Event(i, "died", describe_exit(proc.exitcode)))
                del self._started[i]
                self._restart(i)
            elif (deadline := self._deadline(i)) is not None and time.monotonic() > deadline:
                events.append(Event(i, "timeout", timeout))
                del self._started[i]
                self._restart(i)
        return events

    def close(self) -> None:
        for i in range(self.size):
            proc, conn = self._procs[i], self._conns[i]
            if i in self._started or not proc.is_alive():
                proc.kill()
            else:
                try:
                    conn.send(None)
                except OSError:
                    pass
            proc.join(5)
            if proc.is_alive():
                proc.kill()
            conn.close()
        self._started.clear()
