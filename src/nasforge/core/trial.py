"""What a study asks (a TrialRequest: an Arch at a Fidelity) and what comes back
(a Result with a TrialStatus). Plain values: no torch, no storage."""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass, field
from typing import Any

from .arch import Arch
from .checks import check_float, check_int


class TrialStatus(enum.StrEnum):
    """The one vocabulary of trial states. Values are the strings stored in
    study files, so files written before this enum existed open unchanged."""

    OK = "ok"
    FAILED = "failed"
    PRUNED = "pruned"
    RUNNING = "running"
    INTERRUPTED = "interrupted"


FINISHED = (TrialStatus.OK, TrialStatus.FAILED, TrialStatus.PRUNED)


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
        check_int(None, "epochs", self.epochs, low=1, kind="fidelity")
        check_float(None, "subset", self.subset, 0.0, 1.0, open_low=True, kind="fidelity", want="a fraction in (0, 1]")
        check_float(None, "width_multiplier", self.width_multiplier, 0.0, 4.0, open_low=True, kind="fidelity",
                    want="in (0, 4]")
        if self.seconds is not None:
            check_float(None, "seconds", self.seconds, 0.0, open_low=True, kind="fidelity", want="a positive number")

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

    status: str = TrialStatus.OK
    metrics: dict[str, float] = field(default_factory=dict)
    curve: list[dict[str, float]] = field(default_factory=list)
    fidelity: dict[str, Any] = field(default_factory=dict)
    cost_s: float = 0.0
    error: str | None = None

    def __post_init__(self):
        self.status = TrialStatus(self.status)

    @property
    def ok(self) -> bool:
        return self.status == TrialStatus.OK


class TrialPruned(Exception):
    """Raised from an ``on_epoch`` callback to stop a trial early (a pruner decided it cannot win).

    The estimator that trains catches it and returns a ``TrialStatus.PRUNED``
    result with the curve so far, charged only the epochs it ran; ``reason``
    becomes the result's ``error`` text, so the study file says why."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def pruned_result(exc: TrialPruned, curve: list[dict[str, float]], fidelity: dict[str, Any],
                  cost_s: float, metrics: dict[str, float] | None = None) -> Result:
    """The result of a trial stopped by ``exc`` after ``curve`` (its last point's metrics, unless
    ``metrics`` are given; ``pruned_at_epoch`` added)."""
    last = dict(curve[-1]) if curve else {}
    out = {k: float(v) for k, v in (metrics if metrics is not None else last).items()
           if isinstance(v, (int, float)) and k != "epoch"}
    out["pruned_at_epoch"] = float(last.get("epoch", 0))
    return Result(TrialStatus.PRUNED, out, list(curve), fidelity, cost_s, f"pruned: {exc.reason}")


@dataclass(frozen=True)
class TrialRequest:
    """What a strategy asks to be evaluated: an architecture, optionally at a
    fidelity the strategy chose (``None`` = the study's default), plus
    strategy-private bookkeeping in ``meta``."""

    arch: Arch
    fidelity: dict[str, Any] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
