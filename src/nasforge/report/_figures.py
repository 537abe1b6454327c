"""The pictures of a study as plain data: what to draw, not how.

Each builder turns a :class:`~nasforge.report._view.StudyView` into a
:class:`Plot` (axes, series of points or lines, a note saying what was
sampled). ``_svg`` draws a Plot as inline SVG for the HTML page and the
dashboard; ``_png`` draws the same Plot with matplotlib for the PNG files.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import _analysis as an
from ._view import COSTS, PRUNED_CURVES, TOP_CURVES, StudyView

BLUE, ORANGE, GREY, RED, GREEN = "#1f77b4", "#ff7f0e", "#b0b0b0", "#d62728", "#2ca02c"
CURVE_COLORS = ["#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b"]


@dataclass
class Series:
    kind: str  # "points", "line" (through the points), "step" (holds each value until the next x)
    x: list[float]
    y: list[float]
    label: str = ""
    color: str = BLUE
    ids: list[int] | None = None  # the trial of each point (tooltips; the browser tests read them)
    dashed: bool = False
    size: float = 2.5


@dataclass
class Plot:
    key: str  # stable name: the PNG file name and the HTML id
    title: str
    xlabel: str
    ylabel: str
    series: list[Series] = field(default_factory=list)
    xlog: bool = False
    bars: list[tuple[str, float]] | None = None  # a horizontal bar chart instead of series: (label, value)
    note: str = ""  # what was sampled or aggregated, shown under the picture
    data: dict[str, str] = field(default_factory=dict)  # facts for the page (data-* attributes)

    @property
    def empty(self) -> bool:
        return not self.bars and not any(len(s.x) for s in self.series)


def _ids(view: StudyView, rows) -> list[int]:
    return [int(i) for i in view.ids[rows]]


def _progress(view: StudyView, key: str, x_of, xlabel: str) -> Plot:
    """Every finished trial's objective (sampled) and the exact best-so-far step line through them."""
    rows = view.finished_order()
    y = view.objective[rows]
    x = x_of(rows)
    steps = an.improvements(y)
    best = an.best_so_far(y)
    plot = Plot(key, f"Best objective so far vs {xlabel.split(' (')[0]}", xlabel, "objective (higher is better)")
    shown = an.sample_rows(np.flatnonzero(np.isfinite(y)), keep=steps)
    plot.series.append(Series("points", x[shown].tolist(), y[shown].tolist(), "trial", GREY, _ids(view, rows[shown])))
    if len(steps):
        sx, sy = x[steps].tolist(), best[steps].tolist()
        plot.series.append(Series("step", sx + [float(x[-1])], sy + [sy[-1]], "best so far", BLUE,
                                  _ids(view, rows[steps]) + [int(view.ids[rows[steps[-1]]])]))
        plot.data = {"best": f"{sy[-1]:.6g}", "best-trial": str(int(view.ids[rows[steps[-1]]]))}
    plot.note = _sample_note(len(shown), int(np.isfinite(y).sum()))
    return plot


def _sample_note(shown: int, total: int) -> str:
    if shown >= total:
        return f"{total} trials"
    return (f"{shown:,} of {total:,} trials drawn (a uniform random sample, seed 0, plus every point that "
            "matters: the front / each improvement); lines and fronts are computed on all trials")


def progress_by_trial(view: StudyView) -> Plot:
    return _progress(view, "best-vs-trials", lambda rows: np.arange(1, len(rows) + 1, dtype=float),
                     "finished trials")


def progress_by_time(view: StudyView) -> Plot:
    label = "simulated training seconds" if view.simulated_time else "wall-clock seconds since the first trial"
    return _progress(view, "best-vs-time", view.search_seconds, f"time ({label})")


def gain_of(view: StudyView) -> tuple[np.ndarray, str]:
    """The value the trade-off pictures put up: validation accuracy where recorded, else the objective."""
    if np.isfinite(view.accuracy).any():
        return view.accuracy, "validation accuracy"
    return view.objective, "objective"


def trade_off(view: StudyView, cost: str) -> Plot:
    """Every successful trial's accuracy against one cost, with the exact Pareto front."""
    gain, gain_label = gain_of(view)
    values = view.metric(cost)
    ok = view.scored
    front = ok[an.pareto_front_2d(gain[ok], values[ok])]
    plot = Plot(f"trade-off-{cost.replace('_', '-')}", f"{gain_label.capitalize()} vs {COSTS[cost]}",
                COSTS[cost] + (" (log scale)" if cost != "latency_ms" else ""), gain_label, xlog=cost != "latency_ms")
    finite = ok[np.isfinite(values[ok]) & np.isfinite(gain[ok])]
    shown = an.sample_rows(finite, keep=front)
    plot.series.append(Series("points", values[shown].tolist(), gain[shown].tolist(), "trial", GREY,
                              _ids(view, shown)))
    plot.series.append(Series("step", values[front].tolist(), gain[front].tolist(), "Pareto front", RED,
                              _ids(view, front), size=4))
    plot.note = _sample_note(len(shown), len(finite)) + f"; {len(front)} trials on the front"
    plot.data = {"front": ",".join(map(str, _ids(view, front)))}
    return plot


def trade_offs(view: StudyView) -> list[Plot]:
    return [trade_off(view, cost) for cost in COSTS if np.isfinite(view.metric(cost)).any()]


def _curve(t, name: str) -> tuple[list[float], list[float]]:
    points = [p for p in t.curve if isinstance(p.get(name), (int, float))]
    return [float(p.get("epoch", i + 1)) for i, p in enumerate(points)], [float(p[name]) for p in points]


def learning_curves(view: StudyView) -> Plot:
    """Validation curves of the best trials, and of the latest pruned ones (dashed)."""
    plot = Plot("learning-curves", "Learning curves: the best trials and pruned ones", "epoch", "validation accuracy")
    best = view.best_rows(TOP_CURVES)
    for color, row in zip(CURVE_COLORS, best):
        t = view.records[row]
        x, y = _curve(t, "val_accuracy")
        plot.series.append(Series("line", x, y, f"trial {t.id}", color, [t.id] * len(x)))
    pruned = [t for t in view.records if t.status == "pruned"][-PRUNED_CURVES:]
    for i, t in enumerate(pruned):
        x, y = _curve(t, "val_accuracy")
        plot.series.append(Series("line", x, y, "pruned" if i == 0 else "", GREY, [t.id] * len(x), dashed=True))
    drawn = sum(1 for s in plot.series if s.x)
    plot.note = (f"the {len(best)} best trials' curves and the last {len(pruned)} pruned trials' (dashed)"
                 if pruned else f"the {len(best)} best trials' curves; no trial was pruned")
    if not drawn:
        plot.note = "no trial recorded a validation curve"
    return plot


def importance(view: StudyView) -> tuple[Plot, list[an.Importance]]:
    rows = view.scored
    table = an.decision_importance([dict(view.records[r].arch.decisions) for r in rows], view.objective[rows])
    plot = Plot("decision-importance", "Decision importance (η², share of objective variance)", "η²", "")
    plot.bars = [(imp.decision, imp.eta2) for imp in table[:20]]
    plot.note = (f"{len(rows):,} successful trials; " + ("the 20 most important of "
                 f"{len(table)} decisions" if len(table) > 20 else f"{len(table)} decisions"))
    return plot, table


def all_plots(view: StudyView) -> list[Plot]:
    """Every picture of the report, in page order (decision importance included)."""
    return [progress_by_trial(view), progress_by_time(view), *trade_offs(view), learning_curves(view),
            importance(view)[0]]
