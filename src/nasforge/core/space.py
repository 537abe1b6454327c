"""The search-space contract: what a strategy may ask of any space.

No torch here: ``build`` returns a ``torch.nn.Module`` but only spaces import torch.
"""

from __future__ import annotations

import abc
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .arch import Arch
from .errors import InvalidArchError, UserInputError


# -- what a drawing shows, as plain data (draw.py renders it; spaces never import draw) ---------

@dataclass(frozen=True)
class Box:
    """One box of a chain: a bold ``heading`` over ``lines`` of text; ``kind`` ("input", "box"
    or "head") sets its colour."""

    heading: str
    lines: tuple[str, ...] = ()
    kind: str = "box"


@dataclass(frozen=True)
class Chain:
    """Boxes left to right (stages, blocks, layers), wrapping after ``per_row``; ``note`` is a footnote."""

    boxes: tuple[Box, ...]
    per_row: int = 7
    note: str | None = None


@dataclass(frozen=True)
class CellGraph:
    """A cell as a graph: ``nodes`` are (key, label, kind) with kind "input", "node" or
    "output"; ``edges`` are (source key, target key, label, style) with style "op", "dead"
    (dashed: no effect on the output) or "concat" (grey, unlabelled)."""

    title: str
    nodes: tuple[tuple[Any, str, str], ...]
    edges: tuple[tuple[Any, Any, str, str], ...]


@dataclass(frozen=True)
class CellGraphs:
    """Cell graphs side by side, one row below the other; ``note`` is a footnote."""

    rows: tuple[tuple[CellGraph, ...], ...]
    note: str | None = None


Drawing = Chain | CellGraphs


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

    # True where ``build`` runs code the user wrote (a define-by-run function), which may
    # crash, hang or raise for some architectures: a study then runs every trial in a
    # worker process, so such a crash fails the trial instead of ending the study.
    runs_user_code: bool = False

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

    def drawing(self, arch: Arch) -> Drawing:
        """What a picture of ``arch`` shows (``nasforge draw``). By default one box per group
        of decisions (``stage.key`` names group by ``stage``); spaces with stages or cells
        override it."""
        groups: dict[str, list[str]] = {}
        for key, value in arch.decisions.items():
            group, dot, rest = key.partition(".")
            text = f"{rest if dot else key}={json.dumps(value) if not isinstance(value, str) else value}"
            groups.setdefault(group if dot else "", []).append(text[:30])
        boxes = [Box("input", kind="input")]
        if "" in groups:
            boxes.append(Box("global", tuple(groups.pop(""))))
        boxes += [Box(name, tuple(lines)) for name, lines in groups.items()]
        return Chain(tuple(boxes))

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
