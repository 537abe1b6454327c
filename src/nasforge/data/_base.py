"""The in-memory data set every estimator trains on, and its fixed splits."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch

from ..core import UserInputError

TABULAR_SCALE_RATIO = 10.0


@dataclass
class Dataset:
    """Train/validation tensors for search, and a test split read only on demand.

    The test split is never touched by search: only :meth:`test` loads it,
    and only final evaluation calls that.
    """

    name: str
    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    num_classes: int
    _load_test: Callable[[], tuple[torch.Tensor, torch.Tensor]] = field(repr=False)
    classes: list | None = None
    tabular: bool = False  # columns are separate features (not a signal): standardised one by one, never shifted

    @property
    def input_shape(self) -> tuple[int, ...]:
        return tuple(self.x_train.shape[1:])

    def test(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The held-out test split (for final evaluation only)."""
        return self._load_test()

    def train_and_val(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Training plus validation data, for retraining the final architecture."""
        return torch.cat([self.x_train, self.x_val]), torch.cat([self.y_train, self.y_val])

    def describe(self) -> dict:
        return {"name": self.name, "input_shape": list(self.input_shape), "num_classes": self.num_classes,
                "train": len(self.y_train), "val": len(self.y_val), **({"tabular": True} if self.tabular else {})}


def split_indices(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded (rest, held-out) split of ``range(n)``."""
    if not 0.0 < fraction < 1.0:
        raise UserInputError(f"The split fraction must be in (0, 1). Got {fraction!r} instead.")
    order = np.random.default_rng(seed).permutation(n)
    held = max(1, int(round(n * fraction)))
    return np.sort(order[held:]), np.sort(order[:held])


def normalizer(train: np.ndarray, per_column: bool = False) -> Callable[[np.ndarray], torch.Tensor]:
    """Float32 standardisation with the training split's mean and std: one for all values
    (images, signals), or one per column of ``(N, 1, F)`` tabular features."""
    train = train.astype(np.float32)
    if per_column:
        mean, std = train.mean(axis=0), train.std(axis=0)
        std[std == 0] = 1.0
    else:
        mean, std = float(train.mean()), float(train.std()) or 1.0
    return lambda a: torch.from_numpy((a.astype(np.float32) - mean) / std)


def looks_tabular(x: np.ndarray) -> bool:
    """Whether ``(N, F)`` samples are table columns rather than a signal: their spreads differ more
    than :data:`TABULAR_SCALE_RATIO`-fold (a signal's steps or an image's pixels share one scale)."""
    if x.ndim != 2 or len(x) < 2:
        return False
    std = x.astype(np.float64).std(axis=0)
    std = std[std > 0]
    return len(std) > 1 and std.max() > TABULAR_SCALE_RATIO * std.min()


def make_dataset(name: str, x: np.ndarray, y: np.ndarray, test: Callable[[], tuple[np.ndarray, np.ndarray]],
                 val_fraction: float, split_seed: int, num_classes: int, classes: list | None = None,
                 tabular: bool = False) -> Dataset:
    """Split ``x, y`` into train/validation and wrap everything as tensors."""
    train_idx, val_idx = split_indices(len(y), val_fraction, split_seed)
    norm = normalizer(x[train_idx], per_column=tabular)

    def load_test():
        xt, yt = test()
        return norm(xt), torch.from_numpy(yt.astype(np.int64))

    return Dataset(name, norm(x[train_idx]), torch.from_numpy(y[train_idx].astype(np.int64)), norm(x[val_idx]),
                   torch.from_numpy(y[val_idx].astype(np.int64)), num_classes, load_test, classes, tabular)
