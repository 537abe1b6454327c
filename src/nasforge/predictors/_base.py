"""The predictor contract: ``fit(X, y)`` on architecture encodings, ``predict(X) -> (mean, std)``.

A predictor (surrogate) learns an architecture's score from its encoding (``space.encode`` or
``space.path_encode``), optionally followed by ``features`` extra columns per architecture
(zero-cost proxy scores, parameters, FLOPs). Those columns are heavy-tailed and on scales
unrelated to the one-hot encoding, so the base class rescales them (log where a column is
positive and spans more than a factor of 10, then standardised on the training rows) before
a family sees them; the encoding columns pass through unchanged.

Subclasses implement ``_fit(x, y, rng)`` and ``_predict(x) -> (mean, std)``; the base class
checks shapes and finiteness with one-line errors, refuses ``predict`` before ``fit``, and
derives every fit's randomness from ``seed`` (an int: the same fit every time; a
``numpy.random.Generator``: consumed, as a strategy that threads one stream through its
proposals wants).
"""

from __future__ import annotations

import abc
from typing import Any

import numpy as np

from ..core import UserInputError, check_int


class Predictor(abc.ABC):
    """A regression model from architecture encodings to scores, with uncertainty."""

    name = ""

    def __init__(self, seed: int | np.random.Generator = 0, features: int = 0):
        if not isinstance(seed, np.random.Generator):
            check_int(self.name, "seed", seed, 0)
        self.seed = seed
        self.features = check_int(self.name, "features", features, 0)
        self.n_columns: int | None = None  # set by fit

    def config(self) -> dict[str, Any]:
        """The options that define this predictor (what a report or a study records)."""
        return {"features": self.features}

    # -- the contract ---------------------------------------------------------------------------

    def fit(self, X, y) -> Predictor:
        """Learn scores ``y`` (n,) of the architectures encoded in ``X`` (n, columns); returns self."""
        x = self._matrix(X, "X")
        y = np.asarray(y, dtype=np.float64)
        if y.ndim != 1 or len(y) != len(x):
            raise UserInputError(f"predictor {self.name!r}: y must be a 1-D array with one score per row of X "
                                 f"({len(x)} rows); got shape {y.shape}")
        if not np.isfinite(y).all():
            raise UserInputError(f"predictor {self.name!r}: y holds {int((~np.isfinite(y)).sum())} non-finite "
                                 "scores; drop failed architectures before fitting")
        if len(x) < 2:
            raise UserInputError(f"predictor {self.name!r} needs at least 2 architectures to fit; got {len(x)}")
        if self.features > x.shape[1]:
            raise UserInputError(f"predictor {self.name!r} was told the last {self.features} columns are features, "
                                 f"but X has only {x.shape[1]} columns")
        self.n_columns = x.shape[1]
        self._fit_feature_scaling(x)
        rng = self.seed if isinstance(self.seed, np.random.Generator) else np.random.default_rng(self.seed)
        self._fit(self._scaled(x), y, rng)
        return self

    def predict(self, X) -> tuple[np.ndarray, np.ndarray]:
        """Predicted mean and standard deviation (the model's uncertainty), each of shape (n,)."""
        mean, std = self._predict(self._input(X))
        return np.asarray(mean, dtype=np.float64), np.asarray(std, dtype=np.float64)

    @abc.abstractmethod
    def _fit(self, x: np.ndarray, y: np.ndarray, rng: np.random.Generator) -> None:
        """Fit on the checked, feature-scaled training matrix."""

    @abc.abstractmethod
    def _predict(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(mean, std) for the checked, feature-scaled rows ``x``."""

    # -- helpers --------------------------------------------------------------------------------

    def _input(self, X) -> np.ndarray:
        """Rows to predict: checked against the fit, feature columns scaled."""
        if self.n_columns is None:
            raise UserInputError(f"predictor {self.name!r} is not fitted yet: call fit(X, y) before predict(X)")
        x = self._matrix(X, "X")
        if x.shape[1] != self.n_columns:
            raise UserInputError(f"predictor {self.name!r} was fitted on {self.n_columns} columns, but X has "
                                 f"{x.shape[1]}; encode with the same space (and the same feature columns)")
        return self._scaled(x)

    def _matrix(self, X, what: str) -> np.ndarray:
        x = np.asarray(X, dtype=np.float64)
        if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
            raise UserInputError(f"predictor {self.name!r}: {what} must be a 2-D array (architectures x encoding "
                                 f"columns) with at least one row and column; got shape {x.shape}")
        if not np.isfinite(x).all():
            raise UserInputError(f"predictor {self.name!r}: {what} holds non-finite values")
        return x

    def _fit_feature_scaling(self, x: np.ndarray) -> None:
        cols = x[:, x.shape[1] - self.features:] if self.features else np.empty((len(x), 0))
        self._log_columns = (cols.min(0) > 0) & (cols.max(0) > 10 * cols.min(0)) if cols.size else np.zeros(0, bool)
        cols = self._logged(cols)
        self._feature_mean = cols.mean(0)
        self._feature_scale = cols.std(0) + 1e-12

    def _logged(self, cols: np.ndarray) -> np.ndarray:
        if not self._log_columns.any():
            return cols
        cols = cols.copy()
        cols[:, self._log_columns] = np.log(np.maximum(cols[:, self._log_columns], 1e-300))
        return cols

    def _scaled(self, x: np.ndarray) -> np.ndarray:
        """``x`` with its feature columns logged (where chosen at fit) and standardised."""
        if not self.features:
            return x
        split = x.shape[1] - self.features
        cols = (self._logged(x[:, split:]) - self._feature_mean) / self._feature_scale
        return np.hstack([x[:, :split], cols])
