"""Which precision a training step runs in: fp32, or bfloat16 autocast where it is faster."""

from __future__ import annotations

import torch

PROBE_STEPS = 3  # timed steps per precision when ``precision="auto"`` decides on a CPU


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
