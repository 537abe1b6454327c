"""``nb201``: the NAS-Bench-201 cell space (Dong & Yang, ICLR 2020).

A cell has 4 nodes and 6 edges ``i->j`` (i < j); each edge carries one of
5 operations, giving 5^6 = 15,625 cells. The network stacks the cell as the
benchmark does: a 3x3 conv stem, three stages of ``N`` cells with ``C``,
``2C`` and ``4C`` channels separated by residual reduction blocks, then
BN-ReLU, global pooling and a linear classifier. Works on images and, with
1-D convolutions, on sequences.
"""

from __future__ import annotations

import itertools
import re

import torch
from torch import nn

from ..core import Arch, Decision, DecisionSpace, InvalidArchError, check_choice, check_int
from ..core.space import CellGraph, CellGraphs
from ..ops import ReLUConvBN, batch_norm, conv, pool_layer
from ._common import live_edges, spatial_dims
from ._registry import register

OPS = ("none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3")
EDGES = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))  # the order of NB201's arch string
EDGE_NAMES = tuple(f"{i}->{j}" for i, j in EDGES)
NUM_NODES = 4
ZERO = "#"
DEAD_EDGES = ("skip", "keep")  # build only live edges, or every non-'none' edge as NAS-Bench-201 does


def make_edge_op(name: str, dims: int, channels: int) -> nn.Module:
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(dims, channels, channels, 1)
    if name == "nor_conv_3x3":
        return ReLUConvBN(dims, channels, channels, 3)
    if name == "avg_pool_3x3":
        return pool_layer(dims, "avg", 3, 1)
    raise ValueError(f"no module for op {name!r}")


def cell_live_edges(ops: dict[str, str]) -> list[tuple[int, int]]:
    """The cell's edges that can affect its output (see :func:`~nasforge.spaces.live_edges`;
    EDGES are the DAG's edges in order). The rest are dropped when building."""
    return live_edges({edge: ops[name] for edge, name in zip(EDGES, EDGE_NAMES)}, NUM_NODES)


def cell_edges(ops: dict[str, str], dead_edges: str = "skip") -> list[tuple[int, int]]:
    """The edges a built cell computes: the live ones (``"skip"``) or, as NAS-Bench-201
    builds its cells, every edge that is not 'none' (``"keep"``)."""
    if dead_edges == "keep":
        return [edge for edge, name in zip(EDGES, EDGE_NAMES) if ops[name] != "none"]
    return cell_live_edges(ops)


class Cell(nn.Module):
    """Node j = sum of op_ij(node i) over its incoming edges (see :func:`cell_edges`); a node
    without inputs is zeros, and so is the output of a cell whose output has none."""

    def __init__(self, ops: dict[str, str], dims: int, channels: int, dead_edges: str = "skip"):
        super().__init__()
        self.edges = cell_edges(ops, dead_edges)
        self.ops = nn.ModuleList(make_edge_op(ops[f"{i}->{j}"], dims, channels) for i, j in self.edges)

    def extra_repr(self):
        return "edges=" + ",".join(f"{i}->{j}" for i, j in self.edges)

    def forward(self, x):
        nodes = [x] + [None] * (NUM_NODES - 1)
        for (i, j), op in zip(self.edges, self.ops):
            out = op(nodes[i] if nodes[i] is not None else torch.zeros_like(x))  # a dead edge's source
            nodes[j] = out if nodes[j] is None else nodes[j] + out
        return nodes[-1] if nodes[-1] is not None else torch.zeros_like(x)


class ResidualReduction(nn.Module):
    """NB201's reduction block: a stride-2 basic residual block that doubles the channels."""

    def __init__(self, dims, c_in, c_out):
        super().__init__()
        self.a = ReLUConvBN(dims, c_in, c_out, 3, stride=2)
        self.b = ReLUConvBN(dims, c_out, c_out, 3)
        pool = (nn.AvgPool1d if dims == 1 else nn.AvgPool2d)(2, stride=2, ceil_mode=True)
        self.shortcut = nn.Sequential(pool, conv(dims, c_in, c_out, 1, bias=False))

    def forward(self, x):
        return self.b(self.a(x)) + self.shortcut(x)


class NB201Net(nn.Module):
    def __init__(self, ops: dict[str, str], dims: int, in_channels: int, channels: int, cells_per_stage: int,
                 num_classes: int, dead_edges: str = "skip"):
        super().__init__()
        self.stem = nn.Sequential(conv(dims, in_channels, channels, 3, padding=1, bias=False),
                                  batch_norm(dims, channels))
        layers: list[nn.Module] = []
        c = channels
        for stage in range(3):
            if stage > 0:
                layers.append(ResidualReduction(dims, c, 2 * c))
                c *= 2
            layers += [Cell(ops, dims, c, dead_edges) for _ in range(cells_per_stage)]
        self.cells = nn.Sequential(*layers)
        self.head = nn.Sequential(batch_norm(dims, c), nn.ReLU(inplace=True),
                                  nn.AdaptiveAvgPool1d(1) if dims == 1 else nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x):
        return self.classifier(self.head(self.cells(self.stem(x))))


@register("nb201")
class NB201Space(DecisionSpace):
    """NAS-Bench-201 cells: 6 edges x 5 ops (15,625 cells), in the benchmark's skeleton.

    ``dead_edges``: ``"skip"`` (default) builds only the edges that can affect a
    cell's output; ``"keep"`` builds every edge that is not 'none', as
    NAS-Bench-201 does, so parameters, FLOPs and latency match the benchmark's
    recorded costs (a conv fed by a node without inputs still runs, on zeros,
    and its batch norm's bias reaches the output; see docs/hardware.md)."""

    name = "nb201"

    def __init__(self, channels: int = 16, cells_per_stage: int = 5, dead_edges: str = "skip"):
        self.channels = check_int("nb201", "channels", channels, 1)
        self.cells_per_stage = check_int("nb201", "cells_per_stage", cells_per_stage, 1)
        self.dead_edges = check_choice("nb201", "dead_edges", dead_edges, DEAD_EDGES)
        super().__init__([Decision(name, OPS) for name in EDGE_NAMES])

    def config(self):
        return {"channels": self.channels, "cells_per_stage": self.cells_per_stage, "dead_edges": self.dead_edges}

    def describe(self, arch):
        return to_string(arch)

    def drawing(self, arch):
        """The cell; 'none' edges left out, edges with no path from input to output dashed."""
        live = set(cell_live_edges(arch.decisions))
        kinds = ["input"] + ["node"] * (NUM_NODES - 2) + ["output"]
        nodes = tuple((k, str(k), kind) for k, kind in enumerate(kinds))
        edges = tuple((i, j, arch[f"{i}->{j}"], "op" if (i, j) in live else "dead")
                      for i, j in EDGES if arch[f"{i}->{j}"] != "none")
        note = "node 0 = cell input, 3 = output; 'none' edges omitted"
        if any(style == "dead" for *_, style in edges):
            note += "; dashed: no path from input to output"
        title = f"NB201 cell (x{self.cells_per_stage} per stage, 3 stages)"
        return CellGraphs(((CellGraph(title, nodes, edges),),), note)

    def build(self, arch, input_shape, num_classes, width_multiplier=1.0):
        self.validate(arch)
        dims = spatial_dims(input_shape, self.name)
        channels = max(1, int(round(self.channels * width_multiplier)))
        return NB201Net(dict(arch.decisions), dims, input_shape[0], channels, self.cells_per_stage, num_classes,
                        self.dead_edges)


# -- conversions -------------------------------------------------------------------------------

_NODE = re.compile(r"^\|(?:[a-z0-9_]+~\d\|)+$")


def to_string(arch: Arch) -> str:
    """NB201's arch string, e.g. ``|nor_conv_3x3~0|+|none~0|skip_connect~1|+|...|``."""
    return "+".join("|" + "|".join(f"{arch[f'{i}->{j}']}~{i}" for i in range(j)) + "|"
                    for j in range(1, NUM_NODES))


def from_string(text: str) -> Arch:
    """Parse NB201's arch string (errors name the part that is wrong)."""
    nodes = text.strip().split("+")
    if len(nodes) != NUM_NODES - 1:
        raise InvalidArchError(f"an NB201 arch string has {NUM_NODES - 1} '+'-separated nodes; got {len(nodes)} "
                               f"in {text!r}")
    decisions = {}
    for j, node in enumerate(nodes, start=1):
        if not _NODE.match(node):
            raise InvalidArchError(f"node {j} of NB201 arch string is malformed: {node!r}")
        parts = node.strip("|").split("|")
        if len(parts) != j:
            raise InvalidArchError(f"node {j} of an NB201 arch string needs {j} inputs; got {node!r}")
        for part in parts:
            op, _, src = part.partition("~")
            i = int(src)
            if i >= j:
                raise InvalidArchError(f"edge {i}->{j} in {node!r} does not go forward")
            if op not in OPS:
                raise InvalidArchError(f"edge {i}->{j}: unknown op {op!r}; known: {', '.join(OPS)}")
            decisions[f"{i}->{j}"] = op
    if len(decisions) != len(EDGES):
        raise InvalidArchError(f"NB201 arch string {text!r} repeats an edge")
    return Arch(NB201Space.name, decisions)


def to_index(arch: Arch) -> int:
    """nasforge's index of a cell: base-5 digits in edge order (0 .. 15,624).

    NAS-Bench-201's own index follows its training order; the benchmark tables
    map it to arch strings (see ``nasforge.benchmarks``).
    """
    index = 0
    for name in EDGE_NAMES:
        if arch[name] not in OPS:
            raise InvalidArchError(f"edge {name}: unknown op {arch[name]!r}; known: {', '.join(OPS)}")
        index = index * len(OPS) + OPS.index(arch[name])
    return index


def from_index(index: int) -> Arch:
    total = len(OPS) ** len(EDGES)
    if not isinstance(index, int) or not 0 <= index < total:
        raise InvalidArchError(f"an nb201 index is an int in [0, {total - 1}]; got {index!r}")
    digits = []
    for _ in EDGES:
        index, d = divmod(index, len(OPS))
        digits.append(OPS[d])
    return Arch(NB201Space.name, dict(zip(EDGE_NAMES, reversed(digits))))


def all_archs() -> list[Arch]:
    return [Arch(NB201Space.name, dict(zip(EDGE_NAMES, ops))) for ops in itertools.product(OPS, repeat=len(EDGES))]


def canonical(arch: Arch) -> str:
    """A key equal for cells that compute the same function, up to how the
    intermediate nodes are numbered and which dead branches they carry.

    Each node is a multiset of terms ``op(source)``; a skip connection adds
    its source's terms unchanged (sums are associative), and a 'none' edge or
    any edge out of a node with no inputs adds nothing. (Strictly, a conv of
    zeros yields its batch norm's bias; like NATS-Bench we treat it as zero.)

    NATS-Bench reports 6,466 unique cells with a convention that also keeps
    zero terms and compares sums as text, so it misses some isomorphisms
    (e.g. two intermediate nodes swapped); every one of its classes lies
    inside one of ours, and ours are fewer (see ``tests/test_nb201.py``).
    """
    nodes: list[list[str]] = [["x"]] + [[] for _ in range(NUM_NODES - 1)]
    for j in range(1, NUM_NODES):
        for i in range(j):
            op = arch[f"{i}->{j}"]
            if op == "none" or not nodes[i]:
                continue
            if op == "skip_connect":
                nodes[j].extend(nodes[i])
            else:
                nodes[j].append(f"{op}({'+'.join(nodes[i])})")
        nodes[j].sort()
    return "+".join(nodes[-1]) or ZERO


def unique_archs() -> list[Arch]:
    """One representative (the first in index order) of every isomorphism class."""
    seen: dict[str, Arch] = {}
    for arch in all_archs():
        seen.setdefault(canonical(arch), arch)
    return list(seen.values())
