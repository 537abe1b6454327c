"""The numbers behind the pictures: Pareto fronts, best-so-far, decision importance, sampling, failures.

Pure numpy over a :class:`~nasforge.report._view.StudyView`'s columns, so
each is cheap at 50,000 trials and testable without drawing anything.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass

import numpy as np

from ..core.pareto import pareto_front_2d

from ..core import TrialStatus

SAMPLE_LIMIT = 2000  # points drawn per scatter at most (see sample_rows)
IMPORTANCE_BINS = 10  # numeric decisions with more distinct values are binned into deciles

IMPORTANCE_METHOD = (
    "Importance of a decision = the share of the variance of the objective, over the successful trials, that "
    "the decision's value alone explains (η², the correlation ratio of a one-way ANOVA: the main-effect term of "
    "an fANOVA decomposition, computed on the observed trials rather than on a fitted model). Numeric decisions "
    f"with more than {IMPORTANCE_BINS} distinct values are binned into deciles. A decision with k values that "
    "does not matter still scores (k−1)/(n−1) on average: that chance level is listed beside it. Decisions "
    "interact, and strategies sample good values more often, so read it as a summary, not as causation.")


def best_so_far(values: np.ndarray) -> np.ndarray:
    """The running maximum of ``values`` (NaN where nothing finite has come yet)."""
    filled = np.where(np.isfinite(values), values, -np.inf)
    running = np.maximum.accumulate(filled) if len(filled) else filled
    return np.where(np.isfinite(running), running, np.nan)


def improvements(values: np.ndarray) -> np.ndarray:
    """Positions where the best-so-far of ``values`` rises: a step line through them is exact and short."""
    running = best_so_far(values)
    if not len(running):
        return np.array([], dtype=np.int64)
    previous = np.concatenate([[-np.inf], np.where(np.isfinite(running), running, -np.inf)[:-1]])
    return np.flatnonzero(np.isfinite(running) & (running > previous))


def sample_rows(rows: np.ndarray, limit: int = SAMPLE_LIMIT, keep=(), seed: int = 0) -> np.ndarray:
    """At most ``limit`` of ``rows`` drawn uniformly at random (a fixed seed, so pictures do not flicker),
    plus every row in ``keep`` (the front, the best): sorted. All of them when there are few."""
    rows = np.asarray(rows, dtype=np.int64)
    if len(rows) <= limit:
        return rows
    chosen = np.random.default_rng(seed).choice(rows, size=limit, replace=False)
    return np.unique(np.concatenate([chosen, np.asarray(list(keep), dtype=np.int64)]))


@dataclass
class Importance:
    decision: str
    eta2: float  # share of the objective's variance explained by this decision alone
    chance: float  # what a decision with as many values and no effect scores on average
    levels: int
    best_value: str  # the value with the highest mean objective (among values tried at least twice)
    best_mean: float
    best_count: int


def _value_key(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def _levels(values: list) -> tuple[np.ndarray, list[str]]:
    """Each value's group and the group labels: decile bins for many numbers, else one group per value."""
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    if numeric and len(set(values)) > IMPORTANCE_BINS:
        x = np.asarray(values, dtype=float)
        edges = np.unique(np.quantile(x, np.linspace(0, 1, IMPORTANCE_BINS + 1)))
        groups = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(edges) - 2)
        labels = [f"{edges[i]:.4g}–{edges[i + 1]:.4g}" for i in range(len(edges) - 1)]
        return groups, labels
    if numeric:
        distinct, groups = np.unique(np.asarray(values, dtype=float), return_inverse=True)
        labels = {_value_key(v): v for v in values}  # the values as written (3, not 3.0)
        by_number = {float(v): k for k, v in labels.items()}
        return groups, [by_number[float(d)] for d in distinct]
    keys = np.array([_value_key(v) for v in values], dtype=object)
    distinct, groups = np.unique(keys, return_inverse=True)
    return groups, [str(d) for d in distinct]


def decision_importance(decisions: list[dict], y: np.ndarray) -> list[Importance]:
    """η² of every decision over trials with decisions ``decisions`` and objective ``y``, most important first.
    A decision some architectures lack (a conditional one) counts '(absent)' as one of its values."""
    n = len(y)
    total = float(np.sum((y - y.mean()) ** 2)) if n else 0.0
    if n < 3 or total <= 0:
        return []
    names = sorted({k for d in decisions for k in d})
    out = []
    for name in names:
        values = [d.get(name, "(absent)") for d in decisions]
        groups, labels = _levels(values)
        k = len(labels)
        if k < 2:
            continue
        counts = np.bincount(groups, minlength=k)
        means = np.bincount(groups, weights=y, minlength=k) / np.maximum(counts, 1)
        eta2 = float(np.sum(counts * (means - y.mean()) ** 2) / total)
        tried = np.flatnonzero(counts >= 2) if np.any(counts >= 2) else np.flatnonzero(counts)
        top = int(tried[np.argmax(means[tried])])
        out.append(Importance(name, eta2, (k - 1) / (n - 1), k, labels[top], float(means[top]), int(counts[top])))
    return sorted(out, key=lambda imp: -imp.eta2)


def first_line(error: str | None) -> str:
    """A failure's reason: the last line of a traceback (where the exception is named), else the first."""
    lines = [line.strip() for line in (error or "").strip().splitlines() if line.strip()]
    if not lines:
        return "no error text was recorded"
    return lines[-1] if lines[0].startswith("Traceback") else lines[0]


def failure_reasons(view) -> list[tuple[str, int, list[int]]]:
    """Failed (and interrupted) trials grouped by reason: (reason, count, trial ids), commonest first."""
    groups: dict[str, list[int]] = {}
    for t in view.records:
        if t.status in (TrialStatus.FAILED, TrialStatus.INTERRUPTED):
            groups.setdefault(f"{t.status}: {first_line(t.error)}", []).append(t.id)
    counts = Counter({k: len(v) for k, v in groups.items()})
    return [(reason, count, groups[reason]) for reason, count in counts.most_common()]
