"""Cost metrics of a model: parameters, FLOPs and batch-1 CPU latency."""

from __future__ import annotations

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


def measure_latency_ms(model: nn.Module, input_shape: Sequence[int], repeats: int = 50, warmup: int = 5,
                       threads: int = 1) -> float:
    """CPU latency in milliseconds at batch 1, on ``threads`` threads, by nasforge's timing protocol
    (``_hardware.measure_latency``: the fastest of 10 rounds of timed runs after warm-up)."""
    from ._hardware import measure_latency

    return measure_latency(model, input_shape, threads=threads, repeats=repeats, warmup=warmup).latency_ms
