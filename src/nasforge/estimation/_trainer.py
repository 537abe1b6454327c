"""A lean supervised trainer with fidelity knobs, and the estimator built on it.

Data stay as in-memory tensors and batches are index slices, so the loop
costs about what a hand-written PyTorch loop costs (see
``benchmarks/trainer_overhead.py``).
"""

from __future__ import annotations

import math
import time
import traceback
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..core import Arch, Estimator, Fidelity, Result, TrialError, TrialStatus, UserInputError
from ._augment import augment_batch, check_augment
from ._metrics import count_flops, count_params, measure_latency_ms

OPTIMIZERS = ("adamw", "sgd")
PRECISIONS = ("auto", "fp32", "bf16")
PROBE_STEPS = 3  # timed steps per precision when ``precision="auto"`` decides on a CPU


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
        if not (isinstance(self.batch_size, int) and self.batch_size >= 2):
            raise UserInputError(f"The 'batch_size' parameter must be an int >= 2. Got {self.batch_size!r} instead.")
        if not (self.lr > 0 and math.isfinite(self.lr)):
            raise UserInputError(f"The 'lr' parameter must be a positive number. Got {self.lr!r} instead.")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def bf16_is_native(device: torch.device) -> bool:
    """Whether ``device`` computes in bfloat16 in hardware (AVX512-BF16/AMX CPUs, Ampere+ GPUs)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        return False


class PrecisionChooser:
    """Which precision each training step runs in.

    ``fp32`` and ``bf16`` are fixed (bf16 = autocast, weights stay fp32).
    ``auto`` with a time limit on hardware with native bfloat16 times the
    first real training steps in both (one warm-up step each, then
    ``PROBE_STEPS`` each) and keeps the faster: on this project's CPUs
    bfloat16 trains plain conv nets ~2x faster but depthwise-separable ones
    slower (docs/decisions.md). The probe steps are ordinary training steps,
    so nothing is wasted. Without a time limit ``auto`` stays in fp32, so an
    epoch-based training is reproducible from its seed.
    """

    def __init__(self, precision: str, device: torch.device, timed: bool):
        self.device = device
        native = bf16_is_native(device)
        if precision == "bf16" or (precision == "auto" and native and device.type == "cuda"):
            self.fixed: bool | None = True
        elif precision == "fp32" or not (native and timed):
            self.fixed = False
        else:
            self.fixed = None  # decided by timing the first steps
        self.seconds = {False: 0.0, True: 0.0}

    def use_bf16(self, step: int) -> bool:
        if self.fixed is not None:
            return self.fixed
        if step < 2 + 2 * PROBE_STEPS:  # fp32, bf16 (warm-up), then PROBE_STEPS of each
            return step % 2 == 1 if step < 2 else step >= 2 + PROBE_STEPS
        self.fixed = self.seconds[True] < self.seconds[False]
        return self.fixed

    def record(self, step: int, bf16: bool, seconds: float) -> None:
        if self.fixed is None and step >= 2:
            self.seconds[bf16] += seconds

    def autocast(self, bf16: bool):
        return torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bf16)


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


def make_optimizer(model: nn.Module, config: TrainConfig):
    if config.optimizer == "sgd":
        return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=0.9, nesterov=True,
                               weight_decay=config.weight_decay)
    return torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)


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


def train_model(model: nn.Module, x: torch.Tensor, y: torch.Tensor, epochs: int, config: TrainConfig,
                seed: int, val: tuple[torch.Tensor, torch.Tensor] | None = None,
                on_epoch: Callable[[dict], None] | None = None,
                time_limit: float | None = None, check_every: float | None = None,
                check: Callable[[nn.Module], bool] | None = None) -> list[dict[str, float]]:
    """Train in place; return the per-epoch curve (train loss and, with ``val``, val accuracy/loss).

    With ``time_limit`` (seconds of training: validation passes and ``check`` calls are not counted), training stops when that time is spent and
    the learning-rate schedule runs on time instead of steps, so the decay
    ends exactly at the limit (``epochs`` is then only an upper bound).
    The last, possibly partial, epoch is reported with a fractional
    ``epoch``. With ``check``, ``check(model)`` is called every
    ``check_every`` seconds of training (e.g. to report to a pruner); when it
    returns True, training stops there. Raises :class:`TrialError` if the
    loss stops being finite.
    """
    device = next(model.parameters()).device
    generator = torch.Generator().manual_seed(seed)
    n = len(y)
    steps_per_epoch = max(1, n // config.batch_size + (1 if n % config.batch_size >= 2 else 0))
    total_steps = steps_per_epoch * epochs
    channels_last = config.precision != "fp32" and x.dim() == 4
    if channels_last:  # faster convolutions on CPU and GPU (docs/decisions.md); undone at the end
        model.to(memory_format=torch.channels_last)
    precision = PrecisionChooser(config.precision, device, time_limit is not None)
    opt = make_optimizer(model, config)
    x, y = x.to(device), y.to(device)
    curve = []
    step = 0
    t_start = time.perf_counter()
    paused = 0.0  # seconds spent evaluating: not training time, so not counted against ``time_limit``
    next_check = check_every if check is not None else None
    out_of_time = False
    for epoch in range(1, epochs + 1):
        start = time.perf_counter()
        model.train()
        order = torch.randperm(n, generator=generator).to(device)
        total, seen = torch.zeros((), device=device), 0
        for i in range(0, n, config.batch_size):
            idx = order[i:i + config.batch_size]
            if len(idx) < 2:  # batch norm needs two samples
                continue
            if time_limit is None:
                factor = step_lr_factor(step, total_steps, config.warmup_fraction)
            else:
                progress = max(step / total_steps, (time.perf_counter() - t_start - paused) / time_limit)
                if progress >= 1.0:
                    out_of_time = True
                    break
                factor = lr_factor(progress, config.warmup_fraction)
            for group in opt.param_groups:
                group["lr"] = config.lr * factor
            xb = augment_batch(x[idx], config.augment, generator)
            xb = xb.contiguous(memory_format=torch.channels_last) if channels_last else xb
            loss = train_step(model, opt, precision, step, xb, y[idx], config.label_smoothing)
            step += 1
            total += loss * len(idx)
            seen += len(idx)
            if next_check is not None and time.perf_counter() - t_start - paused >= next_check:
                next_check += check_every
                check_start = time.perf_counter()
                stop = check(model)
                paused += time.perf_counter() - check_start
                model.train()
                if stop:
                    out_of_time = True  # stop here, as if the time had run out
                    break
        if seen == 0:  # the time ran out before this epoch began
            break
        train_loss = (total / seen).item()
        if not math.isfinite(train_loss):
            raise TrialError(f"training loss became {train_loss} in epoch {epoch}; "
                             f"try a lower learning rate (lr={config.lr})")
        done = epoch - 1 + seen / n if out_of_time else epoch
        point = {"epoch": round(done, 4), "train_loss": train_loss, "epoch_seconds": time.perf_counter() - start,
                 "bf16": float(bool(precision.fixed))}
        if val is not None:
            eval_start = time.perf_counter()
            point["val_accuracy"], point["val_loss"] = evaluate_model(model, *val, config.eval_batch_size)
            paused += time.perf_counter() - eval_start
        curve.append(point)
        if on_epoch is not None:
            on_epoch(point)
        if out_of_time:
            break
    if channels_last:
        model.to(memory_format=torch.contiguous_format)
    if not curve:
        raise TrialError(f"no training step fitted in the time limit of {time_limit:g}s" if time_limit else
                         "no training step ran: the training set needs at least 2 samples")
    return curve


def subset_indices(n: int, fraction: float) -> torch.Tensor:
    """The first ``fraction`` of a fixed permutation: every trial at a fidelity sees the same data."""
    keep = max(2, int(round(n * fraction)))
    return torch.randperm(n, generator=torch.Generator().manual_seed(0))[:keep].sort().values


class TrainingEstimator(Estimator):
    """Scores an architecture by training it at a fidelity and measuring its costs."""

    def __init__(self, space, dataset, config: TrainConfig | None = None, measure_latency: bool = True,
                 report_test: bool = False, val_samples: int | None = None, continue_runs: bool = False):
        """``report_test`` also scores each trained model on the test split: for building
        benchmark tables only (a search must never select on test accuracy).
        ``val_samples`` scores trials on the first that many validation samples (a
        fixed subset): evaluating big models on all of them can cost more than a
        short trial's training. ``continue_runs``: a time-limited trial of an
        architecture this estimator trained before (in this process) for fewer
        seconds continues that training instead of restarting (successive halving
        without restarts, see ``_continued.py``); the learning rate then warms up
        and stays constant, so any run can be continued further."""
        if val_samples is not None and (not isinstance(val_samples, int) or val_samples < 10):
            raise UserInputError(f"The 'val_samples' option must be an int >= 10. Got {val_samples!r} instead.")
        self.space = space
        self.dataset = dataset
        self.train_config = config or TrainConfig()
        self.measure_latency = measure_latency
        self.report_test = report_test
        self.val_samples = val_samples
        self.continue_runs = continue_runs
        from ._continued import RunCache  # _continued builds on this module

        self.runs = RunCache()

    def config(self):
        return {"train": self.train_config.to_dict(), "measure_latency": self.measure_latency,
                "val_samples": self.val_samples, "continue_runs": self.continue_runs}

    def evaluate(self, arch: Arch, fidelity: Fidelity, seed: int, on_epoch=None) -> Result:
        start = time.perf_counter()
        try:
            metrics, curve = self._train(arch, fidelity, seed, on_epoch)
            return Result(TrialStatus.OK, metrics, curve, fidelity.to_dict(), time.perf_counter() - start)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # recorded as a failed trial; the study goes on
            text = f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc()}"
            return Result(TrialStatus.FAILED, {}, [], fidelity.to_dict(), time.perf_counter() - start, text)

    def run_for(self, arch: Arch, fidelity: Fidelity):
        """The continued training behind ``arch``'s latest trial at ``fidelity``'s subset and width, or None."""
        return self.runs.get(self._run_key(arch, fidelity))

    @staticmethod
    def _run_key(arch, fidelity) -> str:
        return f"{arch.to_json()}|{fidelity.subset}|{fidelity.width_multiplier}"

    def _training_data(self, fidelity):
        """The training samples a trial at ``fidelity`` sees (a fixed subset when ``subset`` < 1)."""
        x, y = self.dataset.x_train, self.dataset.y_train
        if fidelity.subset < 1.0:
            idx = subset_indices(len(y), fidelity.subset)
            x, y = x[idx], y[idx]
        return x, y

    def _validation(self):
        ds = self.dataset
        return (ds.x_val[:self.val_samples], ds.y_val[:self.val_samples]) if self.val_samples else (ds.x_val, ds.y_val)

    def _continue(self, arch, fidelity, seed, config):
        """Continue (or start) the run of ``arch`` up to ``fidelity.seconds`` of training in total."""
        from ._continued import TrainingRun

        ds = self.dataset
        key = self._run_key(arch, fidelity)
        run = self.runs.get(key)
        if run is None or run.target_seconds >= fidelity.seconds:
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                model = self.space.build(arch, ds.input_shape, ds.num_classes, fidelity.width_multiplier)
            run = TrainingRun(model, config, seed)
        x, y = self._training_data(fidelity)
        t0 = time.perf_counter()
        train_loss = run.run(x, y, fidelity.seconds - run.target_seconds)
        train_seconds = time.perf_counter() - t0
        run.target_seconds = fidelity.seconds
        self.runs.put(key, run)
        point = {"epoch": round(run.samples / len(y), 4), "train_loss": train_loss, "epoch_seconds": train_seconds,
                 "bf16": float(bool(run.precision.fixed)), "train_seconds_total": run.seconds}
        point["val_accuracy"], point["val_loss"] = evaluate_model(run.eval_model(), *self._validation(),
                                                                 config.eval_batch_size)
        return run.model, [point], train_seconds, run

    def _train(self, arch, fidelity, seed, on_epoch):
        ds = self.dataset
        config = replace(self.train_config, **self.space.training_config(arch))
        if self.continue_runs and fidelity.seconds is not None:
            model, curve, train_seconds, run = self._continue(arch, fidelity, seed, config)
            if run.costs is None:  # measured once per run, in the default layout
                model = run.finish()
                run.costs = {"params": count_params(model), "flops": count_flops(model, ds.input_shape)}
                if self.measure_latency:
                    run.costs["latency_ms"] = measure_latency_ms(model, ds.input_shape)
            last = curve[-1]
            metrics = {"val_accuracy": last["val_accuracy"], "val_loss": last["val_loss"],
                       "train_loss": last["train_loss"], "train_seconds": train_seconds, **run.costs}
            if on_epoch is not None:
                on_epoch(last)
            if self.report_test:
                metrics["test_accuracy"] = evaluate_model(model, *ds.test(), config.eval_batch_size)[0]
            return metrics, curve
        device = resolve_device(config.device)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            model = self.space.build(arch, ds.input_shape, ds.num_classes, fidelity.width_multiplier).to(device)
            x, y = self._training_data(fidelity)
            t0 = time.perf_counter()
            val = self._validation()
            curve = train_model(model, x, y, fidelity.epochs, config, seed, val, on_epoch,
                                time_limit=fidelity.seconds)
            train_seconds = time.perf_counter() - t0
        last = curve[-1]
        metrics = {
            "val_accuracy": last["val_accuracy"],
            "val_loss": last["val_loss"],
            "train_loss": last["train_loss"],
            "params": count_params(model),
            "flops": count_flops(model, ds.input_shape),
            "train_seconds": train_seconds,
        }
        if self.measure_latency:
            metrics["latency_ms"] = measure_latency_ms(model, ds.input_shape)
        if self.report_test:
            metrics["test_accuracy"] = evaluate_model(model, *ds.test(), config.eval_batch_size)[0]
        return metrics, curve
