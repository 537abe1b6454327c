"""Gradient-boosted trees (scikit-learn's ``HistGradientBoostingRegressor``), an ensemble over
seeds and subsamples for uncertainty. White et al. (2021) found boosted trees among the best
predictors once a few hundred architectures are trained. Needs scikit-learn (the ``data``
extra), imported only when a model is fitted."""

from __future__ import annotations

import numpy as np

from ..core import check_float, check_int, require
from ._base import Predictor
from ._registry import register
from ._stats import single_threaded_blas


@register("gbt")
class BoostedTrees(Predictor):
    """``members`` boosted-tree regressors, each fitted on a random ``subsample`` of the
    training architectures (without replacement) with its own seed; mean and spread over
    the members. Leaves hold at least ``min_leaf`` architectures (fewer on tiny data sets,
    where scikit-learn's default of 20 would never split)."""

    name = "gbt"

    def __init__(self, members: int = 5, subsample: float = 0.8, max_iter: int = 100, learning_rate: float = 0.1,
                 max_leaf_nodes: int = 15, min_leaf: int = 5, seed: int | np.random.Generator = 0,
                 features: int = 0):
        super().__init__(seed, features)
        n = self.name
        self.members = check_int(n, "members", members, 1)
        self.subsample = check_float(n, "subsample", subsample, 0.0, 1.0, open_low=True)
        self.max_iter = check_int(n, "max_iter", max_iter, 1)
        self.learning_rate = check_float(n, "learning_rate", learning_rate, 0.0, 1.0, open_low=True)
        self.max_leaf_nodes = check_int(n, "max_leaf_nodes", max_leaf_nodes, 2)
        self.min_leaf = check_int(n, "min_leaf", min_leaf, 1)

    def config(self):
        return {**super().config(), "members": self.members, "subsample": self.subsample, "max_iter": self.max_iter,
                "learning_rate": self.learning_rate, "max_leaf_nodes": self.max_leaf_nodes, "min_leaf": self.min_leaf}

    def _fit(self, x, y, rng):
        ensemble = require("sklearn.ensemble", "data")
        size = max(2, int(round(self.subsample * len(x))))
        min_leaf = max(1, min(self.min_leaf, size // 5))
        self.models = []
        with single_threaded_blas(user_api=None):  # OpenMP threads too
            for _ in range(self.members):
                rows = rng.choice(len(x), size, replace=False) if size < len(x) else np.arange(len(x))
                model = ensemble.HistGradientBoostingRegressor(
                    max_iter=self.max_iter, learning_rate=self.learning_rate, max_leaf_nodes=self.max_leaf_nodes,
                    min_samples_leaf=min_leaf, early_stopping=False, random_state=int(rng.integers(1 << 31)))
                self.models.append(model.fit(x[rows], y[rows]))

    def _predict(self, x):
        with single_threaded_blas(user_api=None):
            preds = np.stack([m.predict(x) for m in self.models])
        return preds.mean(0), preds.std(0)
