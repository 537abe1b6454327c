"""Tabular benchmarks usable as instant objectives (``nasforge search --benchmark``).

>>> from nasforge import benchmarks
>>> bench = benchmarks.get("nb201-cifar10")  # doctest: +SKIP
"""

from __future__ import annotations

from ..core import UserInputError
from ._registry import DECLARED, REGISTRY, register
from ._tabular import TabularBenchmark

# Each benchmark registers itself beside its loader (@register(name, space=...)) when its module
# is imported. The modules are listed rather than discovered, as in nasforge.spaces: simpler,
# a fixed registration order, and loud failures. A new benchmark is one file plus one line here.
from ._macro import from_json as nasbench_macro
from ._mnist1d import CurveBenchmark
from ._mnist1d import from_table as mnist1d_table
from ._nb201 import from_csv, from_package, package_key


def space_name(name: str) -> str:
    """The search space a benchmark's architectures belong to (without loading its table)."""
    REGISTRY.factory(name)
    return DECLARED[name].space


def get(name: str, continue_runs: bool = False) -> TabularBenchmark:
    """The benchmark ``name``, loaded. ``continue_runs`` (benchmarks with learning curves only):
    an architecture evaluated again at more epochs continues its earlier run."""
    loader = REGISTRY.factory(name)
    if not continue_runs:
        return loader()
    if not DECLARED[name].curves:
        with_curves = ", ".join(n for n in names() if DECLARED[n].curves)
        raise UserInputError(f"continue_runs needs a benchmark with learning curves ({with_curves}); "
                             f"{name!r} records final results only")
    return loader(continue_runs=True)


def names(pattern: str = "*") -> list[str]:
    return REGISTRY.names(pattern)


__all__ = ["CurveBenchmark", "DECLARED", "REGISTRY", "TabularBenchmark", "from_csv", "from_package", "get",
           "mnist1d_table", "names", "nasbench_macro", "package_key", "register", "space_name"]
