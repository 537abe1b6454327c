"""Small numpy statistics the predictors and their users share: the normal CDF/PDF/quantile,
Gaussian rank scores for skewed targets, rank correlations (Kendall tau, Spearman) to judge a
predictor, and a scope that keeps the linear algebra of small fits on one thread."""

from __future__ import annotations

import contextlib
import math

import numpy as np


def single_threaded_blas(user_api: str | None = "blas"):
    """Run the small linear algebra of a surrogate on one thread (scoped, restored afterwards):
    on matrices of a few hundred rows threads only add overhead, and on a busy machine they
    thrash (a 200-point GP fit took 10x longer with OpenBLAS threads). ``user_api=None`` also
    limits OpenMP (scikit-learn's gradient boosting). Uses ``threadpoolctl`` where installed
    (it comes with scikit-learn), else does nothing."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        return contextlib.nullcontext()
    return threadpool_limits(limits=1, user_api=user_api)


_erf = np.frompyfunc(math.erf, 1, 1)


def normal_cdf(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + _erf(np.asarray(z, dtype=np.float64) / math.sqrt(2.0)).astype(np.float64))


def normal_pdf(z: np.ndarray) -> np.ndarray:
    return np.exp(-0.5 * z * z) / math.sqrt(2.0 * math.pi)


def normal_quantile(p: np.ndarray) -> np.ndarray:
    """Inverse of :func:`normal_cdf` by Newton's method (monotone from z = 0, as the CDF is
    concave above zero and convex below)."""
    p = np.asarray(p, dtype=np.float64)
    z = np.zeros_like(p)
    for _ in range(50):
        step = (normal_cdf(z) - p) / normal_pdf(z)
        z -= step
        if np.abs(step).max() < 1e-10:
            break
    return z


def average_ranks(y: np.ndarray) -> np.ndarray:
    """0-based ranks of ``y``; ties share their mean rank."""
    y = np.asarray(y, dtype=np.float64)
    ordered = np.sort(y)
    return (np.searchsorted(ordered, y, "left") + np.searchsorted(ordered, y, "right") - 1) / 2.0


def gaussian_ranks(y: np.ndarray) -> np.ndarray:
    """Scores replaced by normal quantiles of their ranks (ties share their mean rank): a surrogate
    fitted to these is not dominated by a few disastrous architectures (NB201 has accuracies of 10%)."""
    return normal_quantile((average_ranks(y) + 0.5) / len(y))


def kendall_tau(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall's tau-b of two score vectors (ties counted as neither concordant nor discordant,
    normalised by the untied pairs of each), O(n^2) memory: meant for a few thousand items."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.shape != b.shape or a.ndim != 1 or len(a) < 2:
        raise ValueError(f"kendall_tau needs two 1-D arrays of the same length >= 2, got {a.shape} and {b.shape}")
    iu = np.triu_indices(len(a), 1)
    sa = np.sign(a[:, None] - a[None, :])[iu]
    sb = np.sign(b[:, None] - b[None, :])[iu]
    denom = math.sqrt(float(np.count_nonzero(sa)) * float(np.count_nonzero(sb)))
    return float((sa * sb).sum() / denom) if denom else 0.0


def spearman(a: np.ndarray, b: np.ndarray) -> float:
    """Spearman's rank correlation: Pearson's correlation of the (tie-averaged) ranks."""
    ra, rb = average_ranks(a), average_ranks(b)
    ra, rb = ra - ra.mean(), rb - rb.mean()
    denom = math.sqrt(float((ra * ra).sum() * (rb * rb).sum()))
    return float((ra * rb).sum() / denom) if denom else 0.0
