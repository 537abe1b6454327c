"""``mobilenet-elastic``: MobileNetV3 / Once-for-All style stages of inverted-residual blocks.

A fixed stem, then stages of MBConv blocks (expand 1x1 -> depthwise k x k ->
optional squeeze-excite -> project 1x1, residual when shapes match;
Sandler et al. 2018, Howard et al. 2019). Decisions, per stage: depth,
kernel size, expansion ratio, squeeze-excite on/off and activation
(relu/hswish); globally: a width multiplier and, with ``resolution=True``,
an input scale (the input is resized to ``floor(size * scale)`` at the
network's start).

Kernel and expansion are chosen per *stage*, as in MnasNet's factorised
hierarchical space (Tan et al. 2019), rather than per block as in
Once-for-All (Cai et al. 2020): every decision then changes the network, so
no two architectures build the same model.

Weight sharing lives in one class, :class:`ElasticMobileNet`: built at the
largest shape it is the supernet, and ``set_active(arch)`` runs the
sub-network that takes the first channels of every layer, the centre of
every kernel and the first ``depth`` blocks of every stage. ``build(arch)``
is the same class built at exactly the arch's shape, so a standalone model
and the active sub-network compute the same function once weights are copied
(``supernet.extract(arch)``). Kernels shrink by plain centre cropping, not
OFA's learned kernel transformation. Works on images ``(C, H, W)`` and
sequences ``(C, L)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import torch
import torch.nn.functional as F
from torch import nn

from ..core import Arch, Decision, DecisionSpace, InvalidArchError, UserInputError, check_int
from ..core.space import Box, Chain
from ..ops import batch_norm, conv
from ._common import scaled, spatial_dims
from ._registry import register

STEM_WIDTH = 16
STAGE_WIDTHS = (16, 24, 40, 80, 112, 160)  # MobileNetV3's stage widths; stage s uses STAGE_WIDTHS[s]
HEAD_RATIO = 6  # the last 1x1 conv widens the last stage this much before pooling, as in MobileNetV3
DEPTHS = (1, 2, 3)
KERNELS = (3, 5, 7)
EXPANDS = (3, 4, 6)
WIDTHS = (0.5, 0.75, 1.0)
RESOLUTIONS = (0.75, 1.0, 1.25)  # input scale factors (the space does not know the input size)
ACTIVATIONS = ("relu", "hswish")


@dataclass(frozen=True)
class StageShape:
    width: int
    depth: int
    kernel: int
    expand: int
    se: bool
    act: str


@dataclass(frozen=True)
class NetShape:
    """Everything needed to build or run a network: an architecture resolved for one input."""

    dims: int
    in_channels: int
    num_classes: int
    stem: int
    head: int
    resolution: float
    stages: tuple[StageShape, ...]


def _take(tensor: torch.Tensor, shape: Sequence[int]) -> torch.Tensor:
    """The sub-tensor a smaller layer uses: the first entries of the channel
    axes (0 and 1) and the centre of the kernel axes (2 and on)."""
    index = []
    for axis, (big, small) in enumerate(zip(tensor.shape, shape)):
        if small > big:
            raise InvalidArchError(f"a sub-network needs {tuple(shape)} weights; the supernet has {tuple(tensor.shape)}")
        start = (big - small) // 2 if axis >= 2 else 0
        index.append(slice(start, start + small))
    return tensor[tuple(index)]


def _conv(layer: nn.Module, x, c_in: int, c_out: int, kernel: int = 1, stride: int = 1, groups: int = 1,
          dims: int = 2):
    weight = _take(layer.weight, (c_out, c_in // groups) + (kernel,) * dims)
    bias = None if layer.bias is None else layer.bias[:c_out]
    return (F.conv1d if dims == 1 else F.conv2d)(x, weight, bias, stride, kernel // 2, 1, groups)


def _bn(layer: nn.Module, x, c: int):
    """``layer`` on the first ``c`` channels, updating their running statistics as ``nn.BatchNorm``
    does: with ``momentum=None`` a cumulative average over the batches seen since a reset (what BN
    recalibration of a sub-network relies on)."""
    momentum = layer.momentum
    if layer.training and layer.track_running_stats:
        layer.num_batches_tracked.add_(1)
        if momentum is None:
            momentum = 1.0 / float(layer.num_batches_tracked)
    return F.batch_norm(x, layer.running_mean[:c], layer.running_var[:c], layer.weight[:c], layer.bias[:c],
                        layer.training or not layer.track_running_stats, 0.0 if momentum is None else momentum,
                        layer.eps)


def _act(name: str, x):
    return F.hardswish(x) if name == "hswish" else F.relu(x)


def _se_width(mid: int) -> int:
    return max(4, mid // 4)


class MBConv(nn.Module):
    """Inverted residual block, built at its largest shape; ``forward`` runs the active part."""

    def __init__(self, dims: int, c_in: int, c_out: int, kernel: int, expand: int, se: bool):
        super().__init__()
        mid = c_in * expand
        self.expand = conv(dims, c_in, mid, 1, bias=False)
        self.bn1 = batch_norm(dims, mid)
        self.depthwise = conv(dims, mid, mid, kernel, padding=kernel // 2, groups=mid, bias=False)
        self.bn2 = batch_norm(dims, mid)
        if se:
            self.se_reduce = conv(dims, mid, _se_width(mid), 1)
            self.se_expand = conv(dims, _se_width(mid), mid, 1)
        self.project = conv(dims, mid, c_out, 1, bias=False)
        self.bn3 = batch_norm(dims, c_out)

    def run(self, x, c_in: int, c_out: int, stride: int, stage: StageShape, dims: int):
        mid = c_in * stage.expand
        h = _act(stage.act, _bn(self.bn1, _conv(self.expand, x, c_in, mid, dims=dims), mid))
        h = _conv(self.depthwise, h, mid, mid, stage.kernel, stride, groups=mid, dims=dims)
        h = _act(stage.act, _bn(self.bn2, h, mid))
        if stage.se:
            s = h.mean(dim=tuple(range(2, h.dim())), keepdim=True)
            s = F.relu(_conv(self.se_reduce, s, mid, _se_width(mid), dims=dims))
            h = h * F.hardsigmoid(_conv(self.se_expand, s, _se_width(mid), mid, dims=dims))
        h = _bn(self.bn3, _conv(self.project, h, mid, c_out, dims=dims), c_out)
        return h + x if stride == 1 and c_in == c_out else h


class ElasticMobileNet(nn.Module):
    """A MobileNetV3-style network built at ``largest``, running the sub-network ``active``.

    Built from a space's largest shape it is the weight-sharing supernet;
    built from one architecture's shape (``MobileNetSpace.build``) it is that
    standalone network.
    """

    def __init__(self, space: MobileNetSpace, largest: NetShape, input_shape: Sequence[int],
                 width_multiplier: float = 1.0):
        super().__init__()
        self.space, self.largest, self.active = space, largest, largest
        self.input_shape, self.width_multiplier = tuple(input_shape), width_multiplier
        d = largest.dims
        self.stem = conv(d, largest.in_channels, largest.stem, 3, padding=1, bias=False)
        self.stem_bn = batch_norm(d, largest.stem)
        self.stages = nn.ModuleList()
        c = largest.stem
        for st in largest.stages:
            self.stages.append(nn.ModuleList(
                MBConv(d, c if b == 0 else st.width, st.width, st.kernel, st.expand, st.se) for b in range(st.depth)))
            c = st.width
        self.head = conv(d, c, largest.head, 1, bias=False)
        self.head_bn = batch_norm(d, largest.head)
        self.classifier = nn.Linear(largest.head, largest.num_classes)

    def set_active(self, arch: Arch) -> ElasticMobileNet:
        """Run the sub-network of ``arch`` from now on (errors if it is larger than this network)."""
        shape = self.space.shape(arch, self.input_shape, self.largest.num_classes, self.width_multiplier)
        for s, (small, big) in enumerate(zip(shape.stages, self.largest.stages)):
            for field in ("width", "depth", "kernel", "expand"):
                if getattr(small, field) > getattr(big, field):
                    raise InvalidArchError(f"decision 's{s}.{field}' of {arch.to_json()} exceeds this network's "
                                           f"{getattr(big, field)}")
            if small.se and not big.se:
                raise InvalidArchError(f"decision 's{s}.se' is on but this network has no squeeze-excite there")
        self.active = shape
        return self

    def extract(self, arch: Arch) -> ElasticMobileNet:
        """A standalone network of ``arch`` holding the weights its sub-network uses here.

        BatchNorm statistics are shared by all sub-networks while training a
        supernet; recalibrate them on a few batches before evaluating, as OFA does.
        """
        self.set_active(arch)
        model = self.space.build(arch, self.input_shape, self.largest.num_classes, self.width_multiplier)
        big = self.state_dict()
        model.load_state_dict({k: _take(big[k], v.shape).clone() for k, v in model.state_dict().items()})
        return model

    def forward(self, x):
        a, d = self.active, self.active.dims
        if x.dim() != d + 2:
            raise UserInputError(f"this network takes inputs shaped (N, C{', L' if d == 1 else ', H, W'}); "
                                 f"got {tuple(x.shape)}")
        if a.resolution != 1.0:  # to floor(size * resolution), computed in a way tracing keeps
            x = F.interpolate(x, scale_factor=a.resolution, mode="linear" if d == 1 else "bilinear",
                              align_corners=False, recompute_scale_factor=True)
        x = F.hardswish(_bn(self.stem_bn, _conv(self.stem, x, a.in_channels, a.stem, 3, dims=d), a.stem))
        c = a.stem
        for s, (stage, blocks) in enumerate(zip(a.stages, self.stages)):
            for b in range(stage.depth):
                x = blocks[b].run(x, c, stage.width, 2 if (b == 0 and s > 0) else 1, stage, d)
                c = stage.width
        x = F.hardswish(_bn(self.head_bn, _conv(self.head, x, c, a.head, dims=d), a.head))
        x = x.mean(dim=tuple(range(2, x.dim())))
        return F.linear(x, self.classifier.weight[:, :a.head], self.classifier.bias)


@register("mobilenet-elastic")
class MobileNetSpace(DecisionSpace):
    """MobileNetV3/OFA-style elastic stages: depth, kernel, expansion, SE, activation; width and resolution."""

    name = "mobilenet-elastic"

    def __init__(self, num_stages: int = 3, resolution: bool = False):
        check_int("mobilenet-elastic", "num_stages", num_stages, 1, len(STAGE_WIDTHS))
        if not isinstance(resolution, bool):
            raise UserInputError(f"The 'resolution' parameter of mobilenet-elastic must be true or false. "
                                 f"Got {resolution!r} instead.")
        self.num_stages, self.resolution = num_stages, resolution
        decisions = [Decision("width", WIDTHS, ordinal=True)]
        if resolution:
            decisions.append(Decision("resolution", RESOLUTIONS, ordinal=True))
        for s in range(num_stages):
            decisions += [Decision(f"s{s}.depth", DEPTHS, ordinal=True),
                          Decision(f"s{s}.kernel", KERNELS, ordinal=True),
                          Decision(f"s{s}.expand", EXPANDS, ordinal=True),
                          Decision(f"s{s}.se", (False, True)),
                          Decision(f"s{s}.act", ACTIVATIONS)]
        super().__init__(decisions)

    def config(self):
        return {"num_stages": self.num_stages, "resolution": self.resolution}

    def crossover_groups(self):
        stages = [[d.name for d in self.decisions if d.name.startswith(f"s{s}.")] for s in range(self.num_stages)]
        return [[d.name] for d in self.decisions if "." not in d.name] + stages

    def largest(self) -> Arch:
        """The architecture with every elastic dimension at its maximum (the supernet's shape)."""
        big = {d.name: d.choices[-1] for d in self.decisions}
        big.update({f"s{s}.act": ACTIVATIONS[0] for s in range(self.num_stages)})
        return Arch(self.name, big)

    def shape(self, arch: Arch, input_shape: Sequence[int], num_classes: int,
              width_multiplier: float = 1.0) -> NetShape:
        """Resolve ``arch`` into layer sizes for inputs of ``input_shape``."""
        self.validate(arch)
        dims = spatial_dims(input_shape, self.name)
        w = arch["width"] * width_multiplier
        stages = tuple(StageShape(scaled(STAGE_WIDTHS[s], w), arch[f"s{s}.depth"], arch[f"s{s}.kernel"],
                                  arch[f"s{s}.expand"], arch[f"s{s}.se"], arch[f"s{s}.act"])
                       for s in range(self.num_stages))
        return NetShape(dims, int(input_shape[0]), num_classes, scaled(STEM_WIDTH, w),
                        scaled(HEAD_RATIO * STAGE_WIDTHS[self.num_stages - 1], w),
                        arch.get("resolution", 1.0), stages)

    def build(self, arch, input_shape, num_classes, width_multiplier=1.0):
        shape = self.shape(arch, input_shape, num_classes, width_multiplier)
        return ElasticMobileNet(self, shape, input_shape, width_multiplier)

    def supernet(self, input_shape: Sequence[int], num_classes: int, width_multiplier: float = 1.0) -> ElasticMobileNet:
        """The largest network, for weight sharing; pick sub-networks with ``set_active``."""
        largest = self.shape(self.largest(), input_shape, num_classes, width_multiplier)
        return ElasticMobileNet(self, replace(largest, resolution=1.0), input_shape, width_multiplier)

    def grow(self, arch):
        """One more block in the last stage below the largest depth; None when every stage is full."""
        self.validate(arch)
        for s in reversed(range(self.num_stages)):
            key = f"s{s}.depth"
            if arch[key] < DEPTHS[-1]:
                return arch.replace(**{key: DEPTHS[DEPTHS.index(arch[key]) + 1]})
        return None

    def describe(self, arch):
        parts = [f"w{arch['width']}"] + ([f"r{arch['resolution']}"] if self.resolution else [])
        for s in range(self.num_stages):
            p = f"s{s}."
            parts.append(f"{arch[p + 'depth']}xMB{arch[p + 'expand']}k{arch[p + 'kernel']}"
                         f"{'+se' if arch[p + 'se'] else ''}-{arch[p + 'act']}")
        return " ".join(parts)

    def drawing(self, arch):
        stem = (f"width x{arch['width']}",) + ((f"resolution x{arch['resolution']}",) if self.resolution else ())
        boxes = [Box("input", kind="input"), Box("stem", stem)]
        for s in range(self.num_stages):
            p = f"s{s}."
            lines = (f"{arch[p + 'depth']}x MBConv", f"expand {arch[p + 'expand']}, k{arch[p + 'kernel']}",
                     ("SE, " if arch[p + "se"] else "") + arch[p + "act"])
            boxes.append(Box(f"stage {s}", lines))
        return Chain((*boxes, Box("head", ("1x1 conv, pool", "linear"), "head")))
