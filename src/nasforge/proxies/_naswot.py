"""NASWOT (Mellor et al., "Neural Architecture Search without Training", ICML 2021): how
distinct the binary activation patterns of a batch are in an untrained network."""

from __future__ import annotations

import math

import torch

from ._common import ACTIVATIONS, hooks
from ._registry import register


@register("naswot")
def naswot(model, inputs, labels, loss, seed) -> float:
    """log |det K_H| with K_H[i, j] = the number of rectified units on which inputs i and j agree
    (both active or both inactive), i.e. N_units minus the Hamming distance of their binary codes.

    A unit's code is the sign of its pre-activation (input > 0) at every activation module
    (ReLU and its relatives), in training mode as Mellor et al. (batch normalisation uses the
    batch's statistics). -inf when two inputs share a code (K singular): the network cannot
    tell them apart.
    """
    model.train()
    n = len(inputs)
    kernel = torch.zeros(n, n, dtype=torch.float64, device=inputs.device)
    modules = [m for m in model.modules() if isinstance(m, ACTIVATIONS)]
    if not modules:
        raise ValueError("naswot needs activation modules (nn.ReLU and relatives) to read codes from; "
                         "this model has none")

    def count(module, args):
        code = (args[0].detach().reshape(n, -1) > 0).double()
        kernel.add_(code @ code.T + (1 - code) @ (1 - code).T)

    with torch.no_grad(), hooks(modules, count, kind="pre"):
        model(inputs)
    sign, logdet = torch.linalg.slogdet(kernel)
    return float(logdet) if float(sign) > 0 else -math.inf
