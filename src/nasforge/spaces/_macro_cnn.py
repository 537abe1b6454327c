"""``macro-cnn``: a chain of stages of repeated blocks, with a global-pool head.

Per stage: the operation, the number of blocks, the width (later stages
choose from wider options, as in hand-designed CNNs), whether the stage
starts by halving the resolution, and whether its blocks are residual. Works on images ``(C, H, W)`` and sequences ``(C, L)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import torch
from torch import nn

from ..core import Arch, Decision, DecisionSpace, SpaceDefinitionError, check_int
from ..core.space import Box, Chain
from ..ops import OPS, conv_bn_relu, make_op, projection
from ._common import scaled, spatial_dims
from ._registry import register

STEM_WIDTHS = (8, 16, 24, 32)
WIDTH_LADDER = (8, 16, 24, 32, 48, 64, 96, 128, 192, 256)  # stage s chooses from WIDTH_LADDER[s:s+STAGE_WIDTHS]
STAGE_WIDTHS = 6  # up to 64 / 96 / 128 channels in stages 1 / 2 / 3, as wide as the standard hand CNN
BLOCKS = (1, 2, 3)
OPERATIONS = tuple(OPS)


class Block(nn.Module):
    """One operation, optionally with a residual shortcut around it."""

    def __init__(self, op: nn.Module, shortcut: nn.Module | None):
        super().__init__()
        self.op = op
        self.shortcut = shortcut

    def forward(self, x):
        out = self.op(x)
        return out + self.shortcut(x) if self.shortcut is not None else out


class MacroNet(nn.Module):
    def __init__(self, stem: nn.Module, blocks: Sequence[nn.Module], width: int, num_classes: int, dims: int):
        super().__init__()
        self.stem = stem
        self.blocks = nn.Sequential(*blocks)
        self.pool = nn.AdaptiveAvgPool1d(1) if dims == 1 else nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(width, num_classes)

    def forward(self, x):
        x = self.pool(self.blocks(self.stem(x)))
        return self.classifier(torch.flatten(x, 1))


def _positive_int(where, v):
    if not isinstance(v, int) or isinstance(v, bool) or v < 1:
        raise SpaceDefinitionError(f"{where}: {v!r} is not a positive integer")
    return v


def _known_op(where, v):
    if v not in OPS:
        raise SpaceDefinitionError(f"{where}: unknown op {v!r}; known: {', '.join(OPS)}")
    return v


def _bool(where, v):
    if not isinstance(v, bool):
        raise SpaceDefinitionError(f"{where}: {v!r} is not true or false")
    return v


def _choices(where, given, default, check) -> tuple:
    """The choices of one decision: ``given`` (a list or a single value), checked, or the default."""
    if given is None:
        return tuple(default)
    values = list(given) if isinstance(given, (list, tuple)) else [given]
    if not values:
        raise SpaceDefinitionError(f"{where}: needs at least one choice")
    if len(set(map(repr, values))) != len(values):
        raise SpaceDefinitionError(f"{where}: repeated choices in {values!r}")
    return tuple(check(where, v) for v in values)


@register("macro-cnn")
class MacroCNNSpace(DecisionSpace):
    """Chain of conv stages: op, depth, width, downsampling and residuals per stage."""

    name = "macro-cnn"

    def __init__(self, num_stages: int = 3, stem: Sequence[int] | None = None,
                 stages: Sequence[dict[str, Any]] | None = None):
        """The default space has ``num_stages`` stages with the choices above; ``stem``
        and ``stages`` (one dict per stage with lists for ``op``, ``blocks``, ``width``,
        ``down``, ``residual``; a missing key keeps the default) define a custom one,
        as a YAML/JSON space file does."""
        if stages is not None:
            if not isinstance(stages, (list, tuple)) or not stages:
                raise SpaceDefinitionError("'stages' must be a non-empty list of stage dicts")
            num_stages = len(stages)
        self.num_stages = check_int("macro-cnn", "num_stages", num_stages, 1, 6)
        for s, given in enumerate(stages or []):
            if given is not None and not isinstance(given, dict):
                raise SpaceDefinitionError(f"stage {s}: expected a dict of choices; got {given!r}")
        self.custom = {"stem": (list(stem) if isinstance(stem, (list, tuple)) else [stem]) if stem is not None else None,
                       "stages": [dict(st or {}) for st in stages] if stages is not None else None}
        decisions = [Decision("stem", _choices("stem", stem, STEM_WIDTHS, _positive_int), ordinal=True)]
        for s in range(num_stages):
            given = (stages[s] if stages is not None else {}) or {}
            unknown = set(given) - {"op", "blocks", "width", "down", "residual"}
            if unknown:
                raise SpaceDefinitionError(f"stage {s}: unknown key(s) {sorted(unknown)}; "
                                           "known: op, blocks, width, down, residual")
            decisions += [
                Decision(f"s{s}.op", _choices(f"stage {s} op", given.get("op"), OPERATIONS, _known_op)),
                Decision(f"s{s}.blocks", _choices(f"stage {s} blocks", given.get("blocks"), BLOCKS, _positive_int),
                         ordinal=True),
                Decision(f"s{s}.width", _choices(f"stage {s} width", given.get("width"),
                                                 WIDTH_LADDER[s:s + STAGE_WIDTHS],
                                                 _positive_int), ordinal=True),
                Decision(f"s{s}.down", _choices(f"stage {s} down", given.get("down"), (False, True), _bool)),
                Decision(f"s{s}.residual", _choices(f"stage {s} residual", given.get("residual"), (False, True),
                                                    _bool)),
            ]
        super().__init__(decisions)

    def config(self):
        if self.custom["stages"] is None and self.custom["stem"] is None:
            return {"num_stages": self.num_stages}
        return {"num_stages": self.num_stages, **{k: v for k, v in self.custom.items() if v is not None}}

    def priors(self):
        """Standard hand designs that the default space contains: a ResNet-style 3x3 conv
        stack at widths 32/64/128 (resolution halved in stages 2 and 3), the standard hand
        CNN (two 3x3 convs per resolution, the stem being the first; strided convs in place
        of max-pooling: benchmarks/budgeted_search.py's ``hand_cnn`` at its cost), a lighter
        ResNet that downsamples early, and a VGG stack at half width (16/32/64, a quarter of
        the parameters: the small model to offer). Custom spaces have none."""
        if self.num_stages != 3 or self.custom["stages"] is not None or self.custom["stem"] is not None:
            return []

        def chain(stem, *stages):
            d = {"stem": stem}
            for s, (op, blocks, width, down, residual) in enumerate(stages):
                d.update({f"s{s}.op": op, f"s{s}.blocks": blocks, f"s{s}.width": width, f"s{s}.down": down,
                          f"s{s}.residual": residual})
            return Arch(self.name, d)

        return [
            chain(32, ("conv3x3", 2, 32, False, True), ("conv3x3", 2, 64, True, True), ("conv3x3", 2, 128, True, True)),
            chain(32, ("conv3x3", 1, 32, False, False), ("conv3x3", 2, 64, True, False),
                  ("conv3x3", 2, 128, True, False)),
            chain(16, ("conv3x3", 1, 24, True, True), ("conv3x3", 2, 48, True, True), ("conv3x3", 2, 96, False, True)),
            chain(16, ("conv3x3", 2, 16, False, False), ("conv3x3", 2, 32, True, False),
                  ("conv3x3", 2, 64, True, False)),
        ]

    def crossover_groups(self):
        stages = [[n for n in (d.name for d in self.decisions) if n.startswith(f"s{s}.")]
                  for s in range(self.num_stages)]
        return [["stem"], *stages]

    def grow(self, arch):
        """The last stage that allows more blocks gets its next larger block count; None when none does."""
        self.validate(arch)
        for d in reversed([d for d in self.decisions if d.name.endswith(".blocks")]):
            larger = [b for b in d.choices if b > arch[d.name]]
            if larger:
                return arch.replace(**{d.name: min(larger)})
        return None

    def describe(self, arch):
        parts = [f"stem{arch['stem']}"]
        for s in range(self.num_stages):
            p = f"s{s}."
            tags = ("/2" if arch[p + "down"] else "") + ("+res" if arch[p + "residual"] else "")
            parts.append(f"{arch[p + 'op']}x{arch[p + 'blocks']}@{arch[p + 'width']}{tags}")
        return " ".join(parts)

    def drawing(self, arch):
        boxes = [Box("input", kind="input"), Box("stem", ("conv3x3-BN-ReLU", f"{arch['stem']} ch"))]
        for s in range(self.num_stages):
            p = f"s{s}."
            lines = [f"{arch[p + 'op']} x{arch[p + 'blocks']}", f"{arch[p + 'width']} ch"]
            lines += (["stride 2"] if arch[p + "down"] else []) + (["residual"] if arch[p + "residual"] else [])
            boxes.append(Box(f"stage {s}", tuple(lines)))
        return Chain((*boxes, Box("head", ("global pool", "linear"), "head")))

    def build(self, arch, input_shape, num_classes, width_multiplier=1.0):
        self.validate(arch)
        dims = spatial_dims(input_shape, self.name)
        c = scaled(arch["stem"], width_multiplier)
        stem = conv_bn_relu(dims, input_shape[0], c, 3)
        blocks = []
        for s in range(self.num_stages):
            p = f"s{s}."
            width = scaled(arch[p + "width"], width_multiplier)
            for b in range(arch[p + "blocks"]):
                stride = 2 if (b == 0 and arch[p + "down"]) else 1
                op = make_op(arch[p + "op"], dims, c, width, stride)
                shortcut = projection(dims, c, width, stride) if arch[p + "residual"] else None
                blocks.append(Block(op, shortcut))
                c = width
        return MacroNet(stem, blocks, c, num_classes, dims)
