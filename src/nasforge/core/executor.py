"""The executor contract: how trials run outside the study's process (a local
pool of worker processes, or Ray tasks). A study submits to idle workers and
waits for events; it never needs to know which executor it has."""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any


@dataclass
class Event:
    """Something that happened to a worker: ``kind`` is "result" (payload: the
    Result as a dict), "died" (payload: how the process ended) or "timeout"
    (payload: the limit in seconds)."""

    worker: int
    kind: str
    payload: Any


class Executor(abc.ABC):
    """A fixed number of workers, each evaluating one trial at a time."""

    size: int

    @abc.abstractmethod
    def idle(self) -> list[int]:
        """Workers free to take a trial."""

    @abc.abstractmethod
    def submit(self, worker: int, arch_json: str, fidelity: dict, seed: int, timeout: float | None,
               on_epoch=None) -> None:
        """Start a trial on ``worker``; ``timeout`` seconds count from the trial's start. ``on_epoch``:
        a picklable callback the worker passes to ``Estimator.evaluate`` (a pruner's watch)."""

    @abc.abstractmethod
    def wait(self, poll: float = 0.5) -> list[Event]:
        """Block until a busy worker finishes, dies or times out (or ``poll`` seconds pass)."""

    @abc.abstractmethod
    def close(self) -> None:
        """Stop every worker (busy ones are killed)."""

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
