"""Training that pauses and continues: successive halving without restarts.

Hyperband and ASHA assume a promoted candidate *continues* its training;
restarting it from scratch at every rung wastes most of the search time,
and the winner's search training is thrown away before the final run. A
:class:`TrainingRun` keeps the model, the optimizer, the precision choice,
the data order and the step count between calls to :meth:`TrainingRun.run`,
so a promotion trains only the extra seconds and the winner of a search
goes on into its final training (on more data, with the learning rate
decaying to zero at the deadline).

The schedule is warm-up, then constant, then a decay only at the very end
(warmup-stable-decay): a constant learning rate can be continued by any
amount, so every rung compares candidates on the same footing, and only the
final phase knows when training ends.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict
from collections.abc import Callable

import torch
from torch import nn
from torch.optim.swa_utils import AveragedModel

from ..core import TrialError
from ._config import TrainConfig, resolve_device
from ._loop import LossTally, Loop

WARMUP_STEPS = 100
EMA_DECAY = 0.99  # evaluation weights: an average over the last ~100 steps (see TrainingRun.eval_model)
STRETCH_MIN_SHARE = 0.5  # a run stretches past its seconds only if it would see this share of the samples asked


def stretch_pays(spent: float, seen: int, min_samples: int, longest: float) -> bool:
    """Whether a run past its seconds should go on towards ``min_samples``: only if, at the
    speed it trained so far, it would see at least ``STRETCH_MIN_SHARE`` of them within
    ``longest`` seconds. A much slower net spends the whole stretch and is still judged far
    short of the samples asked (a 90k dilated-conv mutation saw 0.17 of 0.75 epochs in 51 s of
    a 20.5 s rung, Fashion-MNIST, fp32): its look costs 2.5x and is no fairer, so it stops at
    its seconds. The ~300k priors in fp32 reach 0.56-0.66 of 0.75 epochs within the stretch
    and keep it (docs/decisions.md)."""
    if seen >= min_samples or spent >= longest or seen <= 0:
        return False
    return seen * longest / spent >= STRETCH_MIN_SHARE * min_samples


def stable_lr(seconds_done: float, step: int) -> float:
    """Warm-up over the first ``WARMUP_STEPS`` steps, then constant: the search phase."""
    return min(1.0, (step + 1) / WARMUP_STEPS)


def decay_lr(start_s: float, end_s: float) -> Callable[[float, int], float]:
    """Constant until ``start_s`` seconds of training, then cosine to zero at ``end_s``: the final phase."""
    def factor(seconds_done: float, step: int) -> float:
        warm = min(1.0, (step + 1) / WARMUP_STEPS)
        if seconds_done <= start_s:
            return warm
        progress = min(1.0, (seconds_done - start_s) / max(1e-9, end_s - start_s))
        return warm * 0.5 * (1.0 + math.cos(math.pi * progress))
    return factor


@torch.no_grad()
def _ema_update(averaged: list[torch.Tensor], current: list[torch.Tensor], n_averaged) -> None:
    """Exponential moving average whose horizon grows with the steps taken (``n/(n+9)``, at
    most ``EMA_DECAY``), so that a short run is not scored on its initial weights."""
    n = int(n_averaged)
    decay = min(EMA_DECAY, (1 + n) / (10 + n))
    floats = [(a, c) for a, c in zip(averaged, current) if a.is_floating_point()]
    if floats:
        torch._foreach_lerp_([a for a, _ in floats], [c for _, c in floats], 1.0 - decay)
    for a, c in zip(averaged, current):  # e.g. batch norm's step counter
        if not a.is_floating_point():
            a.copy_(c)


class TrainingRun(Loop):
    """One model's training, continued across calls to :meth:`run`."""

    def __init__(self, model: nn.Module, config: TrainConfig, seed: int):
        super().__init__(model.to(resolve_device(config.device)), config, seed, timed=True)
        self.seconds = 0.0  # training seconds so far, over every call
        self.samples = 0
        self._ema: AveragedModel | None = None
        self.target_seconds = 0.0  # the training seconds its latest trial asked for (an estimator's bookkeeping)
        self.costs: dict | None = None  # params, FLOPs, latency: measured once per run

    def run(self, x: torch.Tensor, y: torch.Tensor, seconds: float,
            lr_factor: Callable[[float, int], float] = stable_lr, min_samples: int = 0,
            max_seconds: float | None = None) -> float:
        """Train ``seconds`` more on ``x, y``; return the mean training loss of this call.

        ``lr_factor(seconds_done, step)`` scales ``config.lr``; the data order is
        a fresh permutation whenever the previous one is used up (or the data
        changed size, e.g. validation data joining for the final phase).
        ``min_samples``: go on past ``seconds`` until this call has trained on that many
        samples, or for ``max_seconds`` in all (a slow net's first look, see the estimator),
        and only while its speed so far says it will get there in time (:func:`stretch_pays`)."""
        x, y = self.start(x, y)
        n = len(y)
        tally = LossTally(self.device)
        longest = seconds if max_seconds is None else max(seconds, max_seconds)
        start = time.perf_counter()
        while ((spent := time.perf_counter() - start) < seconds
               or stretch_pays(spent, tally.seen, min_samples, longest)):
            if self.epoch_over(n):
                self.new_epoch(n)
            self.train_batch(x, y, lr_factor(self.seconds + spent, self.step), tally)
            self._average()
        self.seconds += time.perf_counter() - start
        self.samples += tally.seen
        if tally.seen == 0:
            raise TrialError(f"no training step fitted in {seconds:g}s")
        return tally.mean(self.config.lr)

    def _average(self) -> None:
        if self._ema is None:
            self._ema = AveragedModel(self.model, multi_avg_fn=_ema_update, use_buffers=True)
        else:
            self._ema.update_parameters(self.model)

    def eval_model(self) -> nn.Module:
        """The weights to *score* a paused run with: an exponential moving average of the
        last ~100 steps. At a constant learning rate the raw weights jitter (validation
        accuracy of one prior read 0.48 after 12 s, 0.74 for its sibling); the average
        is what a decayed learning rate would have settled near."""
        return self._ema.module if self._ema is not None else self.model


class RunCache:
    """The most recent training runs by architecture, so a promotion continues one (bounded memory)."""

    def __init__(self, capacity: int = 64):
        self.capacity = capacity
        self._runs: OrderedDict[str, TrainingRun] = OrderedDict()

    def get(self, key: str) -> TrainingRun | None:
        run = self._runs.get(key)
        if run is not None:
            self._runs.move_to_end(key)
        return run

    def put(self, key: str, run: TrainingRun) -> None:
        self._runs[key] = run
        self._runs.move_to_end(key)
        while len(self._runs) > self.capacity:
            self._runs.popitem(last=False)
