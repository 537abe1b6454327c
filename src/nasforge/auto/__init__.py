"""``nasforge auto``: the best model for a data set within a wall-clock budget.

One call loads the data, searches with time-equalised successive halving
(every candidate of a rung trains for the same number of *seconds*, so the
ranking rewards what an architecture learns per second, which is what the
final training will buy with its time), retrains the winner on
train+validation with a learning-rate schedule that ends exactly at the
deadline, tests it once, and writes the model (PyTorch + ONNX), a JSON
summary and a Markdown report. Everything, data loading included, fits in
the budget; the study file keeps every trial, so a killed run resumes its
search by running the same command again.

>>> summary = nasforge.auto("digits", time_budget=60, out="runs/digits")  # doctest: +SKIP
>>> summary["test_accuracy"]  # doctest: +SKIP

The steps live in modules named for them: ``plan`` (argument checks, budget
split, deadline), ``threads``, ``search``, ``select`` (winner, augmentation),
``final`` (training until the deadline), ``report``; ``job.auto`` runs them
in order.
"""

import sys
import types

from .final import CHUNK_SECONDS, DECAY_SHARE, MIN_FINAL_SECONDS, continue_until, train_until_deadline, wrap_up_seconds
from .baselines import compare, fit_baselines
from .calibration import correction, prediction
from .job import auto
from .limits import LimitedEstimator, Limits
from .load import TrainingConditions
from .plan import (AUGMENT_MODES, ETA, LONG_SEARCH_S, MIN_RUNG_SECONDS, RUNG0_SHARE, RUNG_MODES, RUNGS,
                   SEARCH_FRACTION, SEARCHES, WRAP_UP_GUESS, AutoPlan, Deadline, make_plan)
from .report import pareto_front, report_markdown
from .search import MIN_SUBSET_SAMPLES, RECIPES, SEARCH_VAL_SAMPLES, default_space
from .select import MIRROR_KEEP, Choice, choose, choose_augment, extrapolated_ranking, format_looks, mirror_test
from .threads import fastest_thread_count

__all__ = ["LimitedEstimator", "Limits", "RECIPES", "TrainingConditions", "compare", "correction", "default_space",
           "fit_baselines", "prediction", "AUGMENT_MODES", "CHUNK_SECONDS", "DECAY_SHARE", "ETA", "MIN_FINAL_SECONDS", "MIN_RUNG_SECONDS",
           "LONG_SEARCH_S", "MIN_SUBSET_SAMPLES", "MIRROR_KEEP", "RUNG0_SHARE", "RUNGS", "RUNG_MODES", "SEARCHES",
           "SEARCH_FRACTION",
           "SEARCH_VAL_SAMPLES", "WRAP_UP_GUESS", "AutoPlan", "Choice", "Deadline", "auto", "choose",
           "choose_augment", "continue_until", "extrapolated_ranking", "fastest_thread_count", "format_looks",
           "make_plan", "mirror_test", "pareto_front", "report_markdown", "train_until_deadline", "wrap_up_seconds"]


class _CallableModule(types.ModuleType):
    """Importing this package makes ``nasforge.auto`` the package itself (Python sets a package's
    submodules as its attributes), so calling it must still run :func:`auto`: ``nasforge.auto(...)``
    is the public API from before the package existed."""

    def __call__(self, *args, **kwargs):
        return auto(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
