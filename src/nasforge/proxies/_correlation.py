"""Rank correlations of proxy scores with accuracies (numpy only: the CLI reports them
without scipy). Ties get average ranks; -inf scores rank lowest."""

from __future__ import annotations

import numpy as np


def ranks(values) -> np.ndarray:
    """Ranks 1..n of ``values``, ties averaged."""
    x = np.asarray(values, dtype=float)
    order = np.argsort(x, kind="mergesort")
    sorted_x = x[order]
    r = np.empty(len(x))
    start = 0
    for end in range(1, len(x) + 1):
        if end == len(x) or sorted_x[end] != sorted_x[start]:
            r[order[start:end]] = (start + end + 1) / 2.0
            start = end
    return r


def spearman(a, b) -> float:
    """Spearman's rho: the Pearson correlation of the ranks (NaN when either side is constant)."""
    ra, rb = ranks(a), ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = np.sqrt((ra ** 2).sum() * (rb ** 2).sum())
    return float((ra * rb).sum() / denom) if denom > 0 else float("nan")


def _signs(rest: np.ndarray, value: float) -> np.ndarray:
    """-1, 0, 1 for each of ``rest`` below, equal to, above ``value`` (-inf equals -inf)."""
    return (rest > value).astype(np.int8) - (rest < value).astype(np.int8)


def kendall(a, b) -> float:
    """Kendall's tau-b (ties in either variable handled as scipy does); O(n) memory, n^2 time."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    concordant = discordant = ties_a = ties_b = 0
    for i in range(len(a) - 1):  # row by row: n^2 pairs without an n x n matrix
        da, db = _signs(a[i + 1:], a[i]), _signs(b[i + 1:], b[i])
        prod = da * db
        concordant += int((prod > 0).sum())
        discordant += int((prod < 0).sum())
        ties_a += int(((da == 0) & (db != 0)).sum())
        ties_b += int(((db == 0) & (da != 0)).sum())
    denom = np.sqrt((concordant + discordant + ties_a) * (concordant + discordant + ties_b))
    return float((concordant - discordant) / denom) if denom > 0 else float("nan")


__all__ = ["kendall", "ranks", "spearman"]
