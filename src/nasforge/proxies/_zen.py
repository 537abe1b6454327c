"""Zen-score (Lin et al., "Zen-NAS: A Zero-Shot NAS for High-Performance Image Recognition",
ICCV 2021): the expressivity of a Gaussian-initialised network, read without any data."""

from __future__ import annotations

import math

import torch
from torch import nn

from ._common import WEIGHTED, hooks
from ._registry import register

ALPHA = 0.01  # the paper's perturbation size


def _gaussian_init(model: nn.Module, generator: torch.Generator) -> None:
    """Weights ~ N(0, 1), biases 0, normalisation scale 1 and shift 0, as the paper prescribes."""
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, WEIGHTED):
                m.weight.copy_(torch.randn(m.weight.shape, generator=generator, dtype=m.weight.dtype))
                if m.bias is not None:
                    m.bias.zero_()
            elif isinstance(m, nn.modules.batchnorm._BatchNorm) and m.affine:
                m.weight.fill_(1.0)
                m.bias.zero_()


@register("zen")
def zen(model, inputs, labels, loss, seed) -> float:
    """log E ||f(x) - f(x + 0.01 e)||_F + sum over batch-norm layers of log sqrt(mean_c var_c),
    with x, e ~ N(0, 1) of the batch's shape, weights ~ N(0, 1), training mode, float64.

    f is the feature vector the classifier reads (the input of the last linear layer, which
    follows the global pooling in nasforge's spaces: a generic module exposes no map before
    the pooling as the paper's does), and var_c the batch variance of channel c entering each
    batch-norm layer on x (what the paper reads from the running variance). Only the input's
    shape is used, not its values. Seeded by ``seed``.
    """
    generator = torch.Generator().manual_seed(seed)
    model.double().train()
    _gaussian_init(model, generator)
    x = torch.randn(inputs.shape, generator=generator, dtype=torch.float64).to(inputs.device)
    noise = torch.randn(inputs.shape, generator=generator, dtype=torch.float64).to(inputs.device)
    linears = [m for m in model.modules() if isinstance(m, nn.Linear)]
    features: list[torch.Tensor] = []
    log_bn: list[float] = []

    def feature(module, args):
        features.append(args[0].detach().reshape(len(x), -1))

    def bn_scale(module, args):
        a = args[0].detach()
        var = a.transpose(0, 1).reshape(a.shape[1], -1).var(dim=1, unbiased=False)
        log_bn.append(0.5 * math.log(float(var.mean()) + 1e-12))

    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    with torch.no_grad(), hooks(linears[-1:], feature, kind="pre"), hooks(bns, bn_scale, kind="pre"):
        out = model(x)
        bn_terms = sum(log_bn)
        out_noisy = model(x + ALPHA * noise)
    if linears:
        out, out_noisy = features
    delta = (out - out_noisy).reshape(len(x), -1).norm(dim=1).mean()
    return float(torch.log(delta + 1e-300)) + bn_terms
