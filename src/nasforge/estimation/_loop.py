"""The one training loop: every training in nasforge steps through a :class:`Loop`.

A trial's epochs (:func:`~nasforge.estimation.train_model`), a continued
run (:class:`~nasforge.estimation.TrainingRun`) and the final training of
``nasforge train`` and ``nasforge auto`` differ only in when they stop and
how the learning rate moves. The batches, the augmentation, the memory
layout, the precision and the step itself are this module's, so a seed
gives the same batches however the training is driven.

Data stay as in-memory tensors and batches are index slices, so the loop
costs about what a hand-written PyTorch loop costs (see
``benchmarks/trainer_overhead.py``).
"""

from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F
from torch import nn

from ..core import TrialError
from ._augment import augment_batch
from ._config import TrainConfig
from ._precision import PrecisionChooser


def make_optimizer(model: nn.Module, config: TrainConfig):
    if config.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=0.9, nesterov=True,
                               weight_decay=config.weight_decay)
    return torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)


def train_step(model: nn.Module, opt, precision: PrecisionChooser, step: int, xb: torch.Tensor, yb: torch.Tensor,
               label_smoothing: float) -> torch.Tensor:
    """One optimisation step in the precision ``precision`` picks for ``step``; returns the (detached) loss."""
    bf16 = precision.use_bf16(step)
    start = time.perf_counter()
    with precision.autocast(bf16):
        loss = F.cross_entropy(model(xb).float(), yb, label_smoothing=label_smoothing)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    precision.record(step, bf16, time.perf_counter() - start)
    return loss.detach()


@torch.inference_mode()
def evaluate_model(model: nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int = 1024) -> tuple[float, float]:
    """(accuracy, mean cross-entropy) of ``model`` on ``x, y``."""
    first = next(model.parameters(), None)
    device = first.device if first is not None else torch.device("cpu")
    model.eval()
    correct, loss = 0, 0.0
    for i in range(0, len(y), batch_size):
        xb, yb = x[i:i + batch_size].to(device), y[i:i + batch_size].to(device)
        out = model(xb)
        loss += F.cross_entropy(out, yb, reduction="sum").item()
        correct += (out.argmax(1) == yb).sum().item()
    return correct / len(y), loss / len(y)


class LossTally:
    """The mean training loss of a stretch of steps (an epoch, or one call of a continued run)."""

    def __init__(self, device: torch.device):
        self.total = torch.zeros((), device=device)  # summed on the device: no sync per step
        self.seen = 0

    def add(self, loss: torch.Tensor, count: int) -> None:
        self.total += loss * count
        self.seen += count

    def mean(self, lr: float, where: str = "") -> float:
        """The mean loss; a :class:`TrialError` if it is not finite (the training diverged at ``lr``)."""
        mean = (self.total / self.seen).item()
        if not math.isfinite(mean):
            raise TrialError(f"training loss became {mean}{where}; try a lower learning rate (lr={lr})")
        return mean


class Loop:
    """One model's optimisation state between steps: optimizer, precision choice, data order, step count.

    Batches are consecutive slices of a permutation drawn from the training's
    own generator (which also drives augmentation); an epoch is one
    permutation, over once fewer than two of its samples are left (batch
    norm needs two) or the data changed size.
    """

    def __init__(self, model: nn.Module, config: TrainConfig, seed: int, timed: bool):
        self.model, self.config = model, config
        self.device = next(model.parameters()).device
        self.opt = make_optimizer(model, config)
        self.precision = PrecisionChooser(config.precision, self.device, timed)
        self.generator = torch.Generator().manual_seed(seed)
        self.channels_last: bool | None = None  # decided by the first data's shape
        self.step = 0
        self._order: torch.Tensor | None = None
        self._position = 0

    def start(self, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x, y`` on the model's device, the model in training mode and, for image batches
        unless fp32 is asked for, in channels-last layout: faster convolutions on CPU and
        GPU (docs/decisions.md); :meth:`finish` undoes it."""
        if self.channels_last is None:
            self.channels_last = self.config.precision != "fp32" and x.dim() == 4
            if self.channels_last:
                self.model.to(memory_format=torch.channels_last)
        self.model.train()
        return x.to(self.device), y.to(self.device)

    def epoch_over(self, n: int) -> bool:
        return self._order is None or len(self._order) != n or self._position + 2 > n

    def new_epoch(self, n: int) -> None:
        self._order = torch.randperm(n, generator=self.generator).to(self.device)
        self._position = 0

    def train_batch(self, x: torch.Tensor, y: torch.Tensor, lr_factor: float, tally: LossTally) -> None:
        """One step on the epoch's next batch at ``config.lr * lr_factor``; its loss goes to ``tally``."""
        config = self.config
        idx = self._order[self._position:self._position + config.batch_size]
        self._position += config.batch_size
        for group in self.opt.param_groups:
            group["lr"] = config.lr * lr_factor
        xb = augment_batch(x[idx], config.augment, self.generator)
        xb = xb.contiguous(memory_format=torch.channels_last) if self.channels_last else xb
        loss = train_step(self.model, self.opt, self.precision, self.step, xb, y[idx], config.label_smoothing)
        self.step += 1
        tally.add(loss, len(idx))

    def finish(self) -> nn.Module:
        """The model in the default memory layout (for saving, export and latency)."""
        if self.channels_last:
            self.model.to(memory_format=torch.contiguous_format)
            self.channels_last = None
        return self.model
