"""A Gaussian process on architecture encodings (GP-BO's surrogate), pure numpy.

The kernel is exponential in the L1 distance between encodings,
``k(a, b) = s2 * exp(-|x_a - x_b|_1 / lengthscale)``: on one-hot encodings the
L1 distance is twice the number of differing decisions, so this is the
exponentiated-Hamming (categorical overlap) kernel used for BO over
categorical inputs; ordinal and numeric decisions (scaled to [0, 1] by the
space's ``encode``) and standardised feature columns add their absolute
difference. The lengthscale and the noise-to-signal ratio are chosen on a
small grid by maximising the marginal likelihood with the signal variance
profiled out (its optimum has a closed form), so the fit is one
eigendecomposition per lengthscale.
"""

from __future__ import annotations

import math

import numpy as np

from ..core import check_float
from ._base import Predictor
from ._registry import register

LENGTHSCALES = (0.25, 0.5, 1.0, 2.0, 4.0, 8.0)  # multiples of the median pairwise distance
NOISE_RATIOS = (1e-3, 1e-2, 0.05, 0.2, 0.5)  # noise variance / signal variance


def l1_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.abs(a[:, None, :] - b[None, :, :]).sum(-1)


@register("gp")
class GaussianProcess(Predictor):
    """Zero-mean GP on standardised targets with the exponential-L1 kernel above.

    Without ``lengthscale``/``noise_ratio`` they are chosen by marginal likelihood on
    the grid (lengthscales as multiples of the median pairwise distance); given both,
    they are used as they are (e.g. to refit with the hyperparameters of an earlier fit:
    ``GaussianProcess(gp.lengthscale_, gp.noise_ratio_)``). Each candidate lengthscale
    costs one eigendecomposition, after which the likelihood of every noise ratio is a
    sum over eigenvalues, and the posterior uses the same decomposition. Deterministic
    (``seed`` is unused). The std is the latent function's, without observation noise.
    """

    name = "gp"

    def __init__(self, lengthscale: float | None = None, noise_ratio: float | None = None,
                 seed: int | np.random.Generator = 0, features: int = 0):
        super().__init__(seed, features)
        n = self.name
        self.lengthscale = None if lengthscale is None else check_float(n, "lengthscale", lengthscale, 0.0,
                                                                        open_low=True)
        self.noise_ratio = None if noise_ratio is None else check_float(n, "noise_ratio", noise_ratio, 0.0,
                                                                        open_low=True)

    def config(self):
        return {**super().config(), "lengthscale": self.lengthscale, "noise_ratio": self.noise_ratio}

    def _fit(self, x, y, rng):
        self.x_train_ = x
        self.y_mean, self.y_scale = float(y.mean()), float(y.std()) + 1e-12
        t = (y - self.y_mean) / self.y_scale
        d = l1_distances(x, x)
        if self.lengthscale is None or self.noise_ratio is None:
            positive = d[d > 0]
            unit = float(np.median(positive)) if positive.size else 1.0
            grid = [(ls * unit, nr) for ls in LENGTHSCALES for nr in NOISE_RATIOS]
        else:
            grid = [(self.lengthscale, self.noise_ratio)]
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
        _, self.lengthscale_, self.noise_ratio_, self.signal, eigvals, self.eigvecs, proj = best
        self.inv_shifted = 1.0 / (eigvals + self.noise_ratio_)
        self.alpha = self.eigvecs @ (proj * self.inv_shifted)

    def _predict(self, x):
        k = np.exp(-l1_distances(x, self.x_train_) / self.lengthscale_)
        mean = k @ self.alpha
        proj = k @ self.eigvecs
        var = np.maximum(1.0 - (proj * proj * self.inv_shifted).sum(1), 1e-12) * self.signal
        return mean * self.y_scale + self.y_mean, np.sqrt(var) * self.y_scale

    def fitted(self) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std) at the training architectures (e.g. the incumbent of expected improvement)."""
        return self._predict(self.x_train_)
