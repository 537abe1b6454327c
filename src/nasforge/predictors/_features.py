"""A proxy-feature model: extra per-architecture columns (zero-cost proxy scores, parameters,
FLOPs) explain what they can linearly, and a second model on the encoding and the features
learns the rest. Cheap features often rank architectures well on their own (Abdelfattah et al.
2021: parameters reach Spearman 0.69 on NB201 CIFAR-10) but saturate; the encoding model
corrects them where the training architectures say so (NAS-Bench-Suite-Zero, Krishnakumar et
al. 2022, feed all proxies to a surrogate)."""

from __future__ import annotations

import numpy as np

from ..core import UserInputError, check_float
from ._base import Predictor
from ._registry import REGISTRY, register
from ._stats import average_ranks, normal_quantile

ALPHAS = (0.01, 0.1, 1.0, 10.0, 100.0, 1000.0)  # ridge penalties tried by leave-one-out


@register("proxy-features")
class ProxyFeatureModel(Predictor):
    """Ridge regression on the last ``features`` columns, each replaced by Gaussian rank scores
    among its training values (what predicts is a proxy's ranking, not its scale; values
    between training values are interpolated, values beyond them clamped), then the
    ``residual`` predictor (a registered name, default ``'gp'``) on the encoding and those
    scores, fitted to what the ridge left; mean = ridge + residual mean, std = the residual
    model's. ``alpha`` is the ridge penalty (the scores are roughly standard normal); by default
    it is chosen on a grid by leave-one-out error (closed form), so many proxy columns and few
    training architectures give a strongly shrunk ridge rather than an overfitted one."""

    name = "proxy-features"

    def __init__(self, features: int = 1, residual: str = "gp", alpha: float | None = None,
                 seed: int | np.random.Generator = 0, **residual_options):
        super().__init__(seed, features)
        if self.features < 1:
            raise UserInputError("The 'features' parameter of proxy-features must be an int >= 1 (the number of "
                                 f"trailing feature columns). Got {features!r} instead.")
        if residual == self.name:
            raise UserInputError("The 'residual' parameter of proxy-features must name another predictor. "
                                 f"Got {residual!r} instead.")
        REGISTRY.factory(residual)  # an unknown name fails here, with close matches
        self.residual = residual
        self.alpha = None if alpha is None else check_float(self.name, "alpha", alpha, 0.0)
        self.residual_options = residual_options

    def config(self):
        return {**super().config(), "residual": self.residual, "alpha": self.alpha, **self.residual_options}

    def _fit(self, x, y, rng):
        split = x.shape[1] - self.features
        self._knots = [np.unique(col) for col in x[:, split:].T]
        self._scores = [normal_quantile((average_ranks(k) + 0.5) / len(k)) if len(k) > 1 else np.zeros(1)
                        for k in self._knots]
        x = self._ranked(x)
        f = x[:, split:]
        self.y_mean = float(y.mean())
        t = y - self.y_mean
        alphas = ALPHAS if self.alpha is None else (self.alpha,)
        best = None
        for alpha in alphas:
            inverse = np.linalg.pinv(f.T @ f + alpha * np.eye(self.features))
            coef = inverse @ f.T @ t
            hat = np.einsum("ij,jk,ik->i", f, inverse, f)  # leverage of each training architecture
            loo = float(np.mean(((t - f @ coef) / np.maximum(1.0 - hat, 1e-6)) ** 2))
            if best is None or loo < best[0]:
                best = (loo, alpha, coef)
        _, self.alpha_, self.coef = best
        self.model = REGISTRY.factory(self.residual)(seed=rng, **self.residual_options)
        self.model.fit(x, y - self._linear(x))

    def _ranked(self, x):
        """Feature columns as Gaussian rank scores among the training values (interpolated between
        them, clamped beyond): a proxy's ranking is what predicts, not its scale."""
        split = x.shape[1] - self.features
        cols = [np.interp(col, k, s) for col, k, s in zip(x[:, split:].T, self._knots, self._scores)]
        return np.hstack([x[:, :split], np.column_stack(cols)])

    def _linear(self, x):
        return self.y_mean + x[:, x.shape[1] - self.features:] @ self.coef

    def _predict(self, x):
        x = self._ranked(x)
        mean, std = self.model.predict(x)
        return self._linear(x) + mean, std
