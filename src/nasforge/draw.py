"""Draw an architecture as a picture: cell graphs or a chain of stages.

A space says what to show through its ``drawing(arch)`` hook, as plain data
(:class:`~nasforge.core.space.CellGraphs` or :class:`~nasforge.core.space.Chain`);
this module renders it. Cell spaces (``nb201``, ``darts``, ``hierarchical``)
are drawn as graphs whose edges carry their operations; chain spaces
(``macro-cnn``, ``mobilenet-elastic``, ``transformer``, define-by-run
functions and, by the hook's default, any other space) as a left-to-right
chain of boxes, one per stage, block or layer. A new kind of picture is a
new drawing type in ``core/space.py`` plus its drawer in :data:`DRAWERS`.

Only matplotlib is needed (the ``plot`` extra), through its Agg canvas: no
graphviz, no pyplot, no global state. The format follows the suffix of the
output file (``.svg``, ``.png`` or ``.pdf``); SVG keeps its text as text,
so op names stay searchable.

>>> import numpy as np
>>> from nasforge import spaces
>>> space = spaces.get("nb201")
>>> draw(space.sample(np.random.default_rng(0)), space, "cell.svg")  # doctest: +SKIP
PosixPath('cell.svg')

All sizes below are in inches: the drawing axes span the whole figure
and the figure is sized to its contents, so one data unit is one inch and
label boxes can be measured (monospace text) before anything is drawn.
"""

from __future__ import annotations

import json
import math
import textwrap
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from . import spaces
from .core import Arch, InvalidArchError, SpaceDefinitionError, UserInputError, require
from .core.space import CellGraph, CellGraphs, Chain

FORMATS = ("svg", "png", "pdf")
FONT = 8.0  # points
FAMILY = "DejaVu Sans Mono"  # ships with matplotlib; monospace, so text width is predictable
CHAR_W = 0.6 * FONT / 72  # inches per character
LINE_H = 1.3 * FONT / 72  # inches per line
PAD = 0.05
COLORS = {"input": "#dbe9f6", "output": "#d9f0d3", "node": "#ffffff", "box": "#f4f4f4", "head": "#fbe9d0"}


# -- entry points ----------------------------------------------------------------------

def draw(arch: Arch, space=None, out: str | Path = "arch.svg", *, title: str | None = None) -> Path:
    """Render ``arch`` to ``out`` (format from its suffix) and return the path.

    ``space`` is a :class:`~nasforge.spaces.SearchSpace`, a registered name,
    or None for the architecture's own space (built with default options).
    """
    out = Path(out)
    fmt = output_format(out)
    if not isinstance(arch, Arch):
        raise InvalidArchError(f"draw needs an Arch; got {type(arch).__name__}")
    if space is None or isinstance(space, str):
        space = spaces.get(space or arch.space)
    space.validate(arch)
    drawing = space.drawing(arch)
    if type(drawing) not in DRAWERS:
        raise SpaceDefinitionError(f"space {space.name!r}: drawing() returned a {type(drawing).__name__}; "
                                   f"expected one of {', '.join(t.__name__ for t in DRAWERS)}")
    sheet = _Sheet(title if title is not None else f"{space.name}: {space.describe(arch)}")
    DRAWERS[type(drawing)](sheet, drawing)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, fmt)
    return out


def output_format(out: str | Path) -> str:
    """The file format named by the suffix of ``out``; a clear error for any other suffix."""
    suffix = Path(out).suffix.lower().lstrip(".")
    if suffix not in FORMATS:
        raise UserInputError(f"cannot tell the drawing format from {str(out)!r}: the output file must end in "
                             f"{', '.join('.' + f for f in FORMATS)}; got {('.' + suffix) if suffix else 'no suffix'}")
    return suffix


def load_arch(path: str | Path) -> tuple[Arch, dict[str, Any]]:
    """An architecture and its space options from a JSON file.

    Accepts an ``Arch.to_dict()`` object (``{"space": ..., "decisions": ...}``)
    or a document holding one under ``"arch"`` (the ``summary.json`` that
    ``nasforge train`` and ``nasforge auto`` write), with optional
    ``"space_options"``.
    """
    file = Path(path)
    if not file.is_file():
        raise UserInputError(f"architecture file {str(path)!r} does not exist")
    try:
        doc = json.loads(file.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidArchError(f"{str(path)!r} is not valid JSON: {exc}") from None
    options: Any = {}
    if isinstance(doc, Mapping) and isinstance(doc.get("arch"), Mapping):
        options = doc.get("space_options") or {}
        doc = doc["arch"]
    elif isinstance(doc, Mapping):
        options = doc.get("space_options") or {}
    if not isinstance(options, Mapping):
        raise InvalidArchError(f"{str(path)!r}: 'space_options' must be a JSON object")
    try:
        return Arch.from_dict(doc), dict(options)
    except InvalidArchError as exc:
        raise InvalidArchError(f"{str(path)!r}: {exc}") from None


# -- the sheet: one axes in inches, sized to what is drawn ----------------------------------

def _text_size(text: str, size: float = FONT) -> tuple[float, float]:
    lines = text.split("\n")
    scale = size / FONT
    return max(len(line) for line in lines) * CHAR_W * scale, len(lines) * LINE_H * scale


def _overlap(a, b) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


class _Sheet:
    """A matplotlib figure whose single axes is measured in inches."""

    def __init__(self, title: str):
        mpl = require("matplotlib", "plot")
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        self.mpl = mpl
        self.fig = Figure()
        FigureCanvasAgg(self.fig)
        self.ax = self.fig.add_axes((0, 0, 1, 1))
        self.ax.set_axis_off()
        self.title = title
        self.extent = [math.inf, math.inf, -math.inf, -math.inf]
        self.taken: list[tuple[float, float, float, float]] = []  # boxes labels must not cover

    def grow(self, x0, y0, x1, y1):
        e = self.extent
        self.extent = [min(e[0], x0), min(e[1], y0), max(e[2], x1), max(e[3], y1)]

    def text(self, x, y, text, *, size=FONT, weight="normal", color="black", ha="center", va="center",
             box: str | None = None, zorder=4):
        w, h = _text_size(text, size)
        x0 = {"center": x - w / 2, "left": x, "right": x - w}[ha]
        y0 = {"center": y - h / 2, "bottom": y, "top": y - h}[va]
        bbox = {"boxstyle": "round,pad=0.15", "facecolor": box, "edgecolor": "none"} if box else None
        self.ax.text(x, y, text, fontsize=size, family=FAMILY, weight=weight, color=color, ha=ha, va=va,
                     bbox=bbox, zorder=zorder, linespacing=1.15)
        self.grow(x0, y0, x0 + w, y0 + h)
        return (x0 - PAD, y0 - PAD, x0 + w + PAD, y0 + h + PAD)

    def box(self, x, y, w, h, color, *, dashed=False):
        """A rounded box centred on (x, y); returns the patch (arrows clip at its border)."""
        from matplotlib.patches import FancyBboxPatch

        patch = FancyBboxPatch((x - w / 2, y - h / 2), w, h, boxstyle="round,pad=0,rounding_size=0.06",
                               facecolor=color, edgecolor="#444444", linewidth=0.9,
                               linestyle="--" if dashed else "-", zorder=3)
        self.ax.add_patch(patch)
        self.grow(x - w / 2, y - h / 2, x + w / 2, y + h / 2)
        self.taken.append((x - w / 2, y - h / 2, x + w / 2, y + h / 2))
        return patch

    def arrow(self, a, b, patch_a=None, patch_b=None, *, rad=0.0, color="#333333", dashed=False, width=1.0):
        from matplotlib.patches import FancyArrowPatch

        self.ax.add_patch(FancyArrowPatch(a, b, patchA=patch_a, patchB=patch_b, arrowstyle="-|>",
                                          mutation_scale=9, connectionstyle=f"arc3,rad={rad}", color=color,
                                          linewidth=width, linestyle=(0, (4, 2.5)) if dashed else "-",
                                          shrinkA=1, shrinkB=1, zorder=2))
        mid = _bezier(a, b, rad, 0.5)
        self.grow(min(a[0], mid[0]), min(a[1], mid[1]), max(a[0], mid[0]), max(a[1], mid[1]))

    def label(self, a, b, rad, text, *, color="black"):
        """Put ``text`` on the edge a->b where it covers no node and no other label."""
        w, h = _text_size(text)
        best, best_cost = None, math.inf
        for t in (0.5, 0.42, 0.58, 0.34, 0.66, 0.27, 0.73, 0.2, 0.8):
            x, y = _bezier(a, b, rad, t)
            rect = (x - w / 2 - PAD, y - h / 2 - PAD, x + w / 2 + PAD, y + h / 2 + PAD)
            cost = sum(_overlap(rect, other) for other in self.taken)
            if cost < best_cost - 1e-9:
                best, best_cost = (x, y, rect), cost
            if cost == 0:
                break
        x, y, rect = best
        self.text(x, y, text, color=color, box="white", zorder=5)
        self.taken.append(rect)

    def save(self, out: Path, fmt: str):
        x0, y0, x1, y1 = self.extent
        tw, _ = _text_size(self.title, FONT + 1)
        if tw > max(x1 - x0, 4.0):  # wrap a long title to the drawing's width
            chars = max(40, int(max(x1 - x0, 4.0) / (CHAR_W * (FONT + 1) / FONT)))
            self.title = "\n".join(textwrap.wrap(self.title, chars, break_on_hyphens=False))
        self.text((x0 + x1) / 2, y1 + 0.2, self.title, size=FONT + 1, weight="bold", va="bottom")
        margin = 0.15
        x0, y0, x1, y1 = self.extent
        self.fig.set_size_inches(x1 - x0 + 2 * margin, y1 - y0 + 2 * margin)
        self.ax.set_xlim(x0 - margin, x1 + margin)
        self.ax.set_ylim(y0 - margin, y1 + margin)
        with self.mpl.rc_context({"svg.fonttype": "none", "svg.hashsalt": "nasforge", "pdf.fonttype": 42}):
            self.fig.savefig(out, format=fmt, dpi=150, facecolor="white",
                             metadata={"Date": None} if fmt == "svg" else None)


def _bezier(a, b, rad, t):
    """The point at ``t`` on matplotlib's ``arc3`` curve from a to b (a quadratic Bezier)."""
    (x1, y1), (x2, y2) = a, b
    cx, cy = (x1 + x2) / 2 + rad * (y2 - y1), (y1 + y2) / 2 - rad * (x2 - x1)
    u = 1 - t
    return u * u * x1 + 2 * u * t * cx + t * t * x2, u * u * y1 + 2 * u * t * cy + t * t * y2


# -- cell graphs ------------------------------------------------------------------------------

def draw_cells(sheet: _Sheet, cells: CellGraphs) -> None:
    """Rows of cell graphs, each row below the last (with room for its upper arcs), then the note."""
    for r, row in enumerate(cells.rows):
        room = 0.3 * (max(len(graph.nodes) for graph in row) - 1)  # its highest arc over the whole row
        x, y = 0.0, 0.0 if r == 0 else sheet.extent[1] - 0.75 - room
        for graph in row:
            x += draw_cell_graph(sheet, x, y, graph) + 0.8
    if cells.note is not None:
        _footnote(sheet, cells.note)


def draw_cell_graph(sheet: _Sheet, x0: float, y0: float, graph: CellGraph) -> float:
    """Nodes on a horizontal line, edges between neighbours straight, longer edges as arcs
    (alternating above and below, higher the farther they reach), each edge labelled.

    Returns the width used (the graph's axis is at y0, its left end at x0).
    """
    index = {key: i for i, (key, _, _) in enumerate(graph.nodes)}
    xs, sizes, patches = _place_nodes(sheet, x0, y0, graph, index)
    arcs: dict[int, list[tuple[int, int]]] = {1: [], -1: []}
    seen: dict[tuple, int] = {}
    placed = []
    top = max(h for _, h in sizes) / 2
    for src, dst, label, style in graph.edges:
        i, j = index[src], index[dst]
        pair = (min(i, j), max(i, j))
        repeat = seen.get(pair, 0)
        seen[pair] = repeat + 1
        height = _arc_height(pair, style, repeat, arcs)
        a, b = (xs[i], y0), (xs[j], y0)
        rad = -2 * height / (b[0] - a[0])  # arc3 bends right of the direction of travel for rad > 0
        colour = "#9a9a9a" if style in ("concat", "dead") else "#333333"
        sheet.arrow(a, b, patches[i], patches[j], rad=rad, color=colour, dashed=style == "dead",
                    width=0.7 if style == "concat" else 1.0)
        sheet.grow(a[0], y0 + min(height, 0) - 0.1, b[0], y0 + max(height, 0) + 0.1)
        top = max(top, height + (_text_size(label)[1] / 2 + PAD if style != "concat" else 0))
        placed.append((a, b, rad, label, style, colour))
    for a, b, rad, label, style, colour in sorted(placed, key=lambda p: abs(p[2]) * abs(p[1][0] - p[0][0])):
        if style != "concat":
            sheet.label(a, b, rad, label, color="#666666" if style == "dead" else "black")
    sheet.text(x0, y0 + top + 0.08, graph.title, weight="bold", ha="left", va="bottom")
    return xs[-1] + sizes[-1][0] / 2 - x0


def _place_nodes(sheet, x0, y0, graph, index):
    """Draw the nodes left to right, neighbours as far apart as their straight edge's label
    needs; returns their centres, sizes and patches."""
    sizes = [(max(0.3, _text_size(label)[0] + 0.16), _text_size(label)[1] + 0.14) for _, label, _ in graph.nodes]
    gaps = [0.45] * (len(graph.nodes) - 1)
    for src, dst, label, style in graph.edges:
        i, j = sorted((index[src], index[dst]))
        if j - i == 1 and style != "concat":
            gaps[i] = max(gaps[i], _text_size(label)[0] + 0.4)
    xs = [x0 + sizes[0][0] / 2]
    for i, gap in enumerate(gaps):
        xs.append(xs[-1] + sizes[i][0] / 2 + gap + sizes[i + 1][0] / 2)
    patches = [sheet.box(x, y0, w, h, COLORS[kind]) for x, (w, h), (_, _, kind) in zip(xs, sizes, graph.nodes)]
    for x, (_, label, _) in zip(xs, graph.nodes):
        sheet.text(x, y0, label)
    return xs, sizes, patches


def _arc_height(pair, style, repeat, arcs) -> float:
    """How high (above: > 0) the edge between node indices ``pair`` bends: neighbours' first edge
    straight; concatenations low below; others above or below, wherever fewer arcs already span
    this stretch (recorded in ``arcs``), higher the farther they reach and the more repeats."""
    lo, hi = pair
    span = hi - lo
    if span == 1 and repeat == 0:
        return 0.0
    if style == "concat":  # below, unlabelled, so they can stay low
        return -(0.2 + 0.1 * span)
    crowd = {d: sum(1 for a, b in arcs[d] if a < hi and lo < b) for d in (1, -1)}
    direction = 1 if crowd[1] <= crowd[-1] else -1
    arcs[direction].append(pair)
    return direction * (0.3 + 0.3 * (span - 1) + 0.22 * repeat)


def _footnote(sheet, text):
    x0, y0, x1, _ = sheet.extent
    chars = max(50, int((x1 - x0) / CHAR_W))
    sheet.text(x0, y0 - 0.15, "\n".join(textwrap.wrap(text, chars)), color="#555555", ha="left", va="top")


# -- chains -------------------------------------------------------------------------------------

def draw_chain(sheet: _Sheet, chain: Chain) -> None:
    """Boxes left to right (wrapping after ``chain.per_row``), arrows between them, then the note."""
    boxes = chain.boxes
    texts = [(box.heading, "\n".join(box.lines)) for box in boxes]
    sizes = []
    for heading, body in texts:
        hw, hh = _text_size(heading)
        bw, bh = _text_size(body) if body else (0.0, 0.0)
        sizes.append((max(hw, bw, 0.5) + 0.24, hh + bh + (0.06 if body else 0) + 0.2))
    rows = [list(range(k, min(k + chain.per_row, len(boxes)))) for k in range(0, len(boxes), chain.per_row)]
    height = max(h for _, h in sizes)
    gap = 0.45
    patches, centres = [], []
    y = 0.0
    for row in rows:
        x = 0.0
        for i in row:
            w, _ = sizes[i]
            heading, body = texts[i]
            patches.append(sheet.box(x + w / 2, y, w, height, COLORS[boxes[i].kind]))
            centres.append((x + w / 2, y))
            hh = _text_size(heading)[1]
            top = y + height / 2 - 0.1
            sheet.text(x + w / 2, top, heading, weight="bold", va="top")
            if body:
                sheet.text(x + w / 2, top - hh - 0.06, body, va="top")
            x += w + gap
        y -= height + 0.55
    _chain_arrows(sheet, centres, patches, {row[0] for row in rows}, height)
    if chain.note is not None:
        _footnote(sheet, chain.note)


def _chain_arrows(sheet, centres, patches, starts, height):
    """An arrow from each box to the next; into the first box of a row from the end of the last."""
    for k in range(1, len(centres)):
        if k not in starts:
            sheet.arrow(centres[k - 1], centres[k], patches[k - 1], patches[k])
            continue
        # to the next row: down from the row's last box, back left, down into the first box
        (xa, ya), (xb, yb) = centres[k - 1], centres[k]
        turn = ya - height / 2 - 0.275
        sheet.ax.plot([xa, xa, xb], [ya - height / 2, turn, turn], color="#333333", linewidth=1.0, zorder=2)
        sheet.arrow((xb, turn), (xb, yb), None, patches[k])


DRAWERS = {CellGraphs: draw_cells, Chain: draw_chain}  # drawing type -> the function that renders it


# -- Pareto pictures ------------------------------------------------------------------

@dataclass
class ParetoPanel:
    """One scatter of a study's trials: a cost on x, the accuracy on y (plain data, from the study)."""

    x: list[float]
    y: list[float]
    xlabel: str
    ylabel: str
    front: list[bool]  # the study's non-dominated trials (on its own objectives)
    chosen: list[str | None]  # a label for each marked (chosen) trial, else None
    log_x: bool = False


def draw_pareto(panels: list[ParetoPanel], out: str | Path, title: str = "") -> Path:
    """Accuracy against each cost, one panel per cost: every successful trial in grey, the study's
    Pareto front in colour joined by its staircase in that panel's two metrics, chosen trials as
    labelled stars. The format follows ``out``'s suffix (.png, .svg, .pdf)."""
    output_format(out)
    require("matplotlib", "plot")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(5.2 * len(panels), 4.2), layout="constrained")
    FigureCanvasAgg(fig)
    for k, panel in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), k + 1)
        x, y = panel.x, panel.y
        ax.scatter(x, y, s=12, color="#b0b0b0", label="trials", zorder=2)
        fx = [a for a, f in zip(x, panel.front) if f]
        fy = [b for b, f in zip(y, panel.front) if f]
        ax.scatter(fx, fy, s=28, color="#1f77b4", label="Pareto front", zorder=3)
        stairs = _staircase(x, y)
        if stairs:
            ax.step(*zip(*stairs), where="post", color="#1f77b4", linewidth=1, alpha=0.6, zorder=2)
        for a, b, label in zip(x, y, panel.chosen):
            if label:
                ax.scatter([a], [b], s=140, marker="*", color="#d62728", zorder=4)
                ax.annotate(label, (a, b), textcoords="offset points", xytext=(6, 6), fontsize=8, color="#d62728")
        if panel.log_x:
            ax.set_xscale("log")
        ax.set_xlabel(panel.xlabel)
        ax.set_ylabel(panel.ylabel)
        ax.grid(alpha=0.3)
        if k == 0:
            ax.legend(loc="lower right", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=130)
    return out


def _staircase(x, y) -> list[tuple[float, float]]:
    """The 2-D front of (x smaller, y larger is better) as corner points, in x order."""
    best, corners = -math.inf, []
    for a, b in sorted(zip(x, y), key=lambda p: (p[0], -p[1])):
        if b > best:
            corners.append((a, b))
            best = b
    return corners
