"""What an estimator is asked (an Arch at a fidelity) and what it answers (a Result)."""

from __future__ import annotations

import abc
import math
from dataclasses import asdict, dataclass, field
from typing import Any

from ..arch import Arch
from ..errors import UserInputError

OK, FAILED, PRUNED = "ok", "failed", "pruned"


@dataclass(frozen=True)
class Fidelity:
    """How cheaply to evaluate: training epochs, fraction of the training
    set, a width multiplier for narrow proxies of the network, and an
    optional time limit in seconds (then ``epochs`` is only an upper bound
    and every architecture gets the same training time: a time-equalised
    fidelity that ranks architectures by what they learn per second)."""

    epochs: int = 2
    subset: float = 1.0
    width_multiplier: float = 1.0
    seconds: float | None = None

    def __post_init__(self):
        if not isinstance(self.epochs, int) or isinstance(self.epochs, bool) or self.epochs < 1:
            raise UserInputError(f"The 'epochs' fidelity must be an int >= 1. Got {self.epochs!r} instead.")
        if not (isinstance(self.subset, (int, float)) and 0.0 < self.subset <= 1.0):
            raise UserInputError(f"The 'subset' fidelity must be a fraction in (0, 1]. Got {self.subset!r} instead.")
        if not (isinstance(self.width_multiplier, (int, float)) and 0.0 < self.width_multiplier <= 4.0
                and math.isfinite(self.width_multiplier)):
            raise UserInputError(
                f"The 'width_multiplier' fidelity must be in (0, 4]. Got {self.width_multiplier!r} instead.")
        if self.seconds is not None and not (isinstance(self.seconds, (int, float)) and self.seconds > 0
                                             and math.isfinite(self.seconds)):
            raise UserInputError(f"The 'seconds' fidelity must be a positive number. Got {self.seconds!r} instead.")

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        if d["seconds"] is None:  # studies written before time fidelities existed compare equal
            del d["seconds"]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any] | None) -> Fidelity:
        return cls(**(d or {}))


@dataclass
class Result:
    """The outcome of one evaluation. ``metrics`` holds at least
    ``val_accuracy`` when ``status`` is ok; ``curve`` is per-epoch."""

    status: str = OK
    metrics: dict[str, float] = field(default_factory=dict)
    curve: list[dict[str, float]] = field(default_factory=list)
    fidelity: dict[str, Any] = field(default_factory=dict)
    cost_s: float = 0.0
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == OK


class Estimator(abc.ABC):
    """Scores architectures. It never chooses what to evaluate."""

    objective: str = "val_accuracy"  # maximised

    @abc.abstractmethod
    def evaluate(self, arch: Arch, fidelity: Fidelity, seed: int, on_epoch=None) -> Result:
        """Evaluate ``arch`` at ``fidelity`` with ``seed`` (same seed, same result)."""

    def config(self) -> dict[str, Any]:
        return {}
