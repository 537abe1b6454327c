"""Gaussian-process Bayesian optimisation over architecture encodings.

The kernel is exponential in the L1 distance between encodings,
``k(a, b) = s2 * exp(-|x_a - x_b|_1 / lengthscale)``: on one-hot encodings the
L1 distance is twice the number of differing decisions, so this is the
exponentiated-Hamming (categorical overlap) kernel used for BO over
categorical inputs; ordinal and numeric decisions (scaled to [0, 1] by the
space's ``encode``) add their absolute difference. The lengthscale and the
noise-to-signal ratio are chosen on a small grid by maximising the marginal
likelihood with the signal variance profiled out (its optimum has a closed
form), so the fit is one eigendecomposition per lengthscale. Acquisition is
expected improvement (Jones et al. 1998) or an upper confidence bound
(Srinivas et al. 2010), optimised over mutations of the best architectures
plus random samples. Pending (asked, untold) architectures are added as
observations at their posterior mean ("kriging believer"), which shrinks
the uncertainty around them so parallel asks spread out. Pure numpy.
"""

from __future__ import annotations

import math

import numpy as np

from ..core import check_choice, check_float
from ._common import register
from ._predictor import PredictorStrategy, gaussian_ranks, normal_cdf, normal_pdf

LENGTHSCALES = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)  # multiples of the median pairwise distance
NOISE_RATIOS = (1e-3, 1e-2, 0.05, 0.2, 0.5)  # noise variance / signal variance


def l1_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a[:, None, :] - b[None, :, :]).sum(-1)


class GaussianProcess:
    """Zero-mean GP on standardised targets with the exponential-L1 kernel above.

    Each candidate lengthscale costs one eigendecomposition of the correlation
    matrix, after which the likelihood of every noise ratio is a sum over
    eigenvalues, and the posterior uses the same decomposition.
    """

    def fit(self, x: np.ndarray, y: np.ndarray, lengthscale: float | None = None,
            noise_ratio: float | None = None) -> GaussianProcess:
        """Fit; without ``lengthscale``/``noise_ratio``, choose them by marginal likelihood."""
        self.x = x
        self.y_mean, self.y_scale = float(y.mean()), float(y.std()) + 1e-12
        t = (y - self.y_mean) / self.y_scale
        d = l1_distances(x, x)
        if lengthscale is None or noise_ratio is None:
            positive = d[d > 0]
            unit = float(np.median(positive)) if positive.size else 1.0
            grid = [(ls * unit, nr) for ls in LENGTHSCALES for nr in NOISE_RATIOS]
        else:
            grid = [(lengthscale, noise_ratio)]
        best = None
        for ls in dict.fromkeys(ls for ls, _ in grid):
            eigvals, eigvecs = np.linalg.eigh(np.exp(-d / ls))
            proj = eigvecs.T @ t
            for nr in (nr for l, nr in grid if l == ls):
                shifted = eigvals + nr
                if shifted.min() <= 0:
                    continue
                signal = max(float((proj ** 2 / shifted).sum()) / len(t), 1e-12)  # the best variance, profiled
                loglik = -0.5 * len(t) * math.log(signal) - 0.5 * float(np.log(shifted).sum())
                if best is None or loglik > best[0]:
                    best = (loglik, ls, nr, signal, eigvals, eigvecs, proj)
        if best is None:
            raise np.linalg.LinAlgError("no kernel hyperparameters gave a positive-definite matrix")
        _, self.lengthscale, self.noise_ratio, self.signal, eigvals, self.eigvecs, proj = best
        self.inv_shifted = 1.0 / (eigvals + self.noise_ratio)
        self.alpha = self.eigvecs @ (proj * self.inv_shifted)
        return self

    def predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and standard deviation of the latent function, in target units."""
        k = np.exp(-l1_distances(x, self.x) / self.lengthscale)
        mean = k @ self.alpha
        proj = k @ self.eigvecs
        var = np.maximum(1.0 - (proj * proj * self.inv_shifted).sum(1), 1e-12) * self.signal
        return mean * self.y_scale + self.y_mean, np.sqrt(var) * self.y_scale


@register("gp-bo")
class GPBO(PredictorStrategy):
    """Bayesian optimisation with a Gaussian process on architecture encodings.

    Options (besides those of every predictor strategy: ``initial`` random
    trials, a pool of ``num_candidates`` candidates — mutations of the
    ``top_k`` best plus a ``random_fraction`` of random samples —, ``epsilon``
    = probability of a random proposal, and ``max_data`` kept observations,
    which bounds the cubic cost of the GP):

    - ``acquisition``: ``'ei'`` (expected improvement over the best observed
      score, default) or ``'ucb'`` (mean + ``beta`` x standard deviation).
    - ``beta``: exploration weight of UCB (ignored by EI).
    - ``xi``: EI's margin: improvement is counted above the incumbent + ``xi``
      (in standard-normal units of the rank-transformed scores; larger explores more).
    """

    name = "gp-bo"

    def __init__(self, space, seed=0, initial: int = 10, num_candidates: int = 150, top_k: int = 10,
                 random_fraction: float = 0.2, epsilon: float = 0.0, max_data: int = 400,
                 acquisition: str = "ei", beta: float = 2.0, xi: float = 0.0):
        super().__init__(space, seed, initial, num_candidates, top_k, random_fraction, epsilon, max_data)
        self.acquisition_name = check_choice(self.name, "acquisition", acquisition, ("ei", "ucb"))
        self.beta = check_float(self.name, "beta", beta, 0.0, 100.0)
        self.xi = check_float(self.name, "xi", xi, 0.0, 10.0)

    def config(self):
        return {**super().config(), "acquisition": self.acquisition_name, "beta": self.beta, "xi": self.xi}

    def fit(self) -> GaussianProcess:
        """The GP on the evaluated data (scores as :func:`gaussian_ranks`), plus pending
        architectures at their predicted mean."""
        x = self.encode_all([a for a, _ in self.data])
        y = gaussian_ranks(np.array([s for _, s in self.data]))
        gp = GaussianProcess().fit(x, y)
        if self.pending:
            xp = self.encode_all(list(self.pending.values()))
            believed, _ = gp.predict(xp)
            gp = GaussianProcess().fit(np.vstack([x, xp]), np.concatenate([y, believed]),
                                       gp.lengthscale, gp.noise_ratio)
        return gp

    def acquisition(self, pool):
        gp = self.fit()
        mean, std = gp.predict(self.encode_all(pool))
        if self.acquisition_name == "ucb":
            return mean + self.beta * std
        # the incumbent is the best posterior mean at an evaluated architecture, not the best raw score:
        # with noisy evaluations a lucky draw would otherwise set a bar nothing seems to clear
        fitted, _ = gp.predict(gp.x[: len(self.data)])
        improvement = mean - (fitted.max() + self.xi)
        z = improvement / std
        return improvement * normal_cdf(z) + std * normal_pdf(z)
