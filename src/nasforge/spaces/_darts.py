"""``darts``: the DARTS cell space and its evaluation network (Liu, Simonyan & Yang, ICLR 2019).

A network stacks two kinds of cells: *normal* cells keep the resolution,
*reduction* cells (at 1/3 and 2/3 of the depth) halve it and double the
width. A cell takes the outputs of the two previous cells (inputs 0 and 1)
and computes 4 intermediate nodes; node k (2..5) sums two operations, each
applied to an earlier node, and the cell outputs the concatenation of its
intermediate nodes. The 8 DARTS operations are allowed; like DARTS's
discretised cells (paper, App. C: about 1e9 cells per type), sampled cells
use the 7 non-zero ones and two distinct earlier nodes per node, listed in
increasing order.

An architecture mirrors DARTS's ``Genotype``: one decision per node,
``"normal.node2" = (("sep_conv_3x3", 1), ("sep_conv_3x3", 0))``, and the
concatenated nodes, ``"normal.concat" = (2, 3, 4, 5)``; likewise for
``reduce``. Published cells built by other searches (NASNet-A, AmoebaNet-A:
5 nodes, other operations, partial concatenation) are architectures of this
space too; they build and evaluate, and search moves them back towards the
8 DARTS operations.

>>> from nasforge.spaces import darts
>>> arch = darts.genotype("DARTS_V2")
>>> darts.from_genotype(darts.to_genotype(arch)) == arch
True
"""

from __future__ import annotations

import ast
import functools
import json
import re
from importlib import resources

import numpy as np
import torch
from torch import nn

from ..core import Arch, InvalidArchError, SearchSpace, UnknownNameError, UserInputError, check_int
from ..core.space import CellGraph, CellGraphs
from ..ops import CELL_OPS, FactorizedReduce, ReLUConvBN, batch_norm, conv, make_op
from ._common import spatial_dims
from ._registry import register

SEARCH_OPS = ("none", "max_pool_3x3", "avg_pool_3x3", "skip_connect",
              "sep_conv_3x3", "sep_conv_5x5", "dil_conv_3x3", "dil_conv_5x5")  # DARTS's PRIMITIVES
SAMPLED_OPS = SEARCH_OPS[1:]  # DARTS never derives 'none' into a discrete cell
OPS = tuple(CELL_OPS)  # what a cell may hold (published cells use more than the search ops); fixed for encodings
CELLS = ("normal", "reduce")
NODES = 4  # intermediate nodes of a searched cell
MAX_NODES = 5  # the most any published cell uses (NASNet-A, AmoebaNet-A)
FIELDS = ("normal", "normal_concat", "reduce", "reduce_concat")


def node_key(cell: str, node: int) -> str:
    return f"{cell}.node{node}"


def concat_key(cell: str) -> str:
    return f"{cell}.concat"


# -- validation --------------------------------------------------------------------------------

def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _node_count(arch: Arch, cell: str) -> int:
    """Number of intermediate nodes of ``cell``: keys node2, node3, ... with no gap."""
    present = {k for k in arch.decisions if k.startswith(cell + ".node")}
    n = 0
    while node_key(cell, n + 2) in present:
        n += 1
    stray = present - {node_key(cell, k) for k in range(2, n + 2)}
    if stray:
        raise InvalidArchError(f"{cell} cell: decision(s) {sorted(stray)} do not follow node2..node{n + 1}; "
                               f"intermediate nodes are numbered from 2 without gaps")
    if not 1 <= n <= MAX_NODES:
        raise InvalidArchError(f"{cell} cell has {n} intermediate nodes ('{cell}.node2', ...); "
                               f"a darts cell has 1 to {MAX_NODES}")
    return n


def check(arch: Arch) -> None:
    """Raise :class:`InvalidArchError` naming the first bad decision of a darts architecture."""
    known = set()
    for cell in CELLS:
        n = _node_count(arch, cell)
        known |= {node_key(cell, k) for k in range(2, n + 2)} | {concat_key(cell)}
        for k in range(2, n + 2):
            key = node_key(cell, k)
            value = arch[key]
            if not (isinstance(value, tuple) and len(value) == 2
                    and all(isinstance(p, tuple) and len(p) == 2 for p in value)):
                raise InvalidArchError(f"{cell} cell node {k} ({key!r}): a node is two (op, input) pairs, "
                                       f"e.g. (('sep_conv_3x3', 0), ('skip_connect', 1)); got {value!r}")
            for i, (op, src) in enumerate(value):
                where = f"{cell} cell node {k} input {i} ({key!r})"
                if op not in CELL_OPS:
                    raise InvalidArchError(f"{where}: unknown op {op!r}; known: {', '.join(OPS)}")
                if not _is_int(src) or not 0 <= src < k:
                    raise InvalidArchError(f"{where}: input {src!r} is not an earlier node; "
                                           f"allowed: 0 to {k - 1} (0, 1: previous cells)")
        key = concat_key(cell)
        if key not in arch.decisions:
            raise InvalidArchError(f"{cell} cell: missing decision {key!r} (the nodes concatenated as output)")
        concat = arch[key]
        if (not isinstance(concat, tuple) or not concat or not all(_is_int(c) and 2 <= c < n + 2 for c in concat)
                or list(concat) != sorted(set(concat))):
            raise InvalidArchError(f"{cell} cell concat ({key!r}): expected increasing intermediate nodes "
                                   f"from 2 to {n + 1}; got {concat!r}")
    extra = set(arch.decisions) - known
    if extra:
        raise InvalidArchError(f"space 'darts': unknown decision(s) {sorted(extra)}; a darts arch has "
                               f"'normal.node2'.., 'normal.concat', 'reduce.node2'.., 'reduce.concat'")


def cell_spec(arch: Arch, cell: str) -> tuple[list[tuple[tuple[str, int], ...]], tuple[int, ...]]:
    """(nodes, concat) of one cell: nodes[k - 2] holds node k's two (op, input) pairs."""
    n = _node_count(arch, cell)
    return [arch[node_key(cell, k)] for k in range(2, n + 2)], arch[concat_key(cell)]


# -- the network ---------------------------------------------------------------------------------

def drop_path(x: torch.Tensor, p: float) -> torch.Tensor:
    """Zero whole samples of a branch with probability p, rescaling the rest (NASNet's DropPath)."""
    keep = 1.0 - p
    mask = torch.empty((x.shape[0],) + (1,) * (x.dim() - 1), device=x.device, dtype=x.dtype).bernoulli_(keep)
    return x * mask / keep


class DartsCell(nn.Module):
    """One cell: preprocess the two previous outputs to ``c`` channels (a factorized reduce
    for the older one when the previous cell halved the resolution), compute each node as a
    sum of two ops, concatenate the listed nodes. Ops on inputs 0 and 1 stride in a
    reduction cell. Preprocessing of an input no op reads is left out."""

    def __init__(self, nodes, concat, dims, c_pp, c_p, c, reduction, reduction_prev):
        super().__init__()
        used = {src for node in nodes for _, src in node}
        self.pre0 = None if 0 not in used else (
            FactorizedReduce(dims, c_pp, c) if reduction_prev else ReLUConvBN(dims, c_pp, c, 1))
        self.pre1 = ReLUConvBN(dims, c_p, c, 1) if 1 in used else None
        self.sources = [src for node in nodes for _, src in node]
        self.ops = nn.ModuleList(make_op(op, dims, c, c, 2 if reduction and src < 2 else 1, CELL_OPS)
                                 for node in nodes for op, src in node)
        self.concat = tuple(concat)
        self.multiplier = len(concat)

    def forward(self, s0, s1, drop_prob: float = 0.0):
        states = [self.pre0(s0) if self.pre0 is not None else s0, self.pre1(s1) if self.pre1 is not None else s1]
        for k in range(0, len(self.ops), 2):
            total = None
            for op, src in zip(self.ops[k:k + 2], self.sources[k:k + 2]):
                h = op(states[src])
                if self.training and drop_prob > 0 and not isinstance(op, nn.Identity):
                    h = drop_path(h, drop_prob)
                total = h if total is None else total + h
            states.append(total)
        return torch.cat([states[i] for i in self.concat], dim=1)


class AuxiliaryHead(nn.Module):
    """DARTS's CIFAR auxiliary classifier on the 8x8 maps after the second reduction: ReLU,
    5x5/3 average pooling, 1x1 conv to 128, 2x2 conv to 768, linear. Maps smaller than 5
    skip the pooling; any size is brought to 2x2 before the 2x2 conv."""

    def __init__(self, dims, channels, num_classes, spatial):
        super().__init__()
        pool = ((nn.AvgPool1d if dims == 1 else nn.AvgPool2d)(5, stride=3, count_include_pad=False)
                if spatial >= 5 else nn.Identity())
        self.features = nn.Sequential(
            nn.ReLU(inplace=True), pool, nn.AdaptiveAvgPool1d(2) if dims == 1 else nn.AdaptiveAvgPool2d(2),
            conv(dims, channels, 128, 1, bias=False), batch_norm(dims, 128), nn.ReLU(inplace=True),
            conv(dims, 128, 768, 2, bias=False), batch_norm(dims, 768), nn.ReLU(inplace=True), nn.Flatten())
        self.classifier = nn.Linear(768, num_classes)

    def forward(self, x):
        return self.classifier(self.features(x))


class DartsNet(nn.Module):
    """DARTS's evaluation network: 3x3 conv stem to ``3 C`` channels, ``layers`` cells with
    reductions at ``layers // 3`` and ``2 layers // 3``, global pooling and a linear layer.

    ``forward`` returns the logits. With ``auxiliary``, ``forward_with_aux`` also returns the
    auxiliary head's logits in training mode (DARTS adds them to the loss with weight 0.4).
    ``drop_path_prob`` (0 by default; DARTS uses 0.2) drops op outputs while training.
    """

    def __init__(self, normal, reduce, dims, in_channels, C, layers, num_classes, auxiliary, spatial):
        super().__init__()
        self.drop_path_prob = 0.0
        c_curr = 3 * C
        self.stem = nn.Sequential(conv(dims, in_channels, c_curr, 3, padding=1, bias=False),
                                  batch_norm(dims, c_curr))
        c_pp, c_p, c_curr = c_curr, c_curr, C
        self.cells = nn.ModuleList()
        self.aux_index = 2 * layers // 3
        self.auxiliary = None
        reduction_prev = False
        for i in range(layers):
            reduction = i in (layers // 3, 2 * layers // 3)
            if reduction:
                c_curr *= 2
                spatial = (spatial + 1) // 2
            nodes, concat = reduce if reduction else normal
            cell = DartsCell(nodes, concat, dims, c_pp, c_p, c_curr, reduction, reduction_prev)
            self.cells.append(cell)
            reduction_prev = reduction
            c_pp, c_p = c_p, cell.multiplier * c_curr
            if auxiliary and i == self.aux_index:
                self.auxiliary = AuxiliaryHead(dims, c_p, num_classes, spatial)
        self.pool = nn.AdaptiveAvgPool1d(1) if dims == 1 else nn.AdaptiveAvgPool2d(1)
        self.classifier = nn.Linear(c_p, num_classes)

    def forward_with_aux(self, x):
        aux = None
        s0 = s1 = self.stem(x)
        for i, cell in enumerate(self.cells):
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
            if i == self.aux_index and self.auxiliary is not None and self.training:
                aux = self.auxiliary(s1)
        return self.classifier(torch.flatten(self.pool(s1), 1)), aux

    def forward(self, x):
        s0 = s1 = self.stem(x)
        for cell in self.cells:
            s0, s1 = s1, cell(s0, s1, self.drop_path_prob)
        return self.classifier(torch.flatten(self.pool(s1), 1))


# -- the space ---------------------------------------------------------------------------------

_SHORT = {"none": "none", "max_pool_3x3": "max", "avg_pool_3x3": "avg", "skip_connect": "skip",
          "conv_7x1_1x7": "c7x1x7"}


def _short(op: str) -> str:
    return _SHORT.get(op, op.replace("_conv_", "").replace("conv_", "c"))


@register("darts")
class DartsSpace(SearchSpace):
    """DARTS cells (normal + reduction; 4 nodes, each two ops on two earlier nodes) in DARTS's
    evaluation network.

    ``C`` is the initial width and ``layers`` the number of cells; ``C=36,
    layers=20`` is the published CIFAR-10 evaluation network, the defaults
    (16, 8) are DARTS's search network, small enough to train on a CPU.
    ``auxiliary`` adds DARTS's auxiliary head (see :class:`DartsNet`).
    """

    name = "darts"

    def __init__(self, C: int = 16, layers: int = 8, auxiliary: bool = False):
        check_int("darts", "C", C, 2)
        check_int("darts", "layers", layers, 1)
        if not isinstance(auxiliary, bool):
            raise UserInputError(f"The 'auxiliary' parameter of darts must be a bool. Got {auxiliary!r} instead.")
        self.C, self.layers, self.auxiliary = C, layers, auxiliary

    def config(self):
        return {"C": self.C, "layers": self.layers, "auxiliary": self.auxiliary}

    def validate(self, arch):
        self._check_space(arch)
        check(arch)

    def sample(self, rng):
        decisions = {}
        for cell in CELLS:
            for k in range(2, NODES + 2):
                sources = sorted(int(s) for s in rng.choice(k, size=2, replace=False))
                ops = rng.integers(len(SAMPLED_OPS), size=2)
                decisions[node_key(cell, k)] = tuple((SAMPLED_OPS[o], s) for o, s in zip(ops, sources))
            decisions[concat_key(cell)] = tuple(range(2, NODES + 2))
        return Arch(self.name, decisions)

    @staticmethod
    def _changes(arch: Arch, cell: str, k: int, i: int) -> tuple[list[Arch], list[Arch]]:
        """Archs with input ``i`` of node ``k`` given another (non-zero) op / another source:
        never the source of the node's other input, so nodes keep two distinct inputs, and the
        changed node lists its inputs in increasing order, as sampled nodes do."""
        key = node_key(cell, k)
        pairs = list(arch[key])
        op, src = pairs[i]
        other = pairs[1 - i][1]

        def with_pair(pair, sort=False):
            new = list(pairs)
            new[i] = pair
            return arch.replace(**{key: tuple(sorted(new, key=lambda p: p[1]) if sort else new)})

        return ([with_pair((o, src)) for o in SAMPLED_OPS if o != op],
                [with_pair((op, s), sort=True) for s in range(k) if s not in (src, other)])

    def mutate(self, arch, rng):
        """AmoebaNet's mutations (Real et al., 2019): pick a cell, node and input; change its op
        or (half the time, when another source exists) the node it reads."""
        self.validate(arch)
        cell = CELLS[rng.integers(len(CELLS))]
        k = 2 + int(rng.integers(_node_count(arch, cell)))
        op_changes, src_changes = self._changes(arch, cell, k, int(rng.integers(2)))
        options = src_changes if src_changes and rng.random() < 0.5 else op_changes
        return options[rng.integers(len(options))]

    def neighbors(self, arch):
        self.validate(arch)
        out = []
        for cell in CELLS:
            for k in range(2, _node_count(arch, cell) + 2):
                for i in range(2):
                    op_changes, src_changes = self._changes(arch, cell, k, i)
                    out += op_changes + src_changes
        return out

    def crossover(self, a, b, rng):
        """Node by node from either parent, the concatenation from either; a cell whose node
        count differs between the parents comes whole from one of them."""
        self.validate(a)
        self.validate(b)
        child = {}
        for cell in CELLS:
            n = _node_count(a, cell)
            if n == _node_count(b, cell):
                for key in [node_key(cell, k) for k in range(2, n + 2)] + [concat_key(cell)]:
                    child[key] = (a if rng.random() < 0.5 else b)[key]
            else:
                parent = a if rng.random() < 0.5 else b
                child.update({k: v for k, v in parent.decisions.items() if k.startswith(cell + ".")})
        return Arch(self.name, child)

    @property
    def encoding_length(self):
        return len(CELLS) * (MAX_NODES * 2 * (len(OPS) + MAX_NODES + 1) + MAX_NODES)

    def encode(self, arch):
        """Per cell and node slot (up to 5), per input: one-hot op over every known op and
        one-hot source; then a mask of the concatenated nodes. Absent nodes are zeros."""
        self.validate(arch)
        parts = []
        for cell in CELLS:
            nodes, concat = cell_spec(arch, cell)
            block = np.zeros((MAX_NODES, 2, len(OPS) + MAX_NODES + 1), dtype=np.float32)
            for n, node in enumerate(nodes):
                for i, (op, src) in enumerate(node):
                    block[n, i, OPS.index(op)] = 1.0
                    block[n, i, len(OPS) + src] = 1.0
            mask = np.zeros(MAX_NODES, dtype=np.float32)
            mask[[c - 2 for c in concat]] = 1.0
            parts += [block.ravel(), mask]
        return np.concatenate(parts)

    @property
    def size(self):
        """Distinct architectures sampling can produce: per node k, two distinct inputs
        (k (k - 1) / 2 ways) and two of the 7 non-zero ops; both cells. About 1e18, as the
        DARTS paper counts (App. C)."""
        per_cell = 1
        for k in range(2, NODES + 2):
            per_cell *= k * (k - 1) // 2 * len(SAMPLED_OPS) ** 2
        return per_cell ** len(CELLS)

    def grow(self, arch):
        """Not by changing the architecture: a darts arch is its cells, and the depth of the
        network is the space's ``layers`` option; :meth:`deeper` gives the same cells one
        more cell deep (as DARTS goes from 8 searched to 20 evaluated cells)."""
        raise UserInputError("a darts architecture holds only its cells; grow the network with the space's "
                             "'layers' option, e.g. space.deeper() or spaces.get('darts', layers=N)")

    def deeper(self, cells: int = 1) -> DartsSpace:
        """The same space with ``cells`` more cells; every architecture builds in it unchanged."""
        return DartsSpace(C=self.C, layers=self.layers + cells, auxiliary=self.auxiliary)

    def describe(self, arch):
        parts = []
        for cell in CELLS:
            nodes, concat = cell_spec(arch, cell)
            text = " ".join("+".join(f"{_short(op)}~{src}" for op, src in node) for node in nodes)
            if tuple(concat) != tuple(range(2, len(nodes) + 2)):
                text += " cat" + ",".join(map(str, concat))
            parts.append(f"{cell[0].upper()}[{text}]")
        return " ".join(parts)

    def drawing(self, arch):
        """The normal and the reduction cell side by side."""
        note = ("c[k-2], c[k-1]: outputs of the two previous cells; 0..: intermediate nodes; "
                "grey: concatenated into the output c[k]")
        cells = (_cell_graph(arch, "normal", "normal cell"), _cell_graph(arch, "reduce", "reduction cell"))
        return CellGraphs((cells,), note)

    def build(self, arch, input_shape, num_classes, width_multiplier=1.0):
        self.validate(arch)
        dims = spatial_dims(input_shape, self.name)
        C = max(2, round(self.C * width_multiplier))
        return DartsNet(cell_spec(arch, "normal"), cell_spec(arch, "reduce"), dims, input_shape[0], C,
                        self.layers, num_classes, self.auxiliary, min(input_shape[1:]))


def _cell_graph(arch: Arch, cell: str, title: str) -> CellGraph:
    """One cell as a graph: the two cell inputs, the intermediate nodes (numbered from 0, as
    DARTS's figures do), the output; 'none' ops left out, concatenated nodes in grey."""
    nodes, concat = cell_spec(arch, cell)
    keys = range(2, len(nodes) + 2)
    graph_nodes = ((0, "c[k-2]", "input"), (1, "c[k-1]", "input"), *((k, str(k - 2), "node") for k in keys),
                   ("out", "c[k]", "output"))
    edges = [(src, k, op, "op") for k, node in zip(keys, nodes) for op, src in node if op != "none"]
    edges += [(k, "out", "", "concat") for k in concat]
    return CellGraph(title, graph_nodes, tuple(edges))


# -- DARTS genotype notation -----------------------------------------------------------------------

def from_cells(normal, normal_concat, reduce, reduce_concat) -> Arch:
    """An arch from DARTS's four genotype fields: lists of (op, input) pairs, two per node,
    and the concatenated nodes."""
    decisions = {}
    for cell, pairs, concat in (("normal", normal, normal_concat), ("reduce", reduce, reduce_concat)):
        if not isinstance(pairs, (list, tuple)) or len(pairs) % 2:
            raise InvalidArchError(f"genotype field {cell!r} lists two (op, input) pairs per node; got {pairs!r}")
        for j, pair in enumerate(pairs):
            if not (isinstance(pair, (list, tuple)) and len(pair) == 2):
                raise InvalidArchError(f"genotype field {cell!r}, entry {j}: expected an (op, input) pair; "
                                       f"got {pair!r}")
        for k in range(2, len(pairs) // 2 + 2):
            decisions[node_key(cell, k)] = (tuple(pairs[2 * k - 4]), tuple(pairs[2 * k - 3]))
        if not isinstance(concat, (list, tuple, range)):
            raise InvalidArchError(f"genotype field '{cell}_concat' is a list of nodes; got {concat!r}")
        decisions[concat_key(cell)] = tuple(concat)
    arch = Arch(DartsSpace.name, decisions)
    check(arch)
    return arch


_FIELD = re.compile(r"^([A-Za-z_]\w*)\s*=(.*)$", re.DOTALL)
_RANGE = re.compile(r"^range\(\s*(\d+)\s*,\s*(\d+)\s*\)$")
_GENOTYPE = re.compile(r"^Genotype\s*\((.*)\)$", re.DOTALL)


def _split_arguments(text: str) -> list[str]:
    """Split at the commas that are not inside brackets or quotes."""
    parts, depth, start, quote = [], 0, 0, None
    for i, ch in enumerate(text):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def from_genotype(text: str) -> Arch:
    """Parse DARTS's notation, ``Genotype(normal=[('sep_conv_3x3', 0), ...], normal_concat=[2, 3, 4, 5],
    reduce=[...], reduce_concat=[...])``, as printed by DARTS and its descendants. Values are
    read as Python literals (never evaluated); ``range(a, b)`` is accepted for the concat lists."""
    match = _GENOTYPE.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise InvalidArchError("a DARTS genotype reads 'Genotype(normal=[...], normal_concat=[...], "
                               f"reduce=[...], reduce_concat=[...])'; got {text!r}")
    fields, named_seen = {}, False
    for position, part in enumerate(_split_arguments(match.group(1))):
        named = _FIELD.match(part)
        if named:
            name, value, named_seen = named.group(1), named.group(2).strip(), True
        elif not named_seen and position < len(FIELDS):  # positional, as the namedtuple allows
            name, value = FIELDS[position], part
        else:
            raise InvalidArchError(f"genotype argument {part!r} has no field name")
        if name not in FIELDS:
            raise InvalidArchError(f"unknown genotype field {name!r}; known: {', '.join(FIELDS)}")
        if name in fields:
            raise InvalidArchError(f"genotype field {name!r} is given twice")
        rng = _RANGE.match(value)
        try:
            fields[name] = list(range(int(rng.group(1)), int(rng.group(2)))) if rng else ast.literal_eval(value)
        except (ValueError, SyntaxError, MemoryError, RecursionError):
            raise InvalidArchError(f"genotype field {name!r} is not a literal list: {value!r}") from None
    missing = [f for f in FIELDS if f not in fields]
    if missing:
        raise InvalidArchError(f"genotype lacks field(s) {', '.join(missing)}")
    return from_cells(*(fields[f] for f in FIELDS))


def to_genotype(arch: Arch) -> str:
    """DARTS's notation of a darts arch (the inverse of :func:`from_genotype`)."""
    if not isinstance(arch, Arch) or arch.space != DartsSpace.name:
        raise InvalidArchError(f"to_genotype needs a darts architecture; got {arch!r}")
    check(arch)
    fields = []
    for cell in CELLS:
        nodes, concat = cell_spec(arch, cell)
        pairs = ", ".join(f"({op!r}, {src})" for node in nodes for op, src in node)
        fields += [f"{cell}=[{pairs}]", f"{cell}_concat=[{', '.join(map(str, concat))}]"]
    return f"Genotype({', '.join(fields)})"


@functools.lru_cache(maxsize=1)
def _published() -> dict:
    return json.loads((resources.files(__package__) / "darts_genotypes.json").read_text(encoding="utf-8"))


def genotype_names() -> list[str]:
    """Names of the bundled published cells (aliases included)."""
    data = _published()
    return sorted([*data["genotypes"], *data["aliases"]])


def genotype(name: str) -> Arch:
    """A published cell by name: ``NASNet`` (alias ``NASNet-A``), ``AmoebaNet`` (``AmoebaNet-A``),
    ``DARTS_V1``, ``DARTS_V2`` (``DARTS``), as released with DARTS (see darts_genotypes.json)."""
    data = _published()
    key = data["aliases"].get(name, name)
    if key not in data["genotypes"]:
        raise UnknownNameError("genotype", name, genotype_names())
    g = data["genotypes"][key]
    return from_cells(*(g[f] for f in FIELDS))
