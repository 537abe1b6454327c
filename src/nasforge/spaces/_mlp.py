"""``mlp``: multilayer perceptrons for tables (and any input, flattened).

Networks for tabular data are small fully connected stacks; what matters
is width, depth, normalisation and regularisation (Kadra et al. 2021,
"Well-tuned simple nets excel on tabular datasets"; Gorishniy et al. 2021,
"Revisiting deep learning models for tabular data": an MLP, optionally with
residual blocks and batch norm, is a strong baseline). Decisions: depth
(hidden layers), width, normalisation (none / batch / layer), dropout and
residual shortcuts around the hidden layers after the first.
"""

from __future__ import annotations

import math

from torch import nn

from ..core import Arch, Decision, DecisionSpace
from ..core.space import Box, Chain
from ._common import scaled
from ._registry import register

DEPTHS = (1, 2, 3, 4)
WIDTHS = (32, 64, 128, 256, 512)
NORMS = ("none", "batch", "layer")
DROPOUTS = (0.0, 0.1, 0.2, 0.3, 0.5)


def _norm(kind: str, width: int) -> nn.Module:
    return nn.BatchNorm1d(width) if kind == "batch" else nn.LayerNorm(width) if kind == "layer" else nn.Identity()


class Dense(nn.Module):
    """Linear -> normalisation -> ReLU -> dropout, optionally added to its input (a residual block)."""

    def __init__(self, n_in: int, n_out: int, norm: str, dropout: float, residual: bool):
        super().__init__()
        self.body = nn.Sequential(nn.Linear(n_in, n_out), _norm(norm, n_out), nn.ReLU(), nn.Dropout(dropout))
        self.residual = residual and n_in == n_out

    def forward(self, x):
        out = self.body(x)
        return x + out if self.residual else out


class MLP(nn.Module):
    def __init__(self, layers: list[nn.Module], width: int, num_classes: int):
        super().__init__()
        self.flatten = nn.Flatten()
        self.layers = nn.Sequential(*layers)
        self.head = nn.Linear(width, num_classes)

    def forward(self, x):
        return self.head(self.layers(self.flatten(x)))


@register("mlp")
class MLPSpace(DecisionSpace):
    """Fully connected stacks: depth, width, normalisation, dropout, residual shortcuts."""

    name = "mlp"

    def __init__(self):
        super().__init__([
            Decision("depth", DEPTHS, ordinal=True),
            Decision("width", WIDTHS, ordinal=True),
            Decision("norm", NORMS),
            Decision("dropout", DROPOUTS, ordinal=True),
            Decision("residual", (False, True)),
        ])

    def priors(self):
        """Common hand choices for tables: two 128-wide layers with batch norm and a little
        dropout; one small layer (close to a linear model); a deeper residual net with layer
        norm; and a wide, strongly regularised pair."""
        def net(depth, width, norm, dropout, residual):
            return Arch(self.name, {"depth": depth, "width": width, "norm": norm, "dropout": dropout,
                                    "residual": residual})
        return [net(2, 128, "batch", 0.1, False), net(1, 64, "none", 0.0, False), net(3, 256, "layer", 0.2, True),
                net(2, 512, "batch", 0.3, False)]

    def describe(self, arch):
        tags = ("+res" if arch["residual"] and arch["depth"] > 1 else "") + (
            f" {arch['norm']}norm" if arch["norm"] != "none" else "") + (
            f" drop{arch['dropout']:g}" if arch["dropout"] else "")
        return f"mlp {arch['depth']}x{arch['width']}{tags}"

    def drawing(self, arch):
        boxes = [Box("input", ("flatten",), "input")]
        for i in range(arch["depth"]):
            lines = [f"linear {arch['width']}", arch["norm"] + " norm" if arch["norm"] != "none" else "", "ReLU"]
            lines += [f"dropout {arch['dropout']:g}"] if arch["dropout"] else []
            lines += ["residual"] if arch["residual"] and i > 0 else []
            boxes.append(Box(f"layer {i}", tuple(x for x in lines if x)))
        return Chain((*boxes, Box("head", ("linear",), "head")))

    def build(self, arch, input_shape, num_classes, width_multiplier=1.0):
        self.validate(arch)
        width = scaled(arch["width"], width_multiplier)
        n_in = math.prod(input_shape)
        layers = []
        for _ in range(arch["depth"]):
            layers.append(Dense(n_in, width, arch["norm"], arch["dropout"], arch["residual"]))
            n_in = width
        return MLP(layers, width, num_classes)

