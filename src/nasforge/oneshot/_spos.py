"""Single-path one-shot (SPOS, Guo et al., ECCV 2020): train the supernet one uniformly drawn path
per step, then score any cell by its path through the shared weights, as an ``Estimator``, so every
ask/tell strategy (random, evolution, REINFORCE, BANANAS, local) searches the supernet through the
normal study loop.

A path's batch norms see statistics of every path during training, so before scoring, the
statistics of all batch norms are re-estimated on a few fixed training batches run through that
path alone (SPOS's BN recalibration); without it the ranking degrades badly.
"""

from __future__ import annotations

import time

import torch
from torch import nn

from ..core import Arch, Estimator, Fidelity, Result, TrialStatus
from ..estimation import count_params
from . import _supernet as sn
from ._training import ActivationMeter, SupernetTraining


class SPOSTraining(SupernetTraining):
    """Uniform single-path training of the supernet's weights on all the training data."""

    def _train_epoch(self) -> dict:
        total, seen, activation_mb = 0.0, 0, None
        for idx in self.batches(len(self.y_train)):
            choice = torch.randint(0, sn.NUM_OPS, (sn.NUM_EDGES,), generator=self.generator).tolist()
            with ActivationMeter() as meter:
                loss = self.loss(self.supernet(self.x_train[idx], choice=choice), self.y_train[idx])
                self.weight_step(loss)
            activation_mb = meter.megabytes if activation_mb is None else activation_mb
            total, seen = total + loss.item() * len(idx), seen + len(idx)
        return {"train_loss": total / seen, "activation_mb": activation_mb}


@torch.no_grad()
def recalibrate_batch_norm(model: nn.Module, batches, **forward) -> None:
    """Replace every batch norm's running statistics by their exact average over ``batches``
    run through ``model(x, **forward)`` in training mode."""
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    momenta = [m.momentum for m in norms]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average
    model.train()
    try:
        for x in batches:
            model(x, **forward)
    finally:
        for m, momentum in zip(norms, momenta):
            m.momentum = momentum
    model.eval()


class SupernetEstimator(Estimator):
    """Scores a cell (``nb201``, or ``darts`` on a ``DartsSupernet``) by the validation accuracy of its path through a trained supernet,
    after BN recalibration on ``calibration_batches`` fixed training batches. Deterministic (the same
    cell always scores the same), so the seed is unused; the fidelity is ignored (nothing trains)."""

    def __init__(self, supernet: sn.NB201Supernet, x_train, x_val, y_val, calibration_batches: int = 4,
                 batch_size: int = 64):
        self.supernet, self.x_val, self.y_val = supernet, x_val, y_val
        order = torch.randperm(len(x_train), generator=torch.Generator().manual_seed(0))
        self.calibration = [x_train[order[i * batch_size:(i + 1) * batch_size]] for i in range(calibration_batches)
                            if i * batch_size + 2 <= len(order)]
        self.space = supernet.space
        self.calibration_batches, self.batch_size = calibration_batches, batch_size

    def config(self):
        return {"supernet": self.space.name, "calibration_batches": self.calibration_batches, "batch_size": self.batch_size}

    def score(self, arch: Arch) -> tuple[float, float]:
        """(validation accuracy, validation loss) of ``arch``'s path."""
        self.space.validate(arch)
        choice = self.supernet.arch_to_choice(arch)
        net = self.supernet
        recalibrate_batch_norm(net, self.calibration, choice=choice)
        with torch.no_grad():
            out = torch.cat([net(x, choice=choice) for x in self.x_val.split(1024)])
        loss = nn.functional.cross_entropy(out, self.y_val).item()
        return (out.argmax(1) == self.y_val).float().mean().item(), loss

    def evaluate(self, arch: Arch, fidelity: Fidelity, seed: int, on_epoch=None) -> Result:
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            accuracy, loss = self.score(arch)
        except KeyboardInterrupt:
            raise
        except Exception as exc:
            return Result(TrialStatus.FAILED, fidelity=fidelity.to_dict(), cost_s=time.perf_counter() - wall,
                          error=f"{type(exc).__name__}: {exc}")
        params = count_params(self.space.build(arch, self.supernet.input_shape, self.supernet.num_classes))
        metrics = {"val_accuracy": accuracy, "val_loss": loss, "params": params,
                   "cpu_seconds": time.process_time() - cpu}
        return Result(TrialStatus.OK, metrics, [], fidelity.to_dict(), time.perf_counter() - wall)


__all__ = ["ActivationMeter", "SPOSTraining", "SupernetEstimator", "recalibrate_batch_norm"]
