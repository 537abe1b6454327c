"""``nasbench-macro``: the NAS-Bench-Macro space (Su et al. 2021, "Prioritized Architecture
Sampling with Monte-Carlo Tree Search", CVPR): 8 layers in stages of 2, 3 and 3, each an
identity, a MobileNetV2 block with kernel 3 and expansion 3, or one with kernel 5 and
expansion 6 (3^8 = 6,561 networks).

The network follows the benchmark's description: a 3x3 conv stem with 32 channels; the
first layer of each stage halves the resolution and doubles the width (an identity layer
there becomes a strided 1x1 conv + BN); then a 1x1 conv to 1,280 channels, global pooling
and a linear classifier. Parameter counts equal the benchmark table's (tested).
"""

from __future__ import annotations

from torch import nn

from ..core import Decision, DecisionSpace
from ..ops import MBConv, batch_norm, conv, conv_bn_relu, projection
from ._common import spatial_dims
from ._registry import register

CHOICES = ("identity", "mb3_k3", "mb6_k5")  # encoded 0 / 1 / 2 in the benchmark's keys
STAGES = (2, 3, 3)
LAYERS = sum(STAGES)


def key(arch) -> str:
    """The benchmark's key: one digit per layer, e.g. ``'02012100'``."""
    return "".join(str(CHOICES.index(arch[f"layer{i}"])) for i in range(LAYERS))


def make_layer(choice: str, dims: int, c_in: int, c_out: int, stride: int) -> nn.Module:
    if choice == "identity":
        return projection(dims, c_in, c_out, stride)
    expand, kernel = (3, 3) if choice == "mb3_k3" else (6, 5)
    return MBConv(dims, c_in, c_out, kernel=kernel, stride=stride, expand=expand)


@register("nasbench-macro")
class NASBenchMacroSpace(DecisionSpace):
    """NAS-Bench-Macro: 8 layers x {identity, MB3_K3, MB6_K5} in a MobileNetV2-style chain."""

    name = "nasbench-macro"

    def __init__(self, init_channels: int = 32, head_channels: int = 1280):
        self.init_channels, self.head_channels = init_channels, head_channels
        super().__init__([Decision(f"layer{i}", CHOICES) for i in range(LAYERS)])

    def config(self):
        return {"init_channels": self.init_channels, "head_channels": self.head_channels}

    def crossover_groups(self):
        starts = [0, STAGES[0], STAGES[0] + STAGES[1], LAYERS]
        return [[f"layer{i}" for i in range(a, b)] for a, b in zip(starts, starts[1:])]

    def describe(self, arch):
        return key(arch) + " (" + " ".join(arch[f"layer{i}"] for i in range(LAYERS)) + ")"

    def build(self, arch, input_shape, num_classes, width_multiplier=1.0):
        self.validate(arch)
        dims = spatial_dims(input_shape, self.name)
        c = max(4, int(round(self.init_channels * width_multiplier)))
        layers, i = [conv_bn_relu(dims, input_shape[0], c, 3)], 0
        for depth in STAGES:
            for j in range(depth):
                c_out = 2 * c if j == 0 else c
                layers.append(make_layer(arch[f"layer{i}"], dims, c, c_out, 2 if j == 0 else 1))
                c, i = c_out, i + 1
        pool = nn.AdaptiveAvgPool1d(1) if dims == 1 else nn.AdaptiveAvgPool2d(1)
        head = nn.Sequential(conv(dims, c, self.head_channels, 1, bias=False), batch_norm(dims, self.head_channels),
                             nn.ReLU(inplace=True), pool, nn.Flatten())
        return nn.Sequential(*layers, head, nn.Linear(self.head_channels, num_classes))
