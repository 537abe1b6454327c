"""Pareto fronts: non-dominated sorting, crowding distance and hypervolume.

Every function takes points in *minimisation form* (an ``(n, m)`` array,
smaller is better in every column; see :func:`~nasforge.core.objectives.oriented`).

- :func:`non_dominated_sort`: the fronts of Deb et al. 2002 (NSGA-II),
  front 0 being the non-dominated points.
- :func:`crowding_distance`: NSGA-II's density estimate inside one front
  (boundary points get infinity).
- :func:`hypervolume`: the volume dominated by the points and bounded by a
  reference point; exact. Two objectives: one sweep after sorting,
  O(n log n). Three or more: "hypervolume by slicing objectives" (While et
  al. 2006): sort by the last objective, and sum over slices the
  (m-1)-dimensional hypervolume of the points inside each slice times the
  slice's thickness, recursively down to the 2-D sweep. Exponential in m in
  the worst case, fast for the few objectives and few hundred points of a
  study. Tested against inclusion-exclusion on random sets.

Reference point policy (:func:`reference_point`): hypervolumes are only
comparable under one fixed reference point. A benchmark with a table uses
the table's worst value of each objective (the nadir of the whole space),
after scaling every objective to [0, 1] by the table's best and worst
values (:func:`normalize`), so the reference is (1, ..., 1) and the true
front's hypervolume is a number below 1. A study without a table uses, for
each objective, its worst value among the study's successful trials plus
10% of that objective's range (so the extreme points of the front still add
volume); points beyond the reference add nothing.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def _as_points(points) -> np.ndarray:
    p = np.asarray(points, dtype=np.float64)
    if p.ndim != 2:
        p = p.reshape(len(p), -1) if p.size else np.zeros((0, 1))
    return p


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """``a`` is no worse than ``b`` in every objective and better in one."""
    a, b = np.asarray(a), np.asarray(b)
    return bool(np.all(a <= b) and np.any(a < b))


def non_dominated_sort(points) -> list[list[int]]:
    """Indices of ``points`` by front: front 0 is non-dominated, front k is non-dominated once
    fronts < k are removed. Equal points share a front. O(m n^2), Deb et al.'s fast sort."""
    p = _as_points(points)
    n = len(p)
    if n == 0:
        return []
    le = np.all(p[:, None, :] <= p[None, :, :], axis=2)
    lt = np.any(p[:, None, :] < p[None, :, :], axis=2)
    dom = le & lt  # dom[i, j]: i dominates j
    count = dom.sum(axis=0)  # how many dominate j
    fronts, current = [], [int(i) for i in np.flatnonzero(count == 0)]
    while current:
        fronts.append(current)
        nxt = []
        for i in current:
            for j in np.flatnonzero(dom[i]):
                count[j] -= 1
                if count[j] == 0:
                    nxt.append(int(j))
        current = sorted(nxt)
    return fronts


def non_dominated(points) -> list[int]:
    """Indices of the non-dominated points (front 0), in input order."""
    fronts = non_dominated_sort(points)
    return fronts[0] if fronts else []


def crowding_distance(points) -> np.ndarray:
    """NSGA-II crowding distance of each point of one front: per objective, the gap between
    its two neighbours divided by the objective's range, summed; boundary points infinite.
    An objective with zero range adds nothing."""
    p = _as_points(points)
    n, m = p.shape
    dist = np.zeros(n)
    if n <= 2:
        dist[:] = np.inf
        return dist
    for k in range(m):
        order = np.argsort(p[:, k], kind="stable")
        span = p[order[-1], k] - p[order[0], k]
        dist[order[0]] = dist[order[-1]] = np.inf
        if span <= 0:
            continue
        dist[order[1:-1]] += (p[order[2:], k] - p[order[:-2], k]) / span
    return dist


def rank_and_crowding(points) -> tuple[np.ndarray, np.ndarray]:
    """Each point's front index and its crowding distance within that front."""
    p = _as_points(points)
    rank, crowd = np.zeros(len(p), dtype=int), np.zeros(len(p))
    for r, front in enumerate(non_dominated_sort(p)):
        rank[front] = r
        crowd[front] = crowding_distance(p[front])
    return rank, crowd


def select_best(points, k: int) -> list[int]:
    """NSGA-II environmental selection: ``k`` indices, whole fronts first, the last front cut by
    descending crowding distance (ties by index, so the choice is deterministic)."""
    p = _as_points(points)
    chosen: list[int] = []
    for front in non_dominated_sort(p):
        if len(chosen) + len(front) <= k:
            chosen.extend(front)
            continue
        crowd = crowding_distance(p[front])
        order = sorted(range(len(front)), key=lambda i: (-crowd[i], front[i]))
        chosen.extend(front[i] for i in order[: k - len(chosen)])
        break
    return chosen


def _hv2(p: np.ndarray, ref: np.ndarray) -> float:
    """2-D hypervolume by one sweep over the points sorted by the first objective."""
    p = p[np.lexsort((p[:, 1], p[:, 0]))]
    volume, best_y = 0.0, ref[1]
    for x, y in p:
        if y < best_y:
            volume += (ref[0] - x) * (best_y - y)
            best_y = y
    return volume


def _hv(p: np.ndarray, ref: np.ndarray) -> float:
    if len(p) == 0:
        return 0.0
    m = p.shape[1]
    if m == 1:
        return float(ref[0] - p[:, 0].min())
    if m == 2:
        return _hv2(p, ref)
    p = p[np.argsort(p[:, -1], kind="stable")]
    volume = 0.0
    for i in range(len(p)):
        upper = p[i + 1, -1] if i + 1 < len(p) else ref[-1]
        depth = upper - p[i, -1]
        if depth > 0:
            volume += depth * _hv(p[: i + 1, :-1], ref[:-1])
    return volume


def hypervolume(points, reference: Sequence[float]) -> float:
    """The volume dominated by ``points`` (minimisation form) and bounded by ``reference``.
    Points not strictly better than the reference in every objective add nothing."""
    p, ref = _as_points(points), np.asarray(reference, dtype=np.float64)
    if len(p) == 0:
        return 0.0
    if p.shape[1] != len(ref):
        raise ValueError(f"points have {p.shape[1]} objectives but the reference point has {len(ref)}")
    p = p[np.all(p < ref, axis=1)]
    if len(p) == 0:
        return 0.0
    p = p[non_dominated(p)]
    return float(_hv(p, ref))


def reference_point(points, margin: float = 0.1) -> np.ndarray:
    """The study policy: per objective, the worst value plus ``margin`` of its range (or of its
    magnitude, or 1, when the range is zero)."""
    p = _as_points(points)
    worst, best = p.max(axis=0), p.min(axis=0)
    span = worst - best
    span = np.where(span > 0, span, np.where(np.abs(worst) > 0, np.abs(worst), 1.0))
    return worst + margin * span


def normalize(points, best: Sequence[float], worst: Sequence[float]) -> np.ndarray:
    """Scale each objective to [0, 1] between ``best`` (0) and ``worst`` (1), e.g. a table's
    extremes, so hypervolumes of different units compare (the benchmark policy)."""
    best, worst = np.asarray(best, dtype=np.float64), np.asarray(worst, dtype=np.float64)
    span = np.where(worst > best, worst - best, 1.0)
    return (_as_points(points) - best) / span


def hypervolume_history(points, reference: Sequence[float]) -> np.ndarray:
    """Hypervolume of the first k points, for k = 1..n (points in the order they were found).
    Recomputed only when a point improves the front, so a long history stays cheap."""
    p, ref = _as_points(points), np.asarray(reference, dtype=np.float64)
    out = np.zeros(len(p))
    front = np.zeros((0, p.shape[1] if p.size else len(ref)))
    volume = 0.0
    for i, x in enumerate(p):
        inside = bool(np.all(x < ref))
        if inside and not any(np.all(f <= x) for f in front):
            front = np.vstack([front[~np.all(x <= front, axis=1)], x])
            volume = float(_hv(front, ref))
        out[i] = volume
    return out


def pareto_front_2d(gain: np.ndarray, cost: np.ndarray) -> np.ndarray:
    """The 2-D front in O(n log n), for plots of tens of thousands of trials: indices of the
    points no other point beats on both ``gain`` (higher is better) and ``cost`` (lower is
    better), cheapest first; NaN points never belong to it. Of exact ties, the first is kept."""
    ok = np.flatnonzero(np.isfinite(gain) & np.isfinite(cost))
    order = ok[np.lexsort((ok, -gain[ok], cost[ok]))]  # cheapest first; at equal cost the best gain first
    g = gain[order]
    before = np.concatenate([[-np.inf], np.maximum.accumulate(g)[:-1]]) if len(g) else g
    return order[g > before].astype(np.int64)  # better than every cheaper (or equally cheap, earlier) point


__all__ = ["crowding_distance", "pareto_front_2d", "dominates", "hypervolume", "hypervolume_history", "non_dominated",
           "non_dominated_sort", "normalize", "rank_and_crowding", "reference_point", "select_best"]
