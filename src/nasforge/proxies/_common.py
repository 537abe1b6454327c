"""What several proxies share: which layers hold the prunable weights, normalisation
layers, and forward hooks that are always removed."""

from __future__ import annotations

import contextlib

from torch import nn

WEIGHTED = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)
NORMS = (nn.modules.batchnorm._BatchNorm, nn.LayerNorm, nn.GroupNorm, nn.modules.instancenorm._InstanceNorm)
ACTIVATIONS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.GELU, nn.SiLU, nn.ELU, nn.Hardswish, nn.Mish)


def weighted_layers(model: nn.Module) -> list[nn.Module]:
    """The convolutions and linear layers: the weights the pruning-at-init scores are defined on
    (Abdelfattah et al. sum over Conv and Linear weights only)."""
    return [m for m in model.modules() if isinstance(m, WEIGHTED)]


def weights(model: nn.Module) -> list:
    return [m.weight for m in weighted_layers(model)]


def strip_normalization(model: nn.Module) -> None:
    """Replace every normalisation layer by the identity (the ``bn=False`` network of
    Abdelfattah et al.'s synflow: normalisation would undo the all-positive linearisation)."""
    for parent in list(model.modules()):
        for name, child in list(parent.named_children()):
            if isinstance(child, NORMS):
                setattr(parent, name, nn.Identity())


@contextlib.contextmanager
def hooks(modules, hook, kind: str = "forward"):
    """Register ``hook`` on every module of ``modules`` for the ``with`` block only."""
    register = "register_forward_hook" if kind == "forward" else "register_forward_pre_hook"
    handles = [getattr(m, register)(hook) for m in modules]
    try:
        yield
    finally:
        for h in handles:
            h.remove()
