"""Training settings and where training runs."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import torch

from ..core import UserInputError, check_float, check_int
from ._augment import check_augment

OPTIMIZERS = ("adamw", "sgd")
PRECISIONS = ("auto", "fp32", "bf16")


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings. Defaults train small CNNs well in a few CPU epochs:
    AdamW with a short linear warm-up and a cosine decay to zero; batch 64,
    because short low-fidelity trainings are limited by the number of steps
    (see docs/decisions.md for the measurement)."""

    batch_size: int = 64
    lr: float = 3e-3
    weight_decay: float = 1e-4
    optimizer: str = "adamw"
    label_smoothing: float = 0.0
    warmup_fraction: float = 0.03
    eval_batch_size: int = 1024
    device: str = "auto"
    precision: str = "auto"
    augment: str = "none"  # "shift" / "shift-flip": see _augment.py

    def __post_init__(self):
        if self.optimizer not in OPTIMIZERS:
            raise UserInputError(f"The 'optimizer' parameter must be one of {OPTIMIZERS}. Got {self.optimizer!r} instead.")
        if self.precision not in PRECISIONS:
            raise UserInputError(f"The 'precision' parameter must be one of {PRECISIONS}. Got {self.precision!r} instead.")
        check_augment(self.augment)
        check_int(None, "batch_size", self.batch_size, low=2)
        check_float(None, "lr", self.lr, low=0, open_low=True, want="a positive number")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_device(name: str) -> torch.device:
    """``"auto"``: the GPU when there is one, else the CPU; any other name as torch spells it."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)
