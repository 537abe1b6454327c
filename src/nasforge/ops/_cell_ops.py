"""Cell operations from the NAS literature, named as the papers name them.

DARTS (Liu et al., ICLR 2019), NASNet (Zoph et al., CVPR 2018) and AmoebaNet
(Real et al., AAAI 2019) cells use ReLU-Conv-BN ordering: each op starts
with a ReLU and ends with a batch norm, so the sum at a cell node is not
rectified twice. MobileNetV2/MnasNet blocks (MBConv, squeeze-and-excitation)
and a self-attention block cover the mobile and hybrid spaces.

Every op works on images ``(N, C, H, W)`` and, through :func:`conv`, on
sequences ``(N, C, L)``, and maps ``c_in`` channels to ``c_out`` with the
spatial size divided by ``stride`` (rounded up), so ops of any kind can be
summed at a node. :data:`CELL_OPS` maps names to factories
``(dims, c_in, c_out, stride) -> nn.Module``; build one with
``make_op(name, dims, c_in, c_out, stride, CELL_OPS)``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ._layers import OpTable, batch_norm, conv, pool_layer


class ReLUConvBN(nn.Sequential):
    """ReLU, k x k conv, BN: the DARTS/NASNet unit (also the 1x1 preprocessing of cell inputs)."""

    def __init__(self, dims, c_in, c_out, kernel, stride=1, dilation=1, affine=True):
        super().__init__(
            nn.ReLU(inplace=False),
            conv(dims, c_in, c_out, kernel, stride=stride, padding=dilation * (kernel - 1) // 2,
                 dilation=dilation, bias=False),
            nn.BatchNorm1d(c_out, affine=affine) if dims == 1 else nn.BatchNorm2d(c_out, affine=affine),
        )


class DilConv(nn.Sequential):
    """ReLU, dilated depthwise k x k, pointwise 1x1, BN (DARTS's ``dil_conv``; dilation 1 is one
    separable unit)."""

    def __init__(self, dims, c_in, c_out, kernel, stride=1, dilation=2, affine=True):
        super().__init__(
            nn.ReLU(inplace=False),
            conv(dims, c_in, c_in, kernel, stride=stride, padding=dilation * (kernel - 1) // 2,
                 dilation=dilation, groups=c_in, bias=False),
            conv(dims, c_in, c_out, 1, bias=False),
            nn.BatchNorm1d(c_out, affine=affine) if dims == 1 else nn.BatchNorm2d(c_out, affine=affine),
        )


class StackedSepConv(nn.Sequential):
    """DARTS's ``sep_conv_kxk``: two separable units applied in sequence (NASNet's convention),
    the first strided and keeping the width, the second changing it."""

    def __init__(self, dims, c_in, c_out, kernel, stride=1, affine=True):
        super().__init__(DilConv(dims, c_in, c_in, kernel, stride, dilation=1, affine=affine),
                         DilConv(dims, c_in, c_out, kernel, 1, dilation=1, affine=affine))


class Conv7x1x1x7(nn.Sequential):
    """NASNet's factorised 7x7: ReLU, a 1x7 conv then a 7x1 conv (full, not depthwise), one BN.

    On sequences the input is treated as a 1 x L image: the 1x7 conv runs along
    the length and the 7x1 conv reduces to its centre tap, a 1x1 conv.
    """

    def __init__(self, dims, c_in, c_out, stride=1, affine=True):
        if dims == 1:
            first = nn.Conv1d(c_in, c_out, 7, stride=stride, padding=3, bias=False)
            second = nn.Conv1d(c_out, c_out, 1, bias=False)
        else:
            first = nn.Conv2d(c_in, c_out, (1, 7), stride=(1, stride), padding=(0, 3), bias=False)
            second = nn.Conv2d(c_out, c_out, (7, 1), stride=(stride, 1), padding=(3, 0), bias=False)
        bn = nn.BatchNorm1d(c_out, affine=affine) if dims == 1 else nn.BatchNorm2d(c_out, affine=affine)
        super().__init__(nn.ReLU(inplace=False), first, second, bn)


class Zero(nn.Module):
    """DARTS's ``none``: zeros of the output shape; keeps the graph so gradients are defined."""

    def __init__(self, dims, c_in, c_out, stride=1):
        super().__init__()
        self.dims, self.c_out, self.stride = dims, c_out, stride

    def forward(self, x):
        index = (slice(None), slice(None)) + (slice(None, None, self.stride),) * self.dims
        x = x[index]
        if x.shape[1] != self.c_out:
            x = x[:, :1].expand(-1, self.c_out, *x.shape[2:])
        return x.mul(0.0)


class FactorizedReduce(nn.Module):
    """Halve the resolution without losing pixels: ReLU, two stride-2 1x1 convs, the second on
    the input shifted by one pixel, concatenated and batch-normed (NASNet, DARTS).

    The shifted branch pads at the far end, so odd sizes give the same
    ``ceil(size / 2)`` as the other ops (on even sizes this is DARTS exactly).
    """

    def __init__(self, dims, c_in, c_out, affine=True):
        super().__init__()
        self.dims = dims
        self.relu = nn.ReLU(inplace=False)
        self.conv_1 = conv(dims, c_in, c_out // 2, 1, stride=2, bias=False)
        self.conv_2 = conv(dims, c_in, c_out - c_out // 2, 1, stride=2, bias=False)
        self.bn = nn.BatchNorm1d(c_out, affine=affine) if dims == 1 else nn.BatchNorm2d(c_out, affine=affine)

    def forward(self, x):
        x = self.relu(x)
        shifted = F.pad(x, (0, 1) * self.dims)[(slice(None), slice(None)) + (slice(1, None),) * self.dims]
        return self.bn(torch.cat([self.conv_1(x), self.conv_2(shifted)], dim=1))


def skip(dims, c_in, c_out, stride) -> nn.Module:
    """``skip_connect``: identity, or a factorized reduce when it must stride or change width."""
    if stride == 1 and c_in == c_out:
        return nn.Identity()
    if stride == 1:
        return ReLUConvBN(dims, c_in, c_out, 1)
    return FactorizedReduce(dims, c_in, c_out)


def pool(dims, c_in, c_out, stride, kind) -> nn.Module:
    """3x3 max/avg pooling, no BN (as in the DARTS evaluation network); a ReLU-1x1-BN follows
    only if the width must change."""
    layer = pool_layer(dims, kind, 3, stride)
    return layer if c_in == c_out else nn.Sequential(layer, ReLUConvBN(dims, c_in, c_out, 1))


class SqueezeExcite(nn.Module):
    """Squeeze-and-excitation (Hu et al., CVPR 2018): channel gates from globally pooled
    features, through a bottleneck of ``channels // reduction`` (at least 1)."""

    def __init__(self, dims, channels, reduction=4):
        super().__init__()
        hidden = max(1, channels // reduction)
        self.pool = nn.AdaptiveAvgPool1d(1) if dims == 1 else nn.AdaptiveAvgPool2d(1)
        self.gate = nn.Sequential(conv(dims, channels, hidden, 1), nn.ReLU(inplace=True),
                                  conv(dims, hidden, channels, 1), nn.Sigmoid())

    def forward(self, x):
        return x * self.gate(self.pool(x))


class MBConv(nn.Module):
    """Inverted residual (MobileNetV2; MnasNet with ``se``): 1x1 expansion to ``expand`` times
    the width, depthwise k x k, optional squeeze-excitation, linear 1x1 projection; residual
    when the shape is kept. ReLU6 activations, as MobileNetV2 and ProxylessNAS use."""

    def __init__(self, dims, c_in, c_out, kernel=3, stride=1, expand=6, se=False):
        super().__init__()
        hidden = c_in * expand
        layers: list[nn.Module] = []
        if expand != 1:
            layers += [conv(dims, c_in, hidden, 1, bias=False), batch_norm(dims, hidden), nn.ReLU6(inplace=True)]
        layers += [conv(dims, hidden, hidden, kernel, stride=stride, padding=kernel // 2, groups=hidden, bias=False),
                   batch_norm(dims, hidden), nn.ReLU6(inplace=True)]
        if se:
            layers.append(SqueezeExcite(dims, hidden))
        layers += [conv(dims, hidden, c_out, 1, bias=False), batch_norm(dims, c_out)]
        self.body = nn.Sequential(*layers)
        self.residual = stride == 1 and c_in == c_out

    def forward(self, x):
        out = self.body(x)
        return x + out if self.residual else out


class SelfAttention(nn.Module):
    """Pre-norm multi-head self-attention over the positions (pixels or time steps), with a
    residual connection, as in ViT/BoTNet-style hybrid blocks. A strided 1x1 conv + BN first
    matches the width and resolution when they change. ``heads`` is lowered to the largest
    divisor of the width. No positional encoding: convolutions before it carry position."""

    def __init__(self, dims, c_in, c_out, stride=1, heads=4):
        super().__init__()
        self.pre = (nn.Identity() if stride == 1 and c_in == c_out else
                    nn.Sequential(conv(dims, c_in, c_out, 1, stride=stride, bias=False), batch_norm(dims, c_out)))
        heads = max(h for h in range(1, max(1, heads) + 1) if c_out % h == 0)
        self.norm = nn.LayerNorm(c_out)
        self.attention = nn.MultiheadAttention(c_out, heads, batch_first=True)

    def forward(self, x):
        x = self.pre(x)
        tokens = x.flatten(2).transpose(1, 2)  # (N, positions, channels)
        y = self.norm(tokens)
        y, _ = self.attention(y, y, y, need_weights=False)
        return x + y.transpose(1, 2).reshape(x.shape)


CELL_OPS = OpTable("cell op", {
    # the eight DARTS search operations
    "none": lambda d, i, o, s: Zero(d, i, o, s),
    "max_pool_3x3": lambda d, i, o, s: pool(d, i, o, s, "max"),
    "avg_pool_3x3": lambda d, i, o, s: pool(d, i, o, s, "avg"),
    "skip_connect": lambda d, i, o, s: skip(d, i, o, s),
    "sep_conv_3x3": lambda d, i, o, s: StackedSepConv(d, i, o, 3, s),
    "sep_conv_5x5": lambda d, i, o, s: StackedSepConv(d, i, o, 5, s),
    "dil_conv_3x3": lambda d, i, o, s: DilConv(d, i, o, 3, s, dilation=2),
    "dil_conv_5x5": lambda d, i, o, s: DilConv(d, i, o, 5, s, dilation=2),
    # further ops of NASNet / AmoebaNet cells and of other spaces
    "sep_conv_7x7": lambda d, i, o, s: StackedSepConv(d, i, o, 7, s),
    "conv_7x1_1x7": lambda d, i, o, s: Conv7x1x1x7(d, i, o, s),
    "conv_1x1": lambda d, i, o, s: ReLUConvBN(d, i, o, 1, s),
    "conv_3x3": lambda d, i, o, s: ReLUConvBN(d, i, o, 3, s),
    "mbconv_3x3_e3": lambda d, i, o, s: MBConv(d, i, o, 3, s, expand=3),
    "mbconv_3x3_e6": lambda d, i, o, s: MBConv(d, i, o, 3, s, expand=6),
    "mbconv_5x5_e6": lambda d, i, o, s: MBConv(d, i, o, 5, s, expand=6),
    "mbconv_3x3_e6_se": lambda d, i, o, s: MBConv(d, i, o, 3, s, expand=6, se=True),
    "self_attention": lambda d, i, o, s: SelfAttention(d, i, o, s),
})
