"""Data sets: Fashion-MNIST, digits, MNIST-1D and user ``.npz`` files, all offline.

>>> from nasforge import data
>>> ds = data.load("digits")  # doctest: +SKIP
"""

from __future__ import annotations

from ..core import NasforgeError, Registry, require
from ._base import Dataset, split_indices
from ._loaders import cache_dir, fashion_mnist_files, digits, fashion_mnist, generate_mnist1d, mnist1d, npz, read_idx

REGISTRY: Registry[Dataset] = Registry("dataset")
REGISTRY.register("fashion-mnist")(fashion_mnist)
REGISTRY.register("digits")(digits)
REGISTRY.register("mnist1d")(mnist1d)


def load(name: str, val_fraction: float = 0.1, split_seed: int = 0) -> Dataset:
    """A data set by registered name, or a path to an ``.npz`` file."""
    if name.endswith(".npz"):
        return npz(name, val_fraction=val_fraction, split_seed=split_seed)
    return REGISTRY.factory(name)(val_fraction=val_fraction, split_seed=split_seed)


def availability(name: str) -> str:
    """'yes', or what is missing and how to install it."""
    checks = {"fashion-mnist": fashion_mnist_files, "digits": lambda: require("sklearn", "data"),
              "mnist1d": lambda: require("mnist1d", "data")}
    REGISTRY.factory(name)
    try:
        checks.get(name, lambda: None)()
    except NasforgeError as exc:
        return str(exc)
    return "yes"


def names(pattern: str = "*") -> list[str]:
    return REGISTRY.names(pattern)


__all__ = ["Dataset", "availability", "fashion_mnist_files", "REGISTRY", "cache_dir", "digits", "fashion_mnist", "generate_mnist1d", "load",
           "mnist1d", "names", "npz", "read_idx", "split_indices"]
