"""Surrogate predictors: learn an architecture's score from its encoding, with uncertainty.

Every predictor has ``fit(X, y)`` and ``predict(X) -> (mean, std)``, where ``X`` holds one
encoding per architecture (``space.encode`` / ``space.path_encode``), optionally followed by
``features`` extra columns (zero-cost proxy scores, parameters, FLOPs). BANANAS and GP-BO use
them as their surrogates; they work as well on their own. Torch-free (numpy; ``gbt`` needs
scikit-learn, the ``data`` extra).

>>> import numpy as np
>>> from nasforge import predictors
>>> x = np.eye(4)[[0, 1, 2, 3, 0, 1]]; y = np.array([0.1, 0.5, 0.9, 0.3, 0.12, 0.52])
>>> mean, std = predictors.get("gp").fit(x, y).predict(np.eye(4))
>>> int(np.argmax(mean))
2
"""

from __future__ import annotations

from ._base import Predictor
from ._registry import REGISTRY, register
from ._stats import (average_ranks, gaussian_ranks, kendall_tau, normal_cdf, normal_pdf, normal_quantile,
                     single_threaded_blas, spearman)

# Each family registers itself beside its class; listed, not discovered (as in nasforge.spaces).
from ._mlp import MLPEnsemble
from ._gp import GaussianProcess
from ._trees import BoostedTrees
from ._features import ProxyFeatureModel


def get(name: str, **options) -> Predictor:
    """A new, unfitted predictor ``name`` (see :func:`names`) with ``options``."""
    return REGISTRY.factory(name)(**options)


def names(pattern: str = "*") -> list[str]:
    return REGISTRY.names(pattern)


__all__ = ["BoostedTrees", "GaussianProcess", "MLPEnsemble", "Predictor", "ProxyFeatureModel", "REGISTRY",
           "average_ranks", "gaussian_ranks", "get", "kendall_tau", "names", "normal_cdf", "normal_pdf",
           "normal_quantile", "register", "single_threaded_blas", "spearman"]
