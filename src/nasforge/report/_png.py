"""Draw a :class:`~nasforge.report._figures.Plot` as a PNG file with matplotlib (the ``plot`` extra).

Agg canvas and a Figure object per picture: no pyplot, no global state, so
it is safe in a server thread.
"""

from __future__ import annotations

from pathlib import Path

from ..core import require
from ._figures import Plot


def save_png(plot: Plot, out: str | Path, dpi: int = 110) -> Path:
    """Write ``plot`` to ``out`` and return the path."""
    require("matplotlib", "plot")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6.4, 3.8))
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    if plot.empty:
        ax.text(0.5, 0.5, "nothing to draw yet", ha="center", va="center", transform=ax.transAxes, color="#666")
        ax.set_axis_off()
    elif plot.bars:
        names = [name for name, _ in plot.bars][::-1]
        ax.barh(names, [value for _, value in plot.bars][::-1], color="#1f77b4")
    else:
        _draw_series(ax, plot)
    ax.set_title(plot.title, fontsize=10)
    ax.set_xlabel(plot.xlabel, fontsize=9)
    ax.set_ylabel(plot.ylabel, fontsize=9)
    ax.tick_params(labelsize=8)
    if plot.note:
        fig.text(0.01, 0.01, plot.note[:150], fontsize=6, color="#555")
    left = 0.12 if not plot.bars else min(0.45, 0.05 + 0.012 * max(len(n) for n, _ in plot.bars))
    fig.subplots_adjust(left=left, right=0.97, top=0.92, bottom=0.16)  # fixed margins: tight_layout costs a draw
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=dpi)
    return out


def _draw_series(ax, plot: Plot) -> None:
    for s in plot.series:
        if not len(s.x):
            continue
        label = s.label or None
        if s.kind == "points":
            ax.scatter(s.x, s.y, s=s.size * 3, color=s.color, label=label, linewidths=0)
        elif s.kind == "step":
            ax.step(s.x, s.y, where="post", color=s.color, label=label, linewidth=1.5, marker="o", markersize=3)
        else:
            ax.plot(s.x, s.y, color=s.color, label=label, linewidth=1.3, linestyle="--" if s.dashed else "-")
    if plot.xlog:
        ax.set_xscale("log")
    if any(s.label and len(s.x) for s in plot.series):
        ax.legend(fontsize=7, loc="best")
    ax.grid(alpha=0.3)
