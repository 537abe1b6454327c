"""The ask/tell strategy contract: strategies are asked; they never train."""

from __future__ import annotations

import abc
from typing import Any

import numpy as np

from .arch import Arch
from .space import SearchSpace
from .trial import Result, TrialRequest


class Strategy(abc.ABC):
    """Decides what to evaluate next. Strategies are asked; they never train.

    Subclasses implement :meth:`ask` and :meth:`tell` and keep all their
    state in plain data so :meth:`state_dict` can be stored as JSON.
    """

    name: str = ""
    objective: str = "val_accuracy"  # maximised

    def __init__(self, space: SearchSpace, seed: int = 0):
        self.space = space
        self.seed = seed
        self.rng = np.random.default_rng(seed)
        self.seen: set[str] = set()  # digests of every architecture asked: not part of state_dict

    def fresh(self, propose, tries: int = 50) -> Arch:
        """Call ``propose()`` until it returns an architecture not asked before (or
        ``tries`` run out), so no trial is wasted on a repeat; remember it."""
        arch = propose()
        for _ in range(tries - 1):
            if arch.digest not in self.seen:
                break
            arch = propose()
        self.seen.add(arch.digest)
        return arch

    def remember(self, archs) -> None:
        """Mark architectures as already asked. A study calls this on resume with its
        finished trials, so the (growing) history need not live in the state."""
        self.seen.update(a.digest for a in archs)

    def _set_initial(self, initial) -> None:
        """Architectures (dicts or JSON) to ask before any other, each once; checked now."""
        self.initial = [a if isinstance(a, dict) else Arch.from_json(a).to_dict() for a in (initial or [])]
        for a in self.initial:
            self.space.validate(Arch.from_dict(a))

    def _next_initial(self) -> Arch | None:
        """The first initial architecture not asked yet, marked as asked; None when all were."""
        for a in getattr(self, "initial", ()):
            arch = Arch.from_dict(a)
            if arch.digest not in self.seen:
                self.seen.add(arch.digest)
                return arch
        return None

    @abc.abstractmethod
    def ask(self) -> TrialRequest:
        """The next trial to run (may be called again before earlier ones are told)."""

    @abc.abstractmethod
    def tell(self, request: TrialRequest, result: Result) -> None:
        """The outcome of an earlier :meth:`ask`."""

    def score(self, result: Result) -> float | None:
        """The objective of a successful result, else None."""
        if not result.ok:
            return None
        value = result.metrics.get(self.objective)
        return None if value is None else float(value)

    def config(self) -> dict[str, Any]:
        """Constructor options (not the seed), stored with the study."""
        return {}

    def state_dict(self) -> dict[str, Any]:
        """Everything but the history needed to continue exactly where this strategy
        stopped (JSON-able, bounded in size); restore with :meth:`load_state_dict`
        plus :meth:`remember` of the architectures evaluated so far."""
        return {"rng": self.rng.bit_generator.state, **self._state()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.rng.bit_generator.state = state["rng"]
        self._load_state(state)

    def _state(self) -> dict[str, Any]:
        return {}

    def _load_state(self, state: dict[str, Any]) -> None:
        pass
