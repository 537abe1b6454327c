"""Cost metrics of a model: parameters, FLOPs and batch-1 CPU latency."""

from __future__ import annotations

import copy
import statistics
import time
from collections.abc import Sequence

import torch
from torch import nn


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_flops(model: nn.Module, input_shape: Sequence[int]) -> int:
    """FLOPs of one forward pass at batch 1, from PyTorch's own FLOP counter."""
    from torch.utils.flop_counter import FlopCounterMode

    device = next(model.parameters(), torch.empty(0)).device
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode(), FlopCounterMode(display=False) as counter:
            model(torch.zeros(1, *input_shape, device=device))
    finally:
        model.train(was_training)
    return int(counter.get_total_flops())


def measure_latency_ms(model: nn.Module, input_shape: Sequence[int], repeats: int = 30, warmup: int = 5,
                       threads: int = 1) -> float:
    """Median CPU latency in milliseconds at batch 1 after warm-up, on ``threads`` threads."""
    cpu_model = copy.deepcopy(model).cpu().eval()
    x = torch.randn(1, *input_shape, generator=torch.Generator().manual_seed(0))
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        with torch.inference_mode():
            for _ in range(warmup):
                cpu_model(x)
            times = []
            for _ in range(repeats):
                start = time.perf_counter()
                cpu_model(x)
                times.append(time.perf_counter() - start)
    finally:
        torch.set_num_threads(previous)
    return statistics.median(times) * 1000.0
