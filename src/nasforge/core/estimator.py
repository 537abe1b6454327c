"""The estimator contract: scores an architecture at a fidelity; never chooses what to evaluate."""

from __future__ import annotations

import abc
from collections.abc import Iterable
from typing import Any

from .arch import Arch
from .trial import Fidelity, Result


class Estimator(abc.ABC):
    """Scores architectures. It never chooses what to evaluate."""

    objective: str = "val_accuracy"  # maximised

    @abc.abstractmethod
    def evaluate(self, arch: Arch, fidelity: Fidelity, seed: int, on_epoch=None) -> Result:
        """Evaluate ``arch`` at ``fidelity`` with ``seed`` (same seed, same result)."""

    def config(self) -> dict[str, Any]:
        return {}

    def costs(self, arch: Arch, metrics: Iterable[str]) -> dict[str, float]:
        """Those of ``metrics`` known for ``arch`` without training it (parameters and FLOPs
        from building the model, a table's recorded latency, ...), so a study can reject an
        architecture that breaks a constraint before paying for its training. Default: none."""
        return {}

    def cost_table(self, metrics: Iterable[str]) -> list[dict[str, float]] | None:
        """Those of ``metrics`` for *every* architecture of the space, where the estimator knows
        them all (a tabular benchmark), so a constraint nothing meets is found exactly; else None."""
        return None
