"""The estimator contract: scores an architecture at a fidelity; never chooses what to evaluate."""

from __future__ import annotations

import abc
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
