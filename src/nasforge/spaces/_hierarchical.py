"""``hierarchical``: motifs built from motifs (Liu et al., "Hierarchical Representations
for Efficient Architecture Search", ICLR 2018).

Level 1 is a set of primitives; a level-2 motif is a small DAG whose edges
carry primitives; the level-3 cell is a DAG whose edges carry level-2
motifs (or identity / none). In a DAG, node 0 is the input, each later node
sums its incoming edges and the last node is the output. The network
follows the paper's search-time skeleton: a 3x3 conv stem, then stages of
``cells`` cells, separated by stride-2 separable convs that double the
channels, then global pooling and a linear classifier.

Deviations from the paper, on purpose: nodes merge by sum rather than
depthwise concatenation (the channel count stays fixed without extra 1x1
convs), and the network depth (``cells`` per stage) is a decision, so the
space can grow. Mutation follows the paper: pick a level, then one edge of
one motif at that level, then a different operation. Motifs no live cell
edge uses are carried along but do not change the network. Works on images
and sequences.
"""

from __future__ import annotations

import torch
from torch import nn

from ..core import Decision, DecisionSpace, check_int
from ..core.space import CellGraph, CellGraphs
from ..ops import SepConv, conv_bn_relu, pool_layer
from ._common import dag_edges, live_edges, spatial_dims
from ._registry import register

PRIMITIVES = ("conv1x1", "dwconv3x3", "sepconv3x3", "maxpool3x3", "avgpool3x3", "identity", "none")
CELLS = (1, 2, 3)


def primitive(name: str, dims: int, channels: int) -> nn.Module:
    if name == "conv1x1":
        return conv_bn_relu(dims, channels, channels, 1)
    if name == "dwconv3x3":
        return conv_bn_relu(dims, channels, channels, 3, groups=channels)
    if name == "sepconv3x3":
        return SepConv(dims, channels, channels, 3, 1)
    if name in ("maxpool3x3", "avgpool3x3"):
        return pool_layer(dims, "max" if name == "maxpool3x3" else "avg", 3, 1)
    if name == "identity":
        return nn.Identity()
    raise ValueError(f"no module for primitive {name!r}")


class Dag(nn.Module):
    """Node 0 is the input; node j sums ``op(node i)`` over its edges; returns the last node.

    With no live edge the output is ``0 * x``: zeros that stay in the autograd
    graph, so the layers before a dead cell still get (zero) gradients.
    """

    def __init__(self, nodes: int, edges: list[tuple[int, int]], ops: list[nn.Module]):
        super().__init__()
        self.nodes, self.edges, self.ops = nodes, edges, nn.ModuleList(ops)

    def forward(self, x):
        values = [x] + [None] * (self.nodes - 1)
        for (i, j), op in zip(self.edges, self.ops):
            out = op(values[i])
            values[j] = out if values[j] is None else values[j] + out
        return values[-1] if values[-1] is not None else 0 * x


class HierarchicalNet(nn.Module):
    def __init__(self, stem: nn.Module, body: list[nn.Module], channels: int, num_classes: int, dims: int):
        super().__init__()
        self.stem, self.body = stem, nn.Sequential(*body)
        self.pool = nn.AdaptiveAvgPool1d(1) if dims == 1 else nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(channels, num_classes)

    def forward(self, x):
        return self.classifier(torch.flatten(self.pool(self.body(self.stem(x))), 1))


@register("hierarchical")
class HierarchicalSpace(DecisionSpace):
    """Liu et al. 2018: level-1 primitives -> level-2 motifs -> a level-3 cell, stacked with reductions."""

    name = "hierarchical"

    def __init__(self, motifs: int = 3, motif_nodes: int = 4, cell_nodes: int = 4, channels: int = 16,
                 num_stages: int = 3):
        for key, value, low, high in (("motifs", motifs, 1, 8), ("motif_nodes", motif_nodes, 2, 6),
                                      ("cell_nodes", cell_nodes, 2, 6), ("channels", channels, 1, 1024),
                                      ("num_stages", num_stages, 1, 5)):
            check_int("hierarchical", key, value, low, high)
        self.motifs, self.motif_nodes, self.cell_nodes = motifs, motif_nodes, cell_nodes
        self.channels, self.num_stages = channels, num_stages
        self.motif_names = tuple(f"m{k}" for k in range(motifs))
        decisions = [Decision("cells", CELLS, ordinal=True)]
        decisions += [Decision(f"cell.{i}->{j}", (*self.motif_names, "identity", "none"))
                      for i, j in dag_edges(cell_nodes)]
        decisions += [Decision(f"{m}.{i}->{j}", PRIMITIVES) for m in self.motif_names
                      for i, j in dag_edges(motif_nodes)]
        super().__init__(decisions)

    def config(self):
        return {"motifs": self.motifs, "motif_nodes": self.motif_nodes, "cell_nodes": self.cell_nodes,
                "channels": self.channels, "num_stages": self.num_stages}

    def levels(self) -> dict[str, list[list[str]]]:
        """Decision names by level: each level is a list of motifs, each a list of edge decisions."""
        return {"level-2": [[f"{m}.{i}->{j}" for i, j in dag_edges(self.motif_nodes)] for m in self.motif_names],
                "level-3": [[f"cell.{i}->{j}" for i, j in dag_edges(self.cell_nodes)]]}

    def crossover_groups(self):
        return [["cells"], *self.levels()["level-3"], *self.levels()["level-2"]]

    def mutate(self, arch, rng):
        """Change one edge of one motif at one level (the paper's mutation); rarely the depth."""
        self.validate(arch)
        groups = [*self.levels().values(), [["cells"]]]
        weights = [0.45, 0.45, 0.1]
        level = groups[rng.choice(len(groups), p=weights)]
        motif = level[rng.integers(len(level))]
        name = motif[rng.integers(len(motif))]
        decision = next(d for d in self.decisions if d.name == name)
        options = self._alternatives(decision, arch[name])
        return arch.replace(**{name: options[rng.integers(len(options))]})

    def grow(self, arch):
        """One more cell per stage; None at the most cells."""
        self.validate(arch)
        if arch["cells"] == CELLS[-1]:
            return None
        return arch.replace(cells=CELLS[CELLS.index(arch["cells"]) + 1])

    def _motif_ops(self, arch, motif: str) -> dict[tuple[int, int], str]:
        return {(i, j): arch[f"{motif}.{i}->{j}"] for i, j in dag_edges(self.motif_nodes)}

    def _cell_ops(self, arch) -> dict[tuple[int, int], str]:
        """The cell's edges, with motifs that output nothing (no live path) read as 'none'."""
        dead = {m for m in self.motif_names if not live_edges(self._motif_ops(arch, m), self.motif_nodes)}
        ops = {(i, j): arch[f"cell.{i}->{j}"] for i, j in dag_edges(self.cell_nodes)}
        return {e: "none" if op in dead else op for e, op in ops.items()}

    def _motif(self, arch, motif: str, dims: int, channels: int) -> Dag:
        ops = self._motif_ops(arch, motif)
        edges = live_edges(ops, self.motif_nodes)
        return Dag(self.motif_nodes, edges, [primitive(ops[e], dims, channels) for e in edges])

    def _cell(self, arch, dims: int, channels: int) -> Dag:
        ops = self._cell_ops(arch)
        edges = live_edges(ops, self.cell_nodes)
        modules = [nn.Identity() if ops[e] == "identity" else self._motif(arch, ops[e], dims, channels)
                   for e in edges]
        return Dag(self.cell_nodes, edges, modules)

    def build(self, arch, input_shape, num_classes, width_multiplier=1.0):
        self.validate(arch)
        dims = spatial_dims(input_shape, self.name)
        c = max(1, round(self.channels * width_multiplier))
        stem = conv_bn_relu(dims, input_shape[0], c, 3)
        body: list[nn.Module] = []
        for stage in range(self.num_stages):
            if stage > 0:
                body.append(SepConv(dims, c, 2 * c, 3, 2))
                c *= 2
            body += [self._cell(arch, dims, c) for _ in range(arch["cells"])]
        return HierarchicalNet(stem, body, c, num_classes, dims)

    def describe(self, arch):
        def dag(ops):
            return ",".join(f"{i}{j}:{op}" for (i, j), op in ops.items() if op != "none") or "empty"

        used = sorted({op for op in self._cell_ops(arch).values() if op in self.motif_names})
        cell = dag({e: arch[f"cell.{e[0]}->{e[1]}"] for e in dag_edges(self.cell_nodes)})
        return " ".join([f"{arch['cells']}x[{cell}]"] + [f"{m}=[{dag(self._motif_ops(arch, m))}]" for m in used])

    def _graph(self, arch, prefix: str, nodes: int, title: str) -> CellGraph:
        """One DAG of ``arch`` as a graph: 'none' edges left out, dead edges dashed."""
        ops = {(i, j): arch[f"{prefix}.{i}->{j}"] for i, j in dag_edges(nodes)}
        live = set(live_edges(ops, nodes))
        labels = ["in"] + [str(k) for k in range(1, nodes - 1)] + ["out"]
        kinds = ["input"] + ["node"] * (nodes - 2) + ["output"]
        edges = tuple((i, j, op, "op" if (i, j) in live else "dead") for (i, j), op in ops.items() if op != "none")
        return CellGraph(title, tuple(zip(range(nodes), labels, kinds)), edges)

    def drawing(self, arch):
        """The level-3 cell, and below it, three to a row, the level-2 motifs its live edges use."""
        cell = self._graph(arch, "cell", self.cell_nodes,
                           f"level 3: cell (x{arch['cells']} per stage, {self.num_stages} stages)")
        used_ops = {op for i, j, op, style in cell.edges if style == "op"}
        used = [m for m in self.motif_names if m in used_ops]
        motifs = [self._graph(arch, m, self.motif_nodes, f"level 2: motif {m}") for m in used]
        note = "'none' edges omitted; dashed: no path from input to output"
        unused = [m for m in self.motif_names if m not in used]
        if unused:
            note += f"; motif(s) {', '.join(unused)} unused by this cell"
        return CellGraphs(((cell,), *(tuple(motifs[k:k + 3]) for k in range(0, len(motifs), 3))), note)
