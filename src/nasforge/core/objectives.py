"""Objectives by name, each with a direction, and constraints on them.

A study optimises one or more named objectives. Each is a metric of a
trial's :class:`~nasforge.core.trial.Result` (``val_accuracy``, ``params``,
``latency_ms``, ...) with a direction (maximise or minimise), a unit and a
one-line description. Strategies work in *minimisation form*: every value
is turned so that smaller is better (a maximised value is negated), which is
what non-dominated sorting and hypervolume in :mod:`~nasforge.core.pareto`
expect.

A :class:`Constraint` is ``metric <op> bound`` (``"latency_ms<=2.0"``); a
study rejects an architecture that breaks one before training where the
metric can be known without training (parameters, FLOPs, a table's latency).

>>> get("latency_ms").direction
'minimize'
>>> oriented({"val_accuracy": 0.9, "params": 1000.0}, ["val_accuracy", "params"])
[-0.9, 1000.0]
>>> Constraint.parse("params<=1e5").satisfied({"params": 90_000})
True
"""

from __future__ import annotations

import math
import operator
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from .checks import check_choice
from .errors import UserInputError
from .registry import Registry

MAXIMIZE, MINIMIZE = "maximize", "minimize"


@dataclass(frozen=True)
class Objective:
    """A named metric and the direction that is better."""

    name: str
    direction: str
    unit: str = ""
    description: str = ""
    derive: Callable[[Mapping[str, float]], float | None] | None = None  # from other metrics, when not measured

    def __post_init__(self):
        check_choice("Objective", "direction", self.direction, (MAXIMIZE, MINIMIZE))

    @property
    def sign(self) -> float:
        """+1 for a minimised objective, -1 for a maximised one: ``sign * value`` is smaller-is-better."""
        return 1.0 if self.direction == MINIMIZE else -1.0

    def value(self, metrics: Mapping[str, float]) -> float | None:
        """This objective's value in ``metrics`` (derived if needed), or None if absent or not finite."""
        value = metrics.get(self.name)
        if value is None and self.derive is not None:
            value = self.derive(metrics)
        if value is None:
            return None
        value = float(value)
        return value if math.isfinite(value) else None


REGISTRY: Registry[Objective] = Registry("objective")
_OBJECTIVES: dict[str, Objective] = {}


def register(name: str, direction: str, unit: str = "", description: str = "",
             derive: Callable[[Mapping[str, float]], float | None] | None = None) -> Objective:
    """Register an objective (a metric name with its direction); returns it."""
    objective = Objective(name, direction, unit, description, derive)
    REGISTRY.register(name, description)(lambda: objective)
    _OBJECTIVES[name] = objective
    return objective


def _error(metrics: Mapping[str, float]) -> float | None:
    acc = metrics.get("val_accuracy")
    return None if acc is None else 1.0 - float(acc)


register("val_accuracy", MAXIMIZE, "fraction", "validation accuracy of the trial's training run")
register("val_error", MINIMIZE, "fraction", "validation error, 1 - val_accuracy", derive=_error)
register("test_accuracy", MAXIMIZE, "fraction", "test accuracy (tables record it; never search on it in practice)")
register("params", MINIMIZE, "count", "trainable parameters of the network")
register("flops", MINIMIZE, "count", "floating point operations of one forward pass at batch 1")
register("latency_ms", MINIMIZE, "ms", "median inference latency at batch 1 on the measuring machine")
register("size_bytes", MINIMIZE, "bytes", "size of the saved model on disk")
register("peak_memory_mb", MINIMIZE, "MiB", "peak memory of one inference")
register("energy_j", MINIMIZE, "J", "energy of one inference (measured counters or a labelled estimate)")


def get(name: str) -> Objective:
    """The registered objective ``name`` (unknown names get close-match hints)."""
    REGISTRY.factory(name)
    return _OBJECTIVES[name]


def names(pattern: str = "*") -> list[str]:
    return REGISTRY.names(pattern)


def check_objectives(objective_names: Iterable[str]) -> tuple[str, ...]:
    """The names as a tuple, each registered and none twice; at least one."""
    out = tuple(objective_names)
    if not out:
        raise UserInputError("a study needs at least one objective; known: " + ", ".join(names()))
    for name in out:
        get(name)
    if len(set(out)) != len(out):
        raise UserInputError(f"objectives must differ; got {', '.join(out)}")
    return out


def oriented(metrics: Mapping[str, float], objective_names: Sequence[str]) -> list[float] | None:
    """The objectives' values in minimisation form (maximised ones negated), or None if one is missing."""
    out = []
    for name in objective_names:
        objective = get(name)
        value = objective.value(metrics)
        if value is None:
            return None
        out.append(objective.sign * value)
    return out


_OPS: dict[str, Callable[[float, float], bool]] = {"<=": operator.le, ">=": operator.ge, "<": operator.lt,
                                                     ">": operator.gt}
_PATTERN = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(<=|>=|<|>)\s*([-+0-9.eE_]+)\s*$")


@dataclass(frozen=True)
class Constraint:
    """``metric op bound``: a limit every completed trial of a study meets."""

    metric: str
    op: str
    bound: float

    @classmethod
    def parse(cls, text: str) -> Constraint:
        """From ``"latency_ms<=2.0"``: a registered metric, one of <=, >=, <, >, and a number."""
        match = _PATTERN.match(str(text))
        if match is None:
            raise UserInputError(f"a constraint is METRIC<=NUMBER (or >=, <, >), e.g. 'latency_ms<=2.0'; "
                                 f"got {text!r}")
        metric, op, number = match.groups()
        get(metric)
        try:
            bound = float(number.replace("_", ""))
        except ValueError:
            raise UserInputError(f"the bound of constraint {text!r} is not a number") from None
        return cls(metric, op, bound)

    def __str__(self) -> str:
        return f"{self.metric}{self.op}{self.bound:.15g}"

    def value(self, metrics: Mapping[str, float]) -> float | None:
        return get(self.metric).value(metrics)

    def satisfied(self, metrics: Mapping[str, float]) -> bool | None:
        """True or False, or None when ``metrics`` do not hold the metric (not checkable yet)."""
        value = self.value(metrics)
        return None if value is None else _OPS[self.op](value, self.bound)

    def violation(self, metrics: Mapping[str, float]) -> str | None:
        """Why ``metrics`` break this constraint (one phrase), or None if they meet it or cannot tell."""
        if self.satisfied(metrics) is False:
            return f"{self.metric}={self.value(metrics):.6g} breaks {self}"
        return None


def parse_constraints(texts: Iterable[str]) -> tuple[Constraint, ...]:
    return tuple(Constraint.parse(t) for t in texts)


def violations(constraints: Iterable[Constraint], metrics: Mapping[str, float]) -> list[str]:
    """Every constraint ``metrics`` break, as phrases (empty when all met or not checkable)."""
    return [v for c in constraints if (v := c.violation(metrics)) is not None]


__all__ = ["MAXIMIZE", "MINIMIZE", "Constraint", "Objective", "REGISTRY", "check_objectives", "get", "names",
           "oriented", "parse_constraints", "register", "violations"]
