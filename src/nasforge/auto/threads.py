"""How many CPU threads ``auto`` trains on: whichever of 1 or all trains the model faster here."""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from contextlib import contextmanager

import torch
import torch.nn.functional as F


def fastest_thread_count(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int,
                         steps: int = 4) -> int:
    """1 or all of torch's threads, whichever trains ``model`` faster here. Small
    models train faster on one thread, and extra threads collapse when other
    processes load the cores; timing a few steps costs about a second."""
    speeds = thread_speeds(model, x, y, batch_size, steps)
    return max(speeds, key=speeds.get)


def thread_speeds(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int,
                  steps: int = 4) -> dict[int, float]:
    """Training samples per second of ``model`` on 1 and on all of torch's threads (off the CPU:
    one entry, all threads, speed NaN: not measured)."""
    candidates = sorted({1, torch.get_num_threads()})
    if next(model.parameters()).device.type != "cpu":
        return {candidates[-1]: float("nan")}
    probe = copy.deepcopy(model).train()
    opt = torch.optim.SGD(probe.parameters(), lr=0.0)
    xb, yb = x[:batch_size], y[:batch_size]
    speeds = {}
    with using_threads(torch.get_num_threads()):
        for n in candidates:
            torch.set_num_threads(n)
            for i in range(steps + 1):
                if i == 1:
                    start = time.perf_counter()
                loss = F.cross_entropy(probe(xb), yb)
                opt.zero_grad()
                loss.backward()
                opt.step()
            speeds[n] = steps * len(yb) / max(1e-9, time.perf_counter() - start)
    return speeds


@contextmanager
def using_threads(n: int) -> Iterator[None]:
    """torch trains on ``n`` threads inside the block; the previous count is restored after it."""
    previous = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
