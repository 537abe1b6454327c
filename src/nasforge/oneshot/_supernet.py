"""The NB201 supernet: every edge of the cell holds all five operations at once (a mixed op).

Built from the space's own parts (``spaces.nb201.make_edge_op``, its
residual reduction blocks and skeleton, and ``ops.Zero`` for ``none``), so a
path through it *is* an ordinary ``nb201`` cell: :meth:`NB201Supernet.derive`
turns architecture weights into an ``Arch`` and :meth:`NB201Supernet.extract`
builds that cell's standalone network with the supernet's weights.

One set of architecture weights (6 edges x 5 ops) is shared by every cell, as
in NAS-Bench-201's own DARTS/GDAS code. A forward pass takes

* ``weights`` (6, 5): every op runs and the edge outputs their weighted sum
  (DARTS, beta-DARTS);
* ``choice`` (6 op indices): only the chosen op runs (SPOS, evaluation);
* both: only the chosen op runs, the others add their (straight-through)
  weight, which is zero in value but carries the gradient (GDAS).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..core import Arch, UserInputError
from ..ops import Zero, batch_norm, conv
from ..spaces import NB201Space, nb201, spatial_dims

OPS = nb201.OPS
EDGES = nb201.EDGES
NUM_EDGES, NUM_OPS = len(EDGES), len(OPS)
PARAMETER_FREE = ("none", "skip_connect", "avg_pool_3x3")


def make_op(name: str, dims: int, channels: int) -> nn.Module:
    """One candidate op of an edge: the space's own module, ``ops.Zero`` for ``none``."""
    return Zero(dims, channels, channels, 1) if name == "none" else nb201.make_edge_op(name, dims, channels)


class MixedOp(nn.Module):
    """All candidate ops of one edge (in ``nb201.OPS`` order)."""

    def __init__(self, dims: int, channels: int):
        super().__init__()
        self.ops = nn.ModuleList(make_op(name, dims, channels) for name in OPS)

    def forward(self, x, weights: torch.Tensor | None = None, index: int | None = None):
        if index is None:
            return sum(w * op(x) for w, op in zip(weights, self.ops))
        if weights is None:
            return self.ops[index](x)
        return sum(w * op(x) if k == index else w for k, (w, op) in enumerate(zip(weights, self.ops)))


class SuperCell(nn.Module):
    """The NB201 cell with a mixed op on each of its six edges; node j sums its incoming edges."""

    def __init__(self, dims: int, channels: int):
        super().__init__()
        self.edges = nn.ModuleList(MixedOp(dims, channels) for _ in EDGES)

    def forward(self, x, weights=None, choice=None, live=None):
        """``live``: with a single path (``choice`` alone), the edges that reach the output, as
        ``nb201.cell_live_edges`` gives them; the others are skipped, as the space's own cell
        drops them, so the path computes exactly what the standalone network does."""
        if live is not None:
            nodes = [x] + [None] * (nb201.NUM_NODES - 1)
            for i, j in live:
                e = EDGES.index((i, j))
                out = self.edges[e](nodes[i], None, choice[e])
                nodes[j] = out if nodes[j] is None else nodes[j] + out
            return nodes[-1] if nodes[-1] is not None else torch.zeros_like(x)
        nodes = [x]
        for j in range(1, nb201.NUM_NODES):
            total = 0
            for e, (i, k) in enumerate(EDGES):
                if k == j:
                    total = total + self.edges[e](nodes[i], None if weights is None else weights[e],
                                                  None if choice is None else choice[e])
            nodes.append(total)
        return nodes[-1]


class NB201Supernet(nn.Module):
    """NB201's skeleton (stem, three stages of cells split by residual reductions, head) with
    :class:`SuperCell` cells; the same layer names and order as ``spaces.nb201.NB201Net``.

    What a gradient search reads of any supernet: ``alpha_shape``, :meth:`derive`,
    :meth:`arch_to_choice` and :meth:`parameter_free_edges` (``DartsSupernet`` has the same)."""

    alpha_shape = (NUM_EDGES, NUM_OPS)

    def __init__(self, space: NB201Space, input_shape: Sequence[int], num_classes: int):
        super().__init__()
        if not isinstance(space, NB201Space):
            raise UserInputError(f"the one-shot supernet is built for the 'nb201' space; got {space.name!r}")
        self.space, self.input_shape, self.num_classes = space, tuple(input_shape), num_classes
        dims = spatial_dims(input_shape, space.name)
        c = space.channels
        self.stem = nn.Sequential(conv(dims, input_shape[0], c, 3, padding=1, bias=False), batch_norm(dims, c))
        layers: list[nn.Module] = []
        for stage in range(3):
            if stage > 0:
                layers.append(nb201.ResidualReduction(dims, c, 2 * c))
                c *= 2
            layers += [SuperCell(dims, c) for _ in range(space.cells_per_stage)]
        self.cells = nn.Sequential(*layers)
        self.head = nn.Sequential(batch_norm(dims, c), nn.ReLU(inplace=True),
                                  nn.AdaptiveAvgPool1d(1) if dims == 1 else nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.classifier = nn.Linear(c, num_classes)

    def forward(self, x, weights: torch.Tensor | None = None, choice: Sequence[int] | None = None):
        if weights is None and choice is None:
            raise ValueError("a supernet forward needs architecture weights, a choice of ops, or both")
        live = None
        if weights is None:
            live = nb201.cell_live_edges({name: OPS[int(k)] for name, k in zip(nb201.EDGE_NAMES, choice)})
        x = self.stem(x)
        for layer in self.cells:
            x = layer(x, weights, choice, live) if isinstance(layer, SuperCell) else layer(x)
        return self.classifier(self.head(x))

    # -- between architecture weights, choices and Archs ------------------------------------
    @staticmethod
    def derive(alpha: torch.Tensor) -> Arch:
        """The cell of the strongest op on every edge (``none`` included), NAS-Bench-201's rule for
        DARTS and GDAS."""
        return choice_to_arch(alpha.detach().argmax(dim=-1).tolist())

    @staticmethod
    def arch_to_choice(arch: Arch) -> list[int]:
        return arch_to_choice(arch)

    @staticmethod
    def parameter_free_edges(arch: Arch) -> int:
        return parameter_free_edges(arch)

    def extract(self, arch: Arch) -> nn.Module:
        """The standalone ``nb201`` network of ``arch``, holding the supernet's weights for that path
        (same outputs in eval mode, once its batch norms are calibrated for the path)."""
        net = self.space.build(arch, self.input_shape, self.num_classes)
        choice = arch_to_choice(arch)
        own = self.state_dict()
        state = {}
        for name in net.state_dict():
            parts = name.split(".")
            if parts[0] == "cells" and isinstance(net.cells[int(parts[1])], nb201.Cell):
                cell = net.cells[int(parts[1])]
                i, j = cell.edges[int(parts[3])]
                e = EDGES.index((i, j))
                name_in_supernet = ".".join(["cells", parts[1], "edges", str(e), "ops", str(choice[e]), *parts[4:]])
                state[name] = own[name_in_supernet]
            else:
                state[name] = own[name]
        net.load_state_dict(state)
        return net


def arch_to_choice(arch: Arch) -> list[int]:
    """The op index of each edge (``EDGES`` order) of an ``nb201`` cell."""
    return [OPS.index(arch[name]) for name in nb201.EDGE_NAMES]


def choice_to_arch(choice: Sequence[int]) -> Arch:
    return Arch(NB201Space.name, {name: OPS[int(k)] for name, k in zip(nb201.EDGE_NAMES, choice)})


def parameter_free_edges(arch: Arch) -> int:
    """How many edges carry an op without weights (none, skip, pool): 6 is DARTS's collapse."""
    return sum(arch[name] in PARAMETER_FREE for name in nb201.EDGE_NAMES)
