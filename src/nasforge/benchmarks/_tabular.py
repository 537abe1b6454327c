"""Tabular benchmarks: precomputed training results used as instant objectives.

A benchmark answers an architecture with its recorded metrics and reports
the recorded training time as the trial's cost, so a study on a benchmark
runs in seconds on a *simulated* clock: ``--time-budget`` then means
simulated training seconds, and strategies can be compared on time as well
as on the number of evaluations.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..core import Arch, Estimator, Fidelity, InvalidArchError, Result, TrialPruned, TrialStatus, pruned_result


class TabularBenchmark(Estimator):
    """Look up ``arch`` in ``table`` (key -> record with per-seed lists or scalars).

    ``record["val_accuracy"]`` (percent, one value per training seed) is
    required; with ``noisy=True`` each trial reads the seed its trial seed
    picks, as if it had trained the network once, else the mean.
    """

    # the data set the table was trained on, where nasforge generates it offline ({"dataset": name,
    # "val_fraction": f}; None otherwise): what zero-cost proxies of its architectures read
    data_setting: dict | None = None

    def __init__(self, name: str, space, table: dict[str, dict[str, Any]], key: Callable[[Arch], str],
                 noisy: bool = True):
        self.name = name
        self.space = space
        self.table = table
        self.key = key
        self.noisy = noisy

    def config(self):
        return {"benchmark": self.name, "noisy": self.noisy}

    def record(self, arch: Arch) -> dict[str, Any]:
        self.space.validate(arch)
        try:
            return self.table[self.key(arch)]
        except KeyError:
            raise InvalidArchError(f"benchmark {self.name!r} has no entry for {self.space.describe(arch)}") from None

    def evaluate(self, arch: Arch, fidelity: Fidelity, seed: int, on_epoch=None) -> Result:
        try:
            rec = self.record(arch)
        except InvalidArchError as exc:
            return Result(TrialStatus.FAILED, fidelity=fidelity.to_dict(), error=f"InvalidArchError: {exc}")
        pick = int(np.random.default_rng(seed).integers(1 << 30))
        metrics = {}
        for name, value in rec.items():
            if isinstance(value, (list, tuple)):
                value = value[pick % len(value)] if self.noisy else float(np.mean(value))
            metrics[name] = float(value)
        for name in ("val_accuracy", "test_accuracy"):
            if name in metrics:
                metrics[name] /= 100.0
        point = {"epoch": rec.get("epochs", 200), "val_accuracy": metrics["val_accuracy"]}
        if on_epoch is not None:
            try:
                on_epoch(point)
            except TrialPruned as exc:  # one recorded point: the whole training was paid for
                return pruned_result(exc, [point], fidelity.to_dict(), metrics.get("train_seconds", 0.0), metrics)
        return Result(TrialStatus.OK, metrics, [point], fidelity.to_dict(), metrics.get("train_seconds", 0.0))

    COSTS = ("params", "flops", "latency_ms", "size_bytes", "peak_memory_mb", "energy_j")  # known before training

    @classmethod
    def _costs_of(cls, rec: dict[str, Any], metrics) -> dict[str, float]:
        """The recorded cost metrics among ``metrics`` (the mean where several runs are recorded)."""
        return {m: float(np.mean(rec[m])) for m in metrics if m in cls.COSTS and m in rec}

    def costs(self, arch, metrics):
        try:
            return self._costs_of(self.record(arch), metrics)
        except InvalidArchError:
            return {}

    def cost_table(self, metrics):
        metrics = list(metrics)
        return [self._costs_of(rec, metrics) for rec in self.table.values()]

    def means(self, metric: str = "val_accuracy") -> dict[str, float]:
        """Each entry's ``metric`` averaged over its recorded runs (accuracies in percent): the
        ground truth that regret is measured against."""
        return {k: float(np.mean(r[metric])) for k, r in self.table.items() if metric in r}

    def best(self, metric: str = "val_accuracy") -> tuple[str, float]:
        """The best key in the table by the mean of ``metric`` (for regret)."""
        means = self.means(metric)
        key = max(means, key=means.get)
        return key, means[key]
