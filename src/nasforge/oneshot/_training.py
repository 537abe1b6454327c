"""What every supernet training shares: the weight optimiser and its schedule, the data order,
the epoch log, resource measurements, and checkpoints that resume bit for bit."""

from __future__ import annotations

import math
import os
import resource
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..core import UserInputError
from ._config import OneShotConfig

CHECKPOINT_FORMAT = "nasforge-oneshot-v1"


class ActivationMeter:
    """Bytes of the tensors autograd saves for the backward pass of one step (storages counted
    once): the activation memory a step needs, the part of training memory that grows with the
    number of paths run at once."""

    def __init__(self):
        self.storages: dict[int, int] = {}

    def __enter__(self):
        def pack(t):
            if isinstance(t, torch.Tensor) and t.device.type != "meta":
                s = t.untyped_storage()
                self.storages[s.data_ptr()] = s.nbytes()
            return t

        self._hooks = torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t)
        self._hooks.__enter__()
        return self

    def __exit__(self, *exc):
        self._hooks.__exit__(*exc)

    @property
    def megabytes(self) -> float:
        return sum(self.storages.values()) / 2**20


def peak_rss_mb() -> float:
    """This process's peak resident memory so far (MiB)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


class SupernetTraining:
    """Trains a supernet's weights epoch by epoch; subclasses add what the method learns besides.

    ``x_train, y_train`` is the data the search may learn from; ``x_val, y_val`` only reports
    progress. All randomness comes from one generator seeded by ``config.seed``, whose state is
    part of the checkpoint, so a search resumed from the checkpoint of epoch k repeats what the
    uninterrupted search does after epoch k.
    """

    def __init__(self, supernet: nn.Module, config: OneShotConfig, x_train, y_train, x_val, y_val):
        """``supernet``: an :class:`NB201Supernet` or the elastic MobileNet (any module whose paths the
        subclass chooses)."""
        self.supernet, self.config = supernet, config
        self.x_train, self.y_train, self.x_val, self.y_val = x_train, y_train, x_val, y_val
        self.generator = torch.Generator().manual_seed(config.seed)
        self.w_opt = torch.optim.SGD(supernet.parameters(), lr=config.lr, momentum=config.momentum,
                                     weight_decay=config.weight_decay)
        self.epoch = 0  # epochs completed
        self.history: list[dict] = []

    # -- one epoch ------------------------------------------------------------------------
    def epoch_lr(self, epoch: int) -> float:
        """Cosine annealing from ``lr`` to ``lr_min``, one value per epoch (DARTS's schedule)."""
        c = self.config
        return c.lr_min + 0.5 * (c.lr - c.lr_min) * (1 + math.cos(math.pi * epoch / c.epochs))

    def batches(self, n: int):
        """Index batches of a fresh permutation of ``range(n)`` (a last batch of one is dropped: batch norm)."""
        order = torch.randperm(n, generator=self.generator)
        size = self.config.batch_size
        return [order[i:i + size] for i in range(0, n, size) if n - i >= 2]

    def weight_step(self, loss: torch.Tensor) -> None:
        self.w_opt.zero_grad(set_to_none=True)
        loss.backward()
        if self.config.grad_clip > 0:
            torch.nn.utils.clip_grad_norm_(self.supernet.parameters(), self.config.grad_clip)
        self.w_opt.step()

    def run_epoch(self) -> dict:
        """Train one epoch; returns (and logs) what it measured."""
        if self.epoch >= self.config.epochs:
            raise UserInputError(f"the supernet has finished its {self.config.epochs} epochs")
        for group in self.w_opt.param_groups:
            group["lr"] = self.epoch_lr(self.epoch)
        self.supernet.train()
        wall, cpu = time.perf_counter(), time.process_time()
        record = {"epoch": self.epoch + 1, "lr": self.w_opt.param_groups[0]["lr"], **self._train_epoch()}
        record["seconds"] = time.perf_counter() - wall
        record["cpu_seconds"] = time.process_time() - cpu
        record["peak_rss_mb"] = peak_rss_mb()
        if torch.cuda.is_available() and next(self.supernet.parameters()).is_cuda:
            record["cuda_peak_mb"] = torch.cuda.max_memory_allocated() / 2**20
        record.update(self._report())
        self.epoch += 1
        self.history.append(record)
        return record

    def _train_epoch(self) -> dict:
        raise NotImplementedError

    def _report(self) -> dict:
        """End-of-epoch measurements (not timed as training)."""
        return {}

    @staticmethod
    def loss(logits, y):
        return F.cross_entropy(logits, y)

    # -- checkpoints --------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {"format": CHECKPOINT_FORMAT, "config": self.config.to_dict(), "epoch": self.epoch,
                "history": self.history, "supernet": self.supernet.state_dict(),
                "w_opt": self.w_opt.state_dict(), "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict) -> None:
        if state.get("format") != CHECKPOINT_FORMAT:
            raise UserInputError("not a nasforge one-shot checkpoint")
        if state["config"] != self.config.to_dict():
            diff = {k: (v, self.config.to_dict().get(k)) for k, v in state["config"].items()
                    if self.config.to_dict().get(k) != v}
            raise UserInputError(f"the supernet checkpoint was made with other settings ({diff}, saved vs now)")
        self.supernet.load_state_dict(state["supernet"])
        self.w_opt.load_state_dict(state["w_opt"])
        self.generator.set_state(state["generator"])
        self.epoch, self.history = state["epoch"], list(state["history"])

    def save(self, path: str | Path) -> Path:
        """Write the checkpoint atomically (a kill leaves the previous one intact)."""
        path = Path(path)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        torch.save(self.state_dict(), tmp)
        os.replace(tmp, path)
        return path

    def load(self, path: str | Path) -> None:
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:
            raise UserInputError(f"cannot read the supernet checkpoint {str(path)!r} ({type(exc).__name__}: "
                                 f"{exc}); move it away to restart the supernet training") from None
        self.load_state_dict(state)
