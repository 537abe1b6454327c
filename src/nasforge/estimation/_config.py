"""Training settings and where training runs."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

import torch

from ..core import UserInputError, check_choice, check_float, check_int
from ._augment import check_augment

OPTIMIZERS = ("adamw", "sgd")
PRECISIONS = ("auto", "fp32", "bf16")
DEVICE_TYPES = ("cpu", "cuda", "mps")
OPTION = "training option"


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
        """Every setting is checked here, so a value that cannot train fails before the first trial."""
        check_choice(None, "optimizer", self.optimizer, OPTIMIZERS, kind=OPTION)
        check_choice(None, "precision", self.precision, PRECISIONS, kind=OPTION)
        check_augment(self.augment)
        check_int(None, "batch_size", self.batch_size, low=2, kind=OPTION)
        check_int(None, "eval_batch_size", self.eval_batch_size, low=1, kind=OPTION)
        check_float(None, "lr", self.lr, low=0, open_low=True, kind=OPTION, want="a positive number")
        check_float(None, "weight_decay", self.weight_decay, low=0, kind=OPTION)
        check_float(None, "label_smoothing", self.label_smoothing, low=0, high=1, kind=OPTION)
        check_float(None, "warmup_fraction", self.warmup_fraction, low=0, high=1, kind=OPTION)
        _parse_device(self.device)

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> TrainConfig:
        """A config from user options (``--train-option``, a study's spec); an unknown name is answered
        with the known ones and their defaults rather than Python's keyword-argument error."""
        known = {f.name: f.default for f in fields(cls)}
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise UserInputError(f"unknown training option(s) {unknown}; known: "
                                 f"{', '.join(f'{k} (default {v!r})' for k, v in known.items())}")
        return cls(**options)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _parse_device(name: Any) -> torch.device | None:
    """``name`` as a torch device (None for ``"auto"``), or an error saying which names work."""
    if name == "auto":
        return None
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError, ValueError):
        device = None
    if device is None or device.type not in DEVICE_TYPES:
        raise UserInputError(f"The 'device' {OPTION} must be 'auto', 'cpu', 'cuda', 'cuda:N' or 'mps'. "
                             f"Got {name!r} instead.")
    return device


def resolve_device(name: str) -> torch.device:
    """``"auto"``: the GPU when there is one, else the CPU; any other name as torch spells it, if this
    machine has that device (checked before a search starts: otherwise every trial would fail)."""
    device = _parse_device(name)
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    count = (torch.cuda.device_count() if torch.cuda.is_available() else 0) if device.type == "cuda" else 0
    if device.type == "cuda" and (device.index or 0) >= count:
        raise UserInputError(f"training device {name!r} is not available: this machine has {count} CUDA "
                             f"device(s) (torch {torch.__version__}); use device=auto or device=cpu")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise UserInputError(f"training device {name!r} is not available on this machine; use device=auto or "
                             "device=cpu")
    return device
