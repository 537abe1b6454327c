"""The two cost baselines every zero-cost proxy is compared with (Abdelfattah et al., ICLR 2021
report them beside the proxies): the parameter count and the FLOPs of one forward pass."""

from __future__ import annotations

from ..estimation import count_flops, count_params
from ._registry import register


@register("params")
def params(model, inputs, labels, loss, seed) -> float:
    """The number of parameters."""
    return float(count_params(model))


@register("flops")
def flops(model, inputs, labels, loss, seed) -> float:
    """FLOPs of one forward pass of one input (PyTorch's FLOP counter: a multiply-add counts 2),
    the same count as the benchmark tables' ``flops``."""
    return float(count_flops(model, inputs.shape[1:]))
