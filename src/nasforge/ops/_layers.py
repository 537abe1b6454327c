"""Candidate operations shared by the spaces, for 1-D (sequence) and 2-D (image) inputs.

Every op maps ``(N, c_in, *spatial)`` to ``(N, c_out, *spatial / stride)``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from torch import nn

from ..core import UnknownNameError


def conv(dims: int, *args, **kwargs) -> nn.Module:
    return (nn.Conv1d if dims == 1 else nn.Conv2d)(*args, **kwargs)


def batch_norm(dims: int, channels: int) -> nn.Module:
    return (nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d)(channels)


def conv_bn_relu(dims, c_in, c_out, kernel, stride=1, dilation=1, groups=1) -> nn.Sequential:
    pad = dilation * (kernel - 1) // 2
    return nn.Sequential(
        conv(dims, c_in, c_out, kernel, stride=stride, padding=pad, dilation=dilation,
             groups=groups, bias=False),
        batch_norm(dims, c_out),
        nn.ReLU(inplace=True),
    )


def pool_layer(dims: int, kind: str, kernel: int = 3, stride: int = 1) -> nn.Module:
    """A ``kind`` ("max" or "avg") pooling that keeps the size at stride 1; averages ignore padding."""
    if kind == "max":
        return (nn.MaxPool1d if dims == 1 else nn.MaxPool2d)(kernel, stride=stride, padding=kernel // 2)
    return (nn.AvgPool1d if dims == 1 else nn.AvgPool2d)(kernel, stride=stride, padding=kernel // 2,
                                                          count_include_pad=False)


def projection(dims, c_in, c_out, stride) -> nn.Module:
    """Identity when shapes match, else a strided 1x1 conv with BN."""
    if stride == 1 and c_in == c_out:
        return nn.Identity()
    return nn.Sequential(conv(dims, c_in, c_out, 1, stride=stride, bias=False), batch_norm(dims, c_out))


class SepConv(nn.Sequential):
    """Depthwise k x k followed by pointwise 1x1 (MobileNet-style separable conv)."""

    def __init__(self, dims, c_in, c_out, kernel, stride):
        super().__init__(
            conv(dims, c_in, c_in, kernel, stride=stride, padding=kernel // 2, groups=c_in, bias=False),
            batch_norm(dims, c_in),
            nn.ReLU(inplace=True),
            conv(dims, c_in, c_out, 1, bias=False),
            batch_norm(dims, c_out),
            nn.ReLU(inplace=True),
        )


class Pool(nn.Sequential):
    """3x3 max/avg pooling, with a 1x1 projection when the width changes."""

    def __init__(self, dims, c_in, c_out, stride, kind):
        layers = [pool_layer(dims, kind, 3, stride)]
        if c_in != c_out:
            layers.append(projection(dims, c_in, c_out, 1))
        super().__init__(*layers)


OpFactory = Callable[[int, int, int, int], nn.Module]  # (dims, c_in, c_out, stride)


class OpTable(dict):
    """Op names -> factories, in a fixed order (spaces use it for their choices and encodings);
    ``kind`` is what an unknown name is called in errors ("op", "cell op")."""

    def __init__(self, kind: str, factories: Mapping[str, OpFactory]):
        super().__init__(factories)
        self.kind = kind


OPS = OpTable("op", {
    "conv3x3": lambda d, i, o, s: conv_bn_relu(d, i, o, 3, s),
    "conv5x5": lambda d, i, o, s: conv_bn_relu(d, i, o, 5, s),
    "sep3x3": lambda d, i, o, s: SepConv(d, i, o, 3, s),
    "sep5x5": lambda d, i, o, s: SepConv(d, i, o, 5, s),
    "dil3x3": lambda d, i, o, s: conv_bn_relu(d, i, o, 3, s, dilation=2),
    "maxpool3x3": lambda d, i, o, s: Pool(d, i, o, s, "max"),
    "avgpool3x3": lambda d, i, o, s: Pool(d, i, o, s, "avg"),
    "identity": lambda d, i, o, s: projection(d, i, o, s),
})


def make_op(name: str, dims: int, c_in: int, c_out: int, stride: int, table: OpTable = OPS) -> nn.Module:
    """An op by name from ``table``: the macro ops (:data:`OPS`) unless told otherwise, e.g.
    :data:`~nasforge.ops.CELL_OPS` for the cell ops of the NAS literature."""
    if name not in table:
        raise UnknownNameError(table.kind, name, table)
    return table[name](dims, c_in, c_out, stride)
