"""The DARTS supernet: DARTS's search network, a normal and a reduction cell with a mixed op on
every edge (Liu, Simonyan & Yang, ICLR 2019).

Every intermediate node k (2..5) of a cell reads every earlier node (14 edges per cell), each
edge holding the 8 DARTS operations (``darts.SEARCH_OPS``, ``none`` included), built by the
space's own ``make_op(name, ..., CELL_OPS)`` with the same stride rule as the space's cells. The
skeleton (stem, preprocessing, reductions at 1/3 and 2/3 of the depth, head) is the space's
``DartsNet`` with the space's ``C`` and ``layers``, and the layer names match it, so a derived
cell's path through the supernet computes exactly what ``space.build(derived)`` computes, and
:meth:`DartsSupernet.extract` hands that network the supernet's weights.

Architecture weights have shape (2, 14, 8): (normal, reduce) x edges x ops, shared by every cell
of a type. A forward pass takes ``weights`` (every op runs; DARTS, beta-DARTS), ``choice``
(op indices, shape (2, 14); only the chosen op runs, and an edge whose choice is ``none`` is
skipped, so a derived cell is a choice), or both (GDAS: the chosen op runs, the others add their
straight-through weight).
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..core import Arch, UserInputError
from ..ops import CELL_OPS, FactorizedReduce, ReLUConvBN, batch_norm, conv, make_op
from ..spaces import DartsSpace, darts, spatial_dims
from ._supernet import MixedOp

OPS = darts.SEARCH_OPS
NONE = OPS.index("none")
EDGES = tuple((k, src) for k in range(2, darts.NODES + 2) for src in range(k))  # (node, input): 14 edges
NUM_EDGES, NUM_OPS = len(EDGES), len(OPS)
PARAMETER_FREE = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect")


class DartsMixedOp(MixedOp):
    """The 8 DARTS operations of one edge (``darts.SEARCH_OPS`` order), the space's own modules."""

    def __init__(self, dims: int, channels: int, stride: int):
        nn.Module.__init__(self)
        self.ops = nn.ModuleList(make_op(name, dims, channels, channels, stride, CELL_OPS) for name in OPS)


class DartsSuperCell(nn.Module):
    """A cell with all 14 edges: preprocessing as ``darts.DartsCell``, node k sums its edges from
    every earlier node, the output concatenates nodes 2..5."""

    def __init__(self, dims, c_pp, c_p, c, reduction, reduction_prev):
        super().__init__()
        self.reduction = reduction
        self.pre0 = FactorizedReduce(dims, c_pp, c) if reduction_prev else ReLUConvBN(dims, c_pp, c, 1)
        self.pre1 = ReLUConvBN(dims, c_p, c, 1)
        self.edges = nn.ModuleList(DartsMixedOp(dims, c, 2 if reduction and src < 2 else 1) for _, src in EDGES)
        self.multiplier = darts.NODES

    def forward(self, s0, s1, weights=None, choice=None):
        states = [self.pre0(s0), self.pre1(s1)]
        for k in range(2, darts.NODES + 2):
            total = None
            for e, (node, src) in enumerate(EDGES):
                if node != k:
                    continue
                index = None if choice is None else int(choice[e])
                if weights is None and index == NONE:
                    continue  # a discrete cell has no such edge
                h = self.edges[e](states[src], None if weights is None else weights[e], index)
                total = h if total is None else total + h
            states.append(total if total is not None else torch.zeros_like(states[1]))
        return torch.cat(states[2:], dim=1)


class DartsSupernet(nn.Module):
    """DARTS's search network over the ``darts`` space's skeleton (its ``C`` and ``layers``), with
    :class:`DartsSuperCell` cells; normal cells share ``weights[0]``, reduction cells ``weights[1]``."""

    alpha_shape = (len(darts.CELLS), NUM_EDGES, NUM_OPS)

    def __init__(self, space: DartsSpace, input_shape: Sequence[int], num_classes: int):
        super().__init__()
        if not isinstance(space, DartsSpace):
            raise UserInputError(f"the DARTS supernet is built for the 'darts' space; got {space.name!r}")
        if space.auxiliary:
            raise UserInputError("the DARTS supernet has no auxiliary head; search with the space's auxiliary=false")
        self.space, self.input_shape, self.num_classes = space, tuple(input_shape), num_classes
        dims = spatial_dims(input_shape, space.name)
        c_curr = 3 * space.C
        self.stem = nn.Sequential(conv(dims, input_shape[0], c_curr, 3, padding=1, bias=False),
                                  batch_norm(dims, c_curr))
        c_pp, c_p, c_curr = c_curr, c_curr, space.C
        self.cells = nn.ModuleList()
        reduction_prev = False
        for i in range(space.layers):
            reduction = i in (space.layers // 3, 2 * space.layers // 3)
            if reduction:
                c_curr *= 2
            cell = DartsSuperCell(dims, c_pp, c_p, c_curr, reduction, reduction_prev)
            self.cells.append(cell)
            reduction_prev = reduction
            c_pp, c_p = c_p, cell.multiplier * c_curr
        self.pool = nn.AdaptiveAvgPool1d(1) if dims == 1 else nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_p, num_classes)

    def forward(self, x, weights: torch.Tensor | None = None, choice=None):
        if weights is None and choice is None:
            raise ValueError("a supernet forward needs architecture weights, a choice of ops, or both")
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            t = int(cell.reduction)
            s0, s1 = s1, cell(s0, s1, None if weights is None else weights[t], None if choice is None else choice[t])
        return self.classifier(torch.flatten(self.pool(s1), 1))

    # -- between architecture weights, choices and Archs ------------------------------------
    @staticmethod
    def derive(alpha: torch.Tensor) -> Arch:
        """DARTS's rule: per node, the two incoming edges whose strongest non-``none`` op has the
        largest softmax weight, each with that op; all four nodes concatenated. Inputs are listed
        in increasing order, as the space samples them."""
        probs = torch.softmax(alpha.detach().float(), dim=-1)
        decisions = {}
        for t, cell in enumerate(darts.CELLS):
            for k in range(2, darts.NODES + 2):
                edges = [e for e, (node, _) in enumerate(EDGES) if node == k]
                best = {e: max((probs[t, e, o].item(), -o) for o in range(NUM_OPS) if o != NONE) for e in edges}
                kept = sorted(edges, key=lambda e: (-best[e][0], e))[:2]
                decisions[darts.node_key(cell, k)] = tuple((OPS[-best[e][1]], EDGES[e][1]) for e in sorted(kept))
            decisions[darts.concat_key(cell)] = tuple(range(2, darts.NODES + 2))
        return Arch(DartsSpace.name, decisions)

    @staticmethod
    def arch_to_choice(arch: Arch) -> list[list[int]]:
        """Op index per edge and cell type (``none`` where the cell has no edge); the cell must use
        only the search ops, the four nodes and concatenate all of them, as derived cells do."""
        darts.check(arch)
        choice = [[NONE] * NUM_EDGES for _ in darts.CELLS]
        for t, cell in enumerate(darts.CELLS):
            nodes, concat = darts.cell_spec(arch, cell)
            if len(nodes) != darts.NODES or tuple(concat) != tuple(range(2, darts.NODES + 2)):
                raise UserInputError(f"{cell} cell: the DARTS supernet holds cells of {darts.NODES} nodes that "
                                     f"concatenate all of them; got {arch[darts.concat_key(cell)]!r}")
            for k, node in zip(range(2, darts.NODES + 2), nodes):
                if node[0][1] == node[1][1]:
                    raise UserInputError(f"{cell} cell node {k}: both inputs read node {node[0][1]}; the "
                                         "supernet has one edge per pair of nodes")
                for op, src in node:
                    if op not in OPS:
                        raise UserInputError(f"{cell} cell node {k}: op {op!r} is not a DARTS search op; "
                                             f"known: {', '.join(OPS)}")
                    choice[t][EDGES.index((k, src))] = OPS.index(op)
        return choice

    @staticmethod
    def parameter_free_edges(arch: Arch) -> int:
        """How many of the 16 chosen ops (both cells) have no weights (skip, pooling): DARTS's collapse
        fills cells with skips."""
        return sum(op in PARAMETER_FREE for cell in darts.CELLS for node in darts.cell_spec(arch, cell)[0]
                   for op, _ in node)

    def extract(self, arch: Arch) -> nn.Module:
        """The standalone ``darts`` network of ``arch`` holding the supernet's weights for that path."""
        choice = self.arch_to_choice(arch)
        net = self.space.build(arch, self.input_shape, self.num_classes)
        own = self.state_dict()
        state = {}
        for name in net.state_dict():
            parts = name.split(".")
            if parts[0] == "cells" and parts[2] == "ops":
                i, j = int(parts[1]), int(parts[3])
                cell = net.cells[i]
                src = cell.sources[j]
                k = 2 + j // 2
                e = EDGES.index((k, src))
                t = int(self.cells[i].reduction)
                name_in_supernet = ".".join(["cells", parts[1], "edges", str(e), "ops", str(choice[t][e]), *parts[4:]])
                state[name] = own[name_in_supernet]
            else:
                state[name] = own[name]
        net.load_state_dict(state)
        return net
