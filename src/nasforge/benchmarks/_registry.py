"""The registry of tabular benchmarks by name. Each benchmark registers its loader beside
it, declaring the space its architectures belong to and whether it records learning
curves (then its loader also takes ``continue_runs``)::

    @register("nasbench-macro", space="nasbench-macro", summary="NAS-Bench-Macro CIFAR-10 ...")
    def from_json(path=None, noisy=True): ...
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from ..core import Registry
from ._tabular import TabularBenchmark

REGISTRY: Registry[TabularBenchmark] = Registry("benchmark")


@dataclass(frozen=True)
class Declared:
    """What a benchmark declares when it registers, known without loading its table."""

    space: str  # the registered space of its architectures
    curves: bool = False  # per-epoch learning curves: the loader takes ``continue_runs``


DECLARED: dict[str, Declared] = {}


def register(name: str, space: str, summary: str = "", curves: bool = False) -> Callable:
    """Decorator: register ``loader() -> TabularBenchmark`` as ``name``, for architectures of ``space``."""

    def decorate(loader: Callable[..., TabularBenchmark]) -> Callable[..., TabularBenchmark]:
        REGISTRY.register(name, summary)(loader)
        DECLARED[name] = Declared(space, curves)
        return loader

    return decorate
