"""The search-space contract: what a strategy may ask of any space.

No torch here: ``build`` returns a ``torch.nn.Module`` but only spaces import torch.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from typing import Any

import numpy as np

from .arch import Arch
from .errors import InvalidArchError, UserInputError


class SearchSpace(abc.ABC):
    """What architectures can exist, and how to build one.

    Strategies only use ``sample``, ``mutate``, ``crossover``, ``neighbors``
    and ``encode``, so every strategy works on every space.
    """

    name: str = ""

    @abc.abstractmethod
    def sample(self, rng: np.random.Generator) -> Arch:
        """A random architecture."""

    @abc.abstractmethod
    def mutate(self, arch: Arch, rng: np.random.Generator) -> Arch:
        """A different, valid architecture that changes one decision of ``arch``."""

    @abc.abstractmethod
    def crossover(self, a: Arch, b: Arch, rng: np.random.Generator) -> Arch:
        """A valid child mixing the decisions of ``a`` and ``b``."""

    @abc.abstractmethod
    def neighbors(self, arch: Arch) -> list[Arch]:
        """All architectures one small step away from ``arch``."""

    @abc.abstractmethod
    def encode(self, arch: Arch) -> np.ndarray:
        """A fixed-length float vector describing ``arch`` (for predictors)."""

    has_path_encoding: bool = False  # True where a space implements path_encode

    def path_encode(self, arch: Arch) -> np.ndarray:
        """BANANAS's path encoding of ``arch`` (which input-to-output paths of operations
        it contains), for spaces with ``has_path_encoding``; a declared capability, so
        strategies check the flag instead of probing for the method."""
        raise UserInputError(f"space {self.name!r} has no path encoding")

    @abc.abstractmethod
    def validate(self, arch: Arch) -> None:
        """Raise :class:`InvalidArchError` naming the bad decision, if any."""

    @abc.abstractmethod
    def build(self, arch: Arch, input_shape: Sequence[int], num_classes: int,
              width_multiplier: float = 1.0):
        """A ``torch.nn.Module`` for inputs of ``input_shape`` (without batch)."""

    def grow(self, arch: Arch) -> Arch | None:
        """``arch`` with one more block, layer or node (progressive growth, issue #7),
        or None when it is already the largest the space allows.

        Spaces whose architectures have no size raise :class:`UserInputError`.
        """
        raise UserInputError(f"space {self.name!r} has no size to grow")

    def priors(self) -> list[Arch]:
        """Known-good architectures of this space (hand designs it contains), which a
        search may evaluate first, as AutoKeras starts from its default models."""
        return []

    def describe(self, arch: Arch) -> str:
        """A one-line human summary used in progress displays and tables."""
        return " ".join(f"{k}={v}" for k, v in arch.decisions.items())

    def training_config(self, arch: Arch) -> dict[str, Any]:
        """Training settings chosen by the architecture itself (e.g. a learning rate)."""
        return {}

    def config(self) -> dict[str, Any]:
        """The constructor arguments, so a study can check it resumes the same space."""
        return {}

    @property
    def size(self) -> int | None:
        """Number of distinct architectures, or None when unbounded/unknown."""
        return None

    @property
    def encoding_length(self) -> int:
        return 0

    def _check_space(self, arch: Arch) -> None:
        if not isinstance(arch, Arch):
            raise InvalidArchError(f"expected an Arch; got {type(arch).__name__}")
        if arch.space != self.name:
            raise InvalidArchError(f"architecture belongs to space {arch.space!r}, not {self.name!r}")
