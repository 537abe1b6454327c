"""Epoch-based training (a trial's fidelity in epochs, or seconds with a schedule that ends then)."""

from __future__ import annotations

import math
import time
from collections.abc import Callable

import torch
from torch import nn

from ..core import TrialError
from ._config import TrainConfig
from ._loop import LossTally, Loop, evaluate_model


def lr_factor(progress: float, warmup_fraction: float) -> float:
    """Linear warm-up, then cosine decay to zero, as a function of training progress in [0, 1]."""
    if progress < warmup_fraction:
        return max(progress / warmup_fraction, 1e-3)
    rest = (progress - warmup_fraction) / max(1e-9, 1.0 - warmup_fraction)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, rest)))


def step_lr_factor(step: int, total_steps: int, warmup_fraction: float) -> float:
    """The same schedule counted in optimizer steps (used when there is no time limit)."""
    warmup = max(1, int(total_steps * warmup_fraction))
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total_steps - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


class _Schedule:
    """When a :func:`train_model` call stops, its learning rate at each step, and its checks.

    Time is training time: validation passes and ``check`` calls are paused
    time, not counted against the limit."""

    def __init__(self, config: TrainConfig, total_steps: int, time_limit: float | None,
                 check: Callable[[nn.Module], bool] | None, check_every: float | None):
        self.warmup, self.total_steps, self.time_limit = config.warmup_fraction, total_steps, time_limit
        self.check, self.check_every = check, check_every
        self.next_check = check_every if check is not None else None
        self.start, self.paused = time.perf_counter(), 0.0

    def seconds(self) -> float:
        return time.perf_counter() - self.start - self.paused

    def factor(self, step: int) -> float | None:
        """The learning-rate factor of ``step``, or None once the time limit is spent."""
        if self.time_limit is None:
            return step_lr_factor(step, self.total_steps, self.warmup)
        progress = max(step / self.total_steps, self.seconds() / self.time_limit)
        return None if progress >= 1.0 else lr_factor(progress, self.warmup)

    def pause(self, fn, *args):
        """``fn(*args)``, its time not counted as training."""
        start = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.paused += time.perf_counter() - start

    def check_stops(self, model: nn.Module) -> bool:
        """Call ``check(model)`` when it is due; True when it says stop."""
        if self.next_check is None or self.seconds() < self.next_check:
            return False
        self.next_check += self.check_every
        stop = self.pause(self.check, model)
        model.train()
        return stop


def _epoch(loop: Loop, x: torch.Tensor, y: torch.Tensor, schedule: _Schedule) -> tuple[LossTally, bool]:
    """One pass over a fresh permutation of ``x, y``: (its losses, whether the training stops here)."""
    n = len(y)
    loop.new_epoch(n)
    tally = LossTally(loop.device)
    while not loop.epoch_over(n):
        factor = schedule.factor(loop.step)
        if factor is None:
            return tally, True
        loop.train_batch(x, y, factor, tally)
        if schedule.check_stops(loop.model):
            return tally, True  # stop here, as if the time had run out
    return tally, False


def train_model(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, config: TrainConfig,
                seed: int, val: tuple[torch.Tensor, torch.Tensor] | None = None,
                on_epoch: Callable[[dict], None] | None = None,
                time_limit: float | None = None, check_every: float | None = None,
                check: Callable[[nn.Module], bool] | None = None) -> list[dict[str, float]]:
    """Train in place; return the per-epoch curve (train loss and, with ``val``, val accuracy/loss).

    With ``time_limit`` (seconds of training: validation passes and ``check``
    calls are not counted), training stops when that time is spent and the
    learning-rate schedule runs on time instead of steps, so the decay ends
    exactly at the limit (``epochs`` is then only an upper bound). The last,
    possibly partial, epoch is reported with a fractional ``epoch``. With
    ``check``, ``check(model)`` is called every ``check_every`` seconds of
    training (e.g. to report to a pruner); when it returns True, training
    stops there. Raises :class:`TrialError` if the loss stops being finite.
    """
    loop = Loop(model, config, seed, timed=time_limit is not None)
    x, y = loop.start(x, y)
    n = len(y)
    steps_per_epoch = max(1, n // config.batch_size + (1 if n % config.batch_size >= 2 else 0))
    schedule = _Schedule(config, steps_per_epoch * epochs, time_limit, check, check_every)
    curve = []
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        model.train()
        tally, stopped = _epoch(loop, x, y, schedule)
        if tally.seen == 0:  # the time ran out before this epoch began
            break
        point = {"epoch": round(epoch - 1 + tally.seen / n if stopped else epoch, 4),
                 "train_loss": tally.mean(config.lr, f" in epoch {epoch}"),
                 "epoch_seconds": time.perf_counter() - start, "bf16": float(bool(loop.precision.fixed))}
        if val is not None:
            point["val_accuracy"], point["val_loss"] = schedule.pause(evaluate_model, model, *val,
                                                                      config.eval_batch_size)
        curve.append(point)
        if on_epoch is not None:
            on_epoch(point)
        if stopped:
            break
    loop.finish()
    if not curve:
        raise TrialError(f"no training step fitted in the time limit of {time_limit:g}s" if time_limit else
                         "no training step ran: the training set needs at least 2 samples")
    return curve


def subset_indices(n: int, fraction: float) -> torch.Tensor:
    """The first ``fraction`` of a fixed permutation: every trial at a fidelity sees the same data."""
    keep = max(2, int(round(n * fraction)))
    return torch.randperm(n, generator=torch.Generator().manual_seed(0))[:keep].sort().values
