"""What every learning-curve predictor returns: a predictive distribution of each curve's
final accuracy, as probabilities over fixed bins of [0, 1] (a "bar distribution", the
output form of LC-PFN, Adriaensen et al. 2023). One form for every predictor, so the
pruner and the benchmark ask them all the same questions. Numpy only.
"""

from __future__ import annotations

import math

import numpy as np

BINS = 200  # bins of width 0.005 over [0, 1]
EDGES = np.linspace(0.0, 1.0, BINS + 1)
MIDS = (EDGES[:-1] + EDGES[1:]) / 2


def normal_cdf(x: np.ndarray) -> np.ndarray:
    """The standard normal CDF, elementwise (numpy has no ``erf``): Abramowitz and Stegun
    7.1.26, absolute error below 1.5e-7."""
    z = np.asarray(x, float) / math.sqrt(2.0)
    t = 1.0 / (1.0 + 0.3275911 * np.abs(z))
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    erf = 1.0 - poly * np.exp(-z * z)
    return 0.5 * (1.0 + np.sign(z) * erf)


class Forecast:
    """Predictive distributions of ``len(self)`` final accuracies: ``probs[i, k]`` is the
    probability that curve ``i`` ends in bin ``k`` of :data:`EDGES`."""

    def __init__(self, probs: np.ndarray):
        probs = np.clip(np.asarray(probs, float), 0.0, None)
        self.probs = probs / probs.sum(axis=1, keepdims=True)

    def __len__(self) -> int:
        return len(self.probs)

    @classmethod
    def point(cls, values) -> Forecast:
        """All mass on ``values`` (a predictor without uncertainty, such as the last seen value)."""
        values = np.clip(np.asarray(values, float), 0.0, 1.0 - 1e-9)
        probs = np.zeros((len(values), BINS))
        probs[np.arange(len(values)), np.minimum((values * BINS).astype(int), BINS - 1)] = 1.0
        out = cls(probs)
        out._exact = values
        return out

    @classmethod
    def normal_mixture(cls, means: np.ndarray, stds: np.ndarray, weights: np.ndarray | None = None) -> Forecast:
        """Mixtures of normals (``(curves, components)`` arrays), cut to [0, 1] and binned."""
        means, stds = np.atleast_2d(means), np.maximum(np.atleast_2d(stds), 1e-4)
        weights = np.ones_like(means) if weights is None else np.atleast_2d(weights)
        weights = weights / weights.sum(axis=1, keepdims=True)
        cdf = normal_cdf((EDGES[None, None, :] - means[..., None]) / stds[..., None])  # (B, C, K+1)
        cdf[..., 0], cdf[..., -1] = 0.0, 1.0  # mass beyond [0, 1] goes to the end bins
        probs = np.einsum("bc,bck->bk", weights, np.diff(cdf, axis=-1))
        return cls(probs + 1e-12)

    @property
    def mean(self) -> np.ndarray:
        exact = getattr(self, "_exact", None)
        return exact if exact is not None else self.probs @ MIDS

    @property
    def std(self) -> np.ndarray:
        return np.sqrt(np.maximum(self.probs @ MIDS ** 2 - (self.probs @ MIDS) ** 2, 0.0))

    def cdf(self, x) -> np.ndarray:
        """P(final <= x) per curve, linear within a bin (``x`` a scalar or one value per curve)."""
        x = np.clip(np.broadcast_to(np.asarray(x, float), (len(self),)), 0.0, 1.0)
        cum = np.concatenate([np.zeros((len(self), 1)), np.cumsum(self.probs, axis=1)], axis=1)
        k = np.minimum((x * BINS).astype(int), BINS - 1)
        rows = np.arange(len(self))
        frac = x * BINS - k
        return cum[rows, k] + frac * self.probs[rows, k]

    def prob_above(self, x) -> np.ndarray:
        """P(final > x) per curve: the chance of beating an incumbent at ``x``."""
        return 1.0 - self.cdf(x)

    def quantile(self, q: float) -> np.ndarray:
        """The ``q`` quantile per curve (linear within a bin)."""
        cum = np.cumsum(self.probs, axis=1)
        k = np.array([min(int(np.searchsorted(row, q)), BINS - 1) for row in cum])
        rows = np.arange(len(self))
        below = cum[rows, k] - self.probs[rows, k]
        frac = np.clip((q - below) / np.maximum(self.probs[rows, k], 1e-12), 0.0, 1.0)
        return EDGES[k] + frac / BINS
