"""The elastic ``mobilenet-elastic`` supernet: sandwich-rule training, and sub-networks scored and
extracted with inherited weights.

The supernet is the space's own :class:`~nasforge.spaces._mobilenet.ElasticMobileNet` built at
the largest shape, so it holds every weight; an architecture of the space is the sub-network that
keeps the first ``depth`` blocks of each stage, the first channels of every layer and the centre
of every kernel, as in Once-for-All (Cai et al., ICLR 2020; plain centre cropping here, without
OFA's learned kernel transformation). ``supernet.extract(arch)`` turns it into an ordinary
standalone network of that architecture.

Training follows the sandwich rule of slimmable networks (Yu & Huang, ICCV 2019), as BigNAS (Yu
et al., ECCV 2020) uses it for one-shot search of MobileNet-like spaces: every step accumulates
the gradients of the largest, the smallest and a few random sub-networks, so both ends of the
space are trained at every step; with in-place distillation the smaller ones learn from the
largest one's predictions. Batch-norm statistics are shared while training, so a sub-network is
always scored after recalibrating them on a few training batches run through it alone (OFA and
BigNAS do the same).
"""

from __future__ import annotations

import math
import time

import torch
import torch.nn.functional as F
from torch import nn

from ..core import Arch, Estimator, Fidelity, Result, TrialStatus, UserInputError
from ..estimation import count_params, measure_latency_ms
from ..spaces import MobileNetSpace
from ._spos import recalibrate_batch_norm
from ._training import ActivationMeter, SupernetTraining


def smallest_arch(space: MobileNetSpace) -> Arch:
    """Every elastic dimension at its minimum, squeeze-excite off, the first activation."""
    return Arch(space.name, {d.name: d.choices[0] for d in space.decisions})


def calibration_set(x_train: torch.Tensor, batches: int, batch_size: int) -> list[torch.Tensor]:
    """``batches`` fixed training batches (seeded, the same on every call) for BN recalibration."""
    order = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(0))
    return [x_train[order[i * batch_size:(i + 1) * batch_size]] for i in range(batches)
            if i * batch_size + 2 <= len(order)]


def extract_subnet(supernet: nn.Module, arch: Arch, calibration) -> nn.Module:
    """``arch``'s standalone network with the supernet's weights, batch norms recalibrated on
    ``calibration``, in eval mode. The supernet's own statistics are left as they were."""
    model = supernet.extract(arch)
    recalibrate_batch_norm(model, calibration)
    return model


@torch.no_grad()
def accuracy_and_loss(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    model.eval()
    out = torch.cat([model(part) for part in x.split(1024)])
    return (out.argmax(1) == y).float().mean().item(), F.cross_entropy(out, y).item()


def require_elastic(supernet: nn.Module) -> MobileNetSpace:
    space = getattr(supernet, "space", None)
    if not isinstance(space, MobileNetSpace) or not hasattr(supernet, "set_active"):
        raise UserInputError("sandwich training needs the elastic supernet of 'mobilenet-elastic' "
                             "(space.supernet(input_shape, num_classes))")
    return space


class SandwichTraining(SupernetTraining):
    """Sandwich-rule training of an elastic ``mobilenet-elastic`` supernet on all the training data.

    Per step: the largest sub-network on the labels, then the smallest and ``sandwich_random``
    random ones, each on the labels or (``distill``) on the largest one's detached soft
    predictions; gradients are summed and one SGD step taken. Random sub-networks are drawn
    from the training's own generator, so checkpoints resume bit for bit. After each epoch the
    largest and smallest sub-networks are scored on the validation data (BN recalibrated).
    """

    def __init__(self, supernet, config, x_train, y_train, x_val, y_val):
        self.space = require_elastic(supernet)
        super().__init__(supernet, config, x_train, y_train, x_val, y_val)
        self.largest, self.smallest = self.space.largest(), smallest_arch(self.space)
        self.calibration = calibration_set(x_train, config.calibration_batches, config.batch_size)

    def random_arch(self) -> Arch:
        """A uniformly drawn architecture, from the training's generator."""
        return Arch(self.space.name, {d.name: d.choices[int(torch.randint(len(d.choices), (1,),
                                                                          generator=self.generator))]
                                      for d in self.space.decisions})

    def step_archs(self) -> list[Arch]:
        """The sub-networks one step trains, the teacher (the largest) first."""
        return [self.largest, self.smallest] + [self.random_arch() for _ in range(self.config.sandwich_random)]

    def step(self, x, y) -> float:
        """One sandwich step; the largest sub-network's loss."""
        self.w_opt.zero_grad(set_to_none=True)
        archs = self.step_archs()
        teacher, first = None, 0.0
        for arch in archs:
            logits = self.supernet.set_active(arch)(x)
            if teacher is None or not self.config.distill:
                loss = self.loss(logits, y)
            else:
                loss = F.kl_div(F.log_softmax(logits, 1), F.softmax(teacher, 1), reduction="batchmean")
            if teacher is None:
                teacher, first = logits.detach(), loss.item()
            loss.backward()
        if self.config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.supernet.parameters(), self.config.grad_clip)
        self.w_opt.step()
        self.supernet.set_active(self.largest)
        return first

    def _train_epoch(self) -> dict:
        total, seen, activation_mb = 0.0, 0, None
        for idx in self.batches(len(self.y_train)):
            with ActivationMeter() as meter:
                loss = self.step(self.x_train[idx], self.y_train[idx])
            activation_mb = meter.megabytes if activation_mb is None else activation_mb
            total, seen = total + loss * len(idx), seen + len(idx)
        return {"train_loss": total / seen, "activation_mb": activation_mb}

    def _report(self) -> dict:
        out = {}
        for key, arch in (("supernet_val_accuracy", self.largest), ("smallest_val_accuracy", self.smallest)):
            out[key] = accuracy_and_loss(extract_subnet(self.supernet, arch, self.calibration),
                                         self.x_val, self.y_val)[0]
        self.supernet.set_active(self.largest)
        return out


# which decisions each phase of progressive shrinking opens (the later phases keep the earlier ones open);
# "width" opens every decision still closed: expansion, width multiplier, squeeze-excite, activation, resolution
PHASE_OPENS = {"largest": (), "kernel": ("kernel",), "depth": ("depth",), "width": None}


class ProgressiveShrinking(SandwichTraining):
    """Progressive shrinking (Once-for-All, Cai et al., ICLR 2020) of the elastic supernet.

    ``config.phases()`` runs in order: ``largest`` trains the largest network alone on the labels;
    then ``kernel``, ``depth`` and ``width`` each open one more elastic dimension, and a step is the
    sandwich step (the largest on the labels, the smallest and ``sandwich_random`` random
    sub-networks of the space opened so far, by in-place distillation from the largest) with every
    closed decision at its largest value. OFA distils from a fixed, separately trained teacher;
    here the teacher is the largest sub-network itself, as in the sandwich rule. The learning rate
    restarts its cosine schedule at each phase (OFA's schedule restarts per phase too). The phase
    follows from the epoch, so a checkpoint resumes into the right phase; each epoch's record
    names its phase.
    """

    def __init__(self, supernet, config, x_train, y_train, x_val, y_val):
        super().__init__(supernet, config, x_train, y_train, x_val, y_val)
        self.plan = config.phases()

    def phase_of(self, epoch: int) -> tuple[str, int, int]:
        """``(phase, first epoch, epochs)`` of the 0-based ``epoch``."""
        start = 0
        for name, length in self.plan:
            if epoch < start + length:
                return name, start, length
            start += length
        return self.plan[-1][0], start - self.plan[-1][1], self.plan[-1][1]

    @property
    def phase(self) -> str:
        """The phase the next epoch trains in."""
        return self.phase_of(min(self.epoch, self.config.epochs - 1))[0]

    def open_decisions(self, phase: str) -> set[str]:
        """The names of the decisions sampled in ``phase`` (the others stay at the largest value)."""
        names: set[str] = set()
        for name, _ in self.plan:
            opens = PHASE_OPENS[name]
            names |= ({d.name for d in self.space.decisions} if opens is None else
                      {d.name for d in self.space.decisions if d.name.rsplit(".", 1)[-1] in opens})
            if name == phase:
                return names
        raise UserInputError(f"unknown progressive-shrinking phase {phase!r}")

    def epoch_lr(self, epoch: int) -> float:
        """Cosine from ``lr`` to ``lr_min`` within each phase."""
        _, start, length = self.phase_of(epoch)
        c = self.config
        return c.lr_min + 0.5 * (c.lr - c.lr_min) * (1 + math.cos(math.pi * (epoch - start) / length))

    def _limited(self, pick) -> Arch:
        """An architecture whose open decisions ``pick(decision)`` chooses, the others at the largest."""
        open_now = self.open_decisions(self.phase)
        return Arch(self.space.name, {d.name: pick(d) if d.name in open_now else self.largest[d.name]
                                      for d in self.space.decisions})

    def random_arch(self) -> Arch:
        """Uniform over the space opened so far, from the training's generator."""
        return self._limited(lambda d: d.choices[int(torch.randint(len(d.choices), (1,), generator=self.generator))])

    def phase_smallest(self) -> Arch:
        return self._limited(lambda d: d.choices[0])

    def step_archs(self) -> list[Arch]:
        if self.phase == "largest":
            return [self.largest]
        return [self.largest, self.phase_smallest()] + [self.random_arch()
                                                         for _ in range(self.config.sandwich_random)]

    def run_epoch(self) -> dict:
        phase = self.phase
        record = super().run_epoch()
        record["phase"] = phase
        return record


FINETUNE_LR = 0.01  # fine-tuning starts below the supernet's 0.025: the inherited weights are trained already


def finetune(model: nn.Module, config, x, y, epochs: int, seed: int = 0, lr: float = FINETUNE_LR) -> nn.Module:
    """``model`` (a sub-network with inherited weights) trained ``epochs`` more epochs with the
    supernet's recipe (SGD, momentum, weight decay, clipping, batch size from ``config``), the
    learning rate cosine-annealed per epoch from ``lr`` to ``config.lr_min``; in eval mode."""
    opt = torch.optim.SGD(model.parameters(), lr=lr, momentum=config.momentum, weight_decay=config.weight_decay)
    g = torch.Generator().manual_seed(seed)
    for epoch in range(epochs):
        for group in opt.param_groups:
            group["lr"] = config.lr_min + 0.5 * (lr - config.lr_min) * (1 + math.cos(math.pi * epoch / epochs))
        model.train()
        order = torch.randperm(len(y), generator=g)
        for i in range(0, len(y), config.batch_size):
            idx = order[i:i + config.batch_size]
            if len(idx) < 2:
                continue
            opt.zero_grad(set_to_none=True)
            F.cross_entropy(model(x[idx]), y[idx]).backward()
            if config.grad_clip > 0:
                torch.nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            opt.step()
    return model.eval()


class ElasticEstimator(Estimator):
    """Scores a ``mobilenet-elastic`` architecture by the validation accuracy of its sub-network
    extracted from a trained elastic supernet (BN recalibrated on ``calibration_batches`` fixed
    training batches), with its parameter count and, if ``measure_latency``, its median batch-1
    CPU latency. Deterministic in the accuracy; nothing trains, so fidelity and seed are unused."""

    def __init__(self, supernet, x_train, x_val, y_val, calibration_batches: int = 4, batch_size: int = 64,
                 measure_latency: bool = True):
        self.space = require_elastic(supernet)
        self.supernet, self.x_val, self.y_val = supernet, x_val, y_val
        self.calibration = calibration_set(x_train, calibration_batches, batch_size)
        self.calibration_batches, self.batch_size = calibration_batches, batch_size
        self.measure_latency = measure_latency

    def config(self):
        return {"supernet": "mobilenet-elastic", "calibration_batches": self.calibration_batches,
                "batch_size": self.batch_size, "measure_latency": self.measure_latency}

    def costs(self, arch: Arch, metrics) -> dict[str, float]:
        """Parameters and FLOPs of ``arch``'s network (built, nothing extracted), so a study rejects an
        architecture over a limit before scoring it; latency is checked on the result."""
        wanted = set(metrics) & {"params", "flops"}
        if not wanted:
            return {}
        from ..estimation import count_flops

        model = self.space.build(arch, self.supernet.input_shape, self.supernet.largest.num_classes)
        out = {"params": float(count_params(model))} if "params" in wanted else {}
        if "flops" in wanted:
            out["flops"] = float(count_flops(model, self.supernet.input_shape))
        return out

    def inherited(self, arch: Arch) -> nn.Module:
        """``arch``'s standalone network with inherited weights, BN recalibrated."""
        self.space.validate(arch)
        return extract_subnet(self.supernet, arch, self.calibration)

    def evaluate(self, arch: Arch, fidelity: Fidelity, seed: int, on_epoch=None) -> Result:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            model = self.inherited(arch)
            accuracy, loss = accuracy_and_loss(model, self.x_val, self.y_val)
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            return Result(TrialStatus.FAILED, fidelity=fidelity.to_dict(), cost_s=time.perf_counter() - wall,
                          error=f"{type(exc).__name__}: {exc}")
        metrics = {"val_accuracy": accuracy, "val_loss": loss, "params": count_params(model)}
        if self.measure_latency:
            metrics["latency_ms"] = measure_latency_ms(model, self.supernet.input_shape, repeats=10, warmup=2)
        metrics["cpu_seconds"] = time.process_time() - cpu
        return Result(TrialStatus.OK, metrics, [], fidelity.to_dict(), time.perf_counter() - wall)


__all__ = ["ElasticEstimator", "FINETUNE_LR", "PHASE_OPENS", "ProgressiveShrinking", "SandwichTraining", "finetune",
           "accuracy_and_loss", "calibration_set", "extract_subnet",
           "smallest_arch"]
