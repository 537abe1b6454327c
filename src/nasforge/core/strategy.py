"""The ask/tell strategy contract: strategies are asked; they never train."""

from __future__ import annotations

import abc
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from . import objectives as _objectives
from .arch import Arch
from .errors import UserInputError
from .space import SearchSpace
from .trial import Result, TrialRequest


class Strategy(abc.ABC):
    """Decides what to evaluate next. Strategies are asked; they never train.

    Subclasses implement :meth:`ask` and :meth:`tell` and keep all their
    state in plain data so :meth:`state_dict` can be stored as JSON.
    """

    name: str = ""
    objectives: tuple[str, ...] = ("val_accuracy",)  # the study's objectives (see set_objectives)
    multi_objective: bool = False  # True: uses every objective (else only one may be set)
    uses_known_costs: bool = False  # True: reads the costs known before training (see set_known_costs)
    known_costs: Callable[[Arch, Iterable[str]], dict[str, float]] | None = None
    constraints: tuple = ()  # the study's constraints (core.objectives.Constraint), given with known_costs

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

    def set_known_costs(self, lookup: Callable[[Arch, Iterable[str]], dict[str, float]] | None,
                        constraints: Iterable = ()) -> None:
        """What can be known about an architecture *before* training it, and the study's constraints.

        ``lookup(arch, metrics)`` returns those of ``metrics`` known without training ``arch``
        (an estimator's :meth:`~nasforge.core.Estimator.costs`: a table's recorded latency, a
        built model's parameters and FLOPs) and leaves the others out. A lookup is not an
        evaluation: nothing is trained. A study hands its estimator's ``costs`` to every
        strategy before the first ask (again on resume); a strategy that reads them sets
        ``uses_known_costs``, the others ignore them. Not part of the state."""
        self.known_costs = lookup
        self.constraints = tuple(constraints)

    @property
    def objective(self) -> str:
        """The first (for a single-objective strategy: the only) objective's name."""
        return self.objectives[0]

    def set_objectives(self, names) -> None:
        """Optimise these registered objectives (a study sets its own before the first ask).
        A single-objective strategy refuses several."""
        names = _objectives.check_objectives(names)
        if len(names) > 1 and not self.multi_objective:
            raise UserInputError(f"strategy {self.name!r} optimises one objective; for {', '.join(names)} use a "
                                 "multi-objective strategy (nsga2, mo-evolution, parego, mo-bo, mo-asha, random)")
        self.objectives = names

    def score(self, result: Result) -> float | None:
        """The first objective of a successful result, turned so that higher is better
        (a minimised objective is negated); None for a failure or a missing value."""
        if not result.ok:
            return None
        values = _objectives.oriented(result.metrics, self.objectives[:1])
        return None if values is None else -values[0]

    def values(self, result: Result) -> list[float] | None:
        """Every objective of a successful result in minimisation form (smaller is better), or None."""
        if not result.ok:
            return None
        return _objectives.oriented(result.metrics, self.objectives)

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
