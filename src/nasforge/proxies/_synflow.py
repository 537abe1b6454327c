"""SynFlow (Tanaka et al., "Pruning neural networks without any data by iteratively conserving
synaptic flow", NeurIPS 2020) as a zero-cost proxy (Abdelfattah et al., ICLR 2021)."""

from __future__ import annotations

import torch

from ._common import strip_normalization, weights
from ._registry import register


@register("synflow")
def synflow(model, inputs, labels, loss, seed) -> float:
    """Synaptic flow sum |w * dR/dw| with R = the sum of the outputs of the network whose
    parameters are all replaced by their absolute values, fed one all-ones input.

    As Abdelfattah et al. do, normalisation layers are removed (their ``bn=False`` network:
    batch statistics would undo the all-positive linearisation), the network runs in eval mode
    and in double precision (R is a product over the depth and overflows float32). No data is
    read: only the input's shape. For a bias-free linear chain R is the sum over input-output
    paths of the product of the absolute weights, and the score is the depth times R.
    """
    strip_normalization(model)
    model.double().eval()
    with torch.no_grad():
        for tensor in [*model.parameters(), *model.buffers()]:
            if tensor.is_floating_point():
                tensor.abs_()
    ones = torch.ones((1, *inputs.shape[1:]), dtype=torch.float64, device=inputs.device)
    ws = weights(model)
    grads = torch.autograd.grad(model(ones).sum(), ws, allow_unused=True)
    return float(sum((w.detach() * g).abs().sum() for w, g in zip(ws, grads) if g is not None))
