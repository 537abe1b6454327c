"""Predictive early stopping: stop a trial whose learning curve will probably not beat the incumbent.

At each epoch end a trial's validation curve so far goes to a learning-curve predictor
(the LC-PFN, the parametric ensemble, ...), which returns a distribution over its value at
the last epoch. If the probability that it ends above the incumbent (the best trial
finished at the full horizon) is below ``threshold``, the trial stops as
``TrialStatus.PRUNED`` with the reason stored. This is the early-stopping rule of Domhan et
al. (2015) and of LC-PFN (Adriaensen et al. 2023), usable by any strategy: the study hands
each trial an :class:`EpochWatch` as its ``on_epoch`` callback (in the study's process or
sent to a worker), and every estimator that reports epochs can be stopped by it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..core import Registry, TrialPruned, check_float, check_int
from ._curve_models import LastValue, ParametricEnsemble, TwoPointPowerLaw

PREDICTORS: Registry[Any] = Registry("curve predictor")


@PREDICTORS.register("pfn", "a small prior-fitted transformer trained on synthetic curves (LC-PFN idea)")
def _pfn():
    from ._lc_pfn import LCPFN  # torch: only when asked for

    return LCPFN()


PREDICTORS.register("parametric", "an ensemble of Domhan et al.'s curve families fit by least squares")(
    ParametricEnsemble)
PREDICTORS.register("last", "the last value seen (baseline, no uncertainty)")(LastValue)
PREDICTORS.register("power-law", "auto's two-point power law in time (no uncertainty)")(TwoPointPowerLaw)

_LOADED: dict[str, Any] = {}  # one predictor per name per process: the PFN's weights load once


def curve_predictor(name: str):
    """The registered learning-curve predictor ``name`` (shared within this process)."""
    if name not in _LOADED:
        _LOADED[name] = PREDICTORS.factory(name)()
    return _LOADED[name]


@dataclass(frozen=True)
class PredictivePruner:
    """Stops a trial when P(its final ``metric`` > incumbent) < ``threshold``, checked at epoch
    ends from the ``min_epochs``-th on (and not before the predictor's own ``min_points``:
    three for the parametric ensemble, whose families have three or four parameters), with
    the learning-curve ``predictor`` named."""

    threshold: float = 0.05
    predictor: str = "pfn"
    min_epochs: int = 1
    metric: str = "val_accuracy"

    def __post_init__(self):
        check_float("PredictivePruner", "threshold", self.threshold, 0.0, 1.0, open_low=True,
                    want="a probability in (0, 1]")
        check_int("PredictivePruner", "min_epochs", self.min_epochs, low=1)
        PREDICTORS.factory(self.predictor)  # an unknown name fails now, with close matches

    def config(self) -> dict[str, Any]:
        return {"threshold": self.threshold, "predictor": self.predictor, "min_epochs": self.min_epochs}

    def watch(self, horizon: int, incumbent: float | None) -> EpochWatch:
        """The ``on_epoch`` callback of one trial that will train for ``horizon`` epochs."""
        return EpochWatch(self, horizon, incumbent)


@dataclass
class EpochWatch:
    """One trial's ``on_epoch`` callback: remembers the curve, raises :class:`TrialPruned`
    when the pruner's rule says stop. Plain data, so it travels to worker processes."""

    pruner: PredictivePruner
    horizon: int
    incumbent: float | None
    seen: list[float] = field(default_factory=list)

    def __call__(self, point: dict) -> None:
        value = point.get(self.pruner.metric)
        if value is None:
            return
        self.seen.append(float(value))
        epoch = int(point.get("epoch", len(self.seen)))  # a table's single final point says its epoch
        predictor = curve_predictor(self.pruner.predictor)
        least = max(self.pruner.min_epochs, getattr(predictor, "min_points", 1))
        if self.incumbent is None or len(self.seen) < least or epoch >= self.horizon:
            return
        forecast = predictor.predict([self.seen], self.horizon)
        chance = float(forecast.prob_above(self.incumbent)[0])
        if chance < self.pruner.threshold:
            raise TrialPruned(f"after epoch {epoch} of {self.horizon}, P({self.pruner.metric} at epoch "
                              f"{self.horizon} > incumbent {self.incumbent:.4f}) = {chance:.3f} < "
                              f"{self.pruner.threshold:g} ({self.pruner.predictor} predicts "
                              f"{float(forecast.mean[0]):.4f})")


PRUNERS: Registry[PredictivePruner] = Registry("pruner")
PRUNERS.register("predictive", "stop a trial whose predicted chance of beating the incumbent is below a "
                               "threshold")(PredictivePruner)


def make_pruner(name: str, **options: Any) -> PredictivePruner:
    """The registered pruner ``name`` built with ``options``."""
    return PRUNERS.factory(name)(**options)

