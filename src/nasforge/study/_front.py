"""The Pareto front of a study's trials and its hypervolume over time.

Successful trials are compared on the study's objectives (in minimisation form,
see :mod:`nasforge.core.objectives`). The reference point follows the policy in
:mod:`nasforge.core.pareto`: unless one is given, each objective's worst value among
the study's successful trials plus 10% of its range.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..core import TrialStatus
from ..core.objectives import oriented
from ..core.pareto import hypervolume, hypervolume_history, non_dominated, reference_point
from ._storage import TrialRecord


def scored(trials: Sequence[TrialRecord], objectives: Sequence[str]) -> tuple[list[TrialRecord], np.ndarray]:
    """The successful trials with every objective, in id order, and their minimisation-form values."""
    keep, rows = [], []
    for t in sorted(trials, key=lambda t: t.id):
        values = oriented(t.metrics, objectives) if t.status == TrialStatus.OK else None
        if values is not None:
            keep.append(t)
            rows.append(values)
    return keep, np.array(rows, dtype=np.float64).reshape(len(rows), len(objectives))


def pareto_trials(trials: Sequence[TrialRecord], objectives: Sequence[str]) -> list[TrialRecord]:
    """The non-dominated successful trials, in id order."""
    keep, values = scored(trials, objectives)
    return [keep[i] for i in sorted(non_dominated(values))] if keep else []


def study_reference(trials: Sequence[TrialRecord], objectives: Sequence[str]) -> np.ndarray | None:
    """The default reference point (minimisation form) for ``trials``, or None without a successful one."""
    _, values = scored(trials, objectives)
    return reference_point(values) if len(values) else None


def front_hypervolume(trials: Sequence[TrialRecord], objectives: Sequence[str],
                      reference: Sequence[float] | None = None) -> float:
    keep, values = scored(trials, objectives)
    if not keep:
        return 0.0
    return hypervolume(values, reference if reference is not None else reference_point(values))


def hypervolume_by_trial(trials: Sequence[TrialRecord], objectives: Sequence[str],
                         reference: Sequence[float] | None = None) -> list[tuple[int, float]]:
    """(trial id, hypervolume of the successful trials up to it), one pair per successful trial,
    all under one reference point, so the curve shows the search's progress."""
    keep, values = scored(trials, objectives)
    if not keep:
        return []
    ref = reference if reference is not None else reference_point(values)
    return [(t.id, float(h)) for t, h in zip(keep, hypervolume_history(values, ref))]


__all__ = ["front_hypervolume", "hypervolume_by_trial", "pareto_trials", "scored", "study_reference"]
