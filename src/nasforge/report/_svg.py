"""Draw a :class:`~nasforge.report._figures.Plot` as inline SVG: no dependency, text stays text.

Each point is a ``<circle>`` whose ``<title>`` names its trial (a tooltip in
the browser), so the page needs no JavaScript to be read, and the numbers on
it can be checked by a test.
"""

from __future__ import annotations

import math
from html import escape

import numpy as np

from ._figures import Plot

W, H = 600, 340
LEFT, RIGHT, TOP, BOTTOM = 64, 16, 26, 46


def nice_ticks(low: float, high: float, count: int = 6) -> list[float]:
    """Round tick values covering [low, high] (1, 2 or 5 times a power of ten apart)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return []
    if high <= low:
        return [low]
    raw = (high - low) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9) * step
    return [round(first + i * step, 12) for i in range(int((high - first) / step + 1e-9) + 1)]


def log_ticks(low: float, high: float) -> list[float]:
    """Powers of ten in [low, high] (with 2× and 5× when the range spans fewer than two decades)."""
    lo, hi = math.floor(math.log10(low)), math.ceil(math.log10(high))
    mults = (1, 2, 5) if hi - lo <= 2 else (1,)
    ticks = [m * 10.0 ** e for e in range(lo, hi + 1) for m in mults if low <= m * 10.0 ** e <= high]
    if len(ticks) < 3:  # less than a decade: round values spaced evenly, placed on the log scale
        ticks = [t for t in nice_ticks(low, high, 5) if t > 0]
    return ticks


def fmt(value: float) -> str:
    if value != 0 and (abs(value) >= 1e5 or abs(value) < 1e-3):
        return f"{value:.0e}".replace("e+0", "e").replace("e-0", "e-")
    return f"{value:.6g}"


class _Scale:
    def __init__(self, values: list[float], start: float, end: float, log: bool = False):
        finite = [v for v in values if math.isfinite(v) and (v > 0 or not log)]
        lo, hi = (min(finite), max(finite)) if finite else (0.0, 1.0)
        self.log = log and lo > 0
        if self.log:
            lo, hi = math.log10(lo), math.log10(hi)
        pad = (hi - lo) * 0.04 or (abs(hi) * 0.05 or 0.5)
        self.lo, self.hi, self.start, self.end = lo - pad, hi + pad, start, end

    def __call__(self, v: float) -> float:
        v = math.log10(v) if self.log else v
        return self.start + (v - self.lo) / (self.hi - self.lo) * (self.end - self.start)

    def ticks(self) -> list[float]:
        if self.log:
            return log_ticks(10 ** self.lo, 10 ** self.hi)
        return nice_ticks(self.lo, self.hi)


def render(plot: Plot) -> str:
    """The SVG element of ``plot`` (an empty-state message when there is nothing to draw)."""
    head = (f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {W} {H}" width="{W}" height="{H}" '
            f'role="img" aria-label="{escape(plot.title)}" class="plot" preserveAspectRatio="xMinYMin meet">')
    if plot.empty:
        return head + f'<text x="{W / 2}" y="{H / 2}" text-anchor="middle" fill="#666">nothing to draw yet</text></svg>'
    if plot.bars:
        height = TOP + 22 * len(plot.bars) + BOTTOM  # as tall as its bars need
        return head.replace(f"0 0 {W} {H}", f"0 0 {W} {height}").replace(f'height="{H}"', f'height="{height}"') + \
            _bars(plot, height) + "</svg>"
    xs = [v for s in plot.series for v in s.x]
    ys = [v for s in plot.series for v in s.y]
    sx = _Scale(xs, LEFT, W - RIGHT, plot.xlog)
    sy = _Scale(ys, H - BOTTOM, TOP)
    parts = [head, _axes(plot, sx, sy)]
    for s in plot.series:
        parts.append(_series(s, sx, sy))
    parts.append(_legend(plot))
    return "".join(parts) + "</svg>"


def _axes(plot: Plot, sx: _Scale, sy: _Scale) -> str:
    out = [f'<rect x="{LEFT}" y="{TOP}" width="{W - LEFT - RIGHT}" height="{H - TOP - BOTTOM}" fill="none" '
           'stroke="#999"/>']
    for t in sx.ticks():
        x = sx(t)
        out.append(f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{TOP}" y2="{H - BOTTOM}" stroke="#eee"/>'
                   f'<text x="{x:.1f}" y="{H - BOTTOM + 14}" text-anchor="middle" class="tick">{fmt(t)}</text>')
    for t in sy.ticks():
        y = sy(t)
        out.append(f'<line x1="{LEFT}" x2="{W - RIGHT}" y1="{y:.1f}" y2="{y:.1f}" stroke="#eee"/>'
                   f'<text x="{LEFT - 5}" y="{y + 4:.1f}" text-anchor="end" class="tick">{fmt(t)}</text>')
    out.append(f'<text x="{(LEFT + W - RIGHT) / 2}" y="{H - 8}" text-anchor="middle" class="label">'
               f'{escape(plot.xlabel)}</text>')
    out.append(f'<text transform="translate(14,{(TOP + H - BOTTOM) / 2}) rotate(-90)" text-anchor="middle" '
               f'class="label">{escape(plot.ylabel)}</text>')
    return "".join(out)


def _series(s, sx: _Scale, sy: _Scale) -> str:
    pts = [(sx(x), sy(y), i) for i, (x, y) in enumerate(zip(s.x, s.y))
           if math.isfinite(x) and math.isfinite(y) and (x > 0 or not sx.log)]
    out = [f'<g class="series" data-label="{escape(s.label)}" data-n="{len(pts)}">']
    if s.kind in ("line", "step") and len(pts) > 1:
        path = [f"M{pts[0][0]:.1f},{pts[0][1]:.1f}"]
        for (x0, y0, _), (x1, y1, _) in zip(pts, pts[1:]):
            path.append(f"H{x1:.1f}V{y1:.1f}" if s.kind == "step" else f"L{x1:.1f},{y1:.1f}")
        dash = ' stroke-dasharray="4 3"' if s.dashed else ""
        out.append(f'<path d="{"".join(path)}" fill="none" stroke="{s.color}" stroke-width="1.6"{dash}/>')
    radius = s.size if s.kind == "points" else s.size * 0.8
    for x, y, i in pts if (s.kind == "points" or s.ids) else ():
        trial = s.ids[i] if s.ids else None
        tip = f"trial {trial}: " if trial is not None else ""
        attr = f' data-trial="{trial}"' if trial is not None else ""
        out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="{radius}" fill="{s.color}"{attr}>'
                   f"<title>{tip}{fmt(s.x[i])}, {fmt(s.y[i])}</title></circle>")
    return "".join(out) + "</g>"


def _legend(plot: Plot) -> str:
    labelled = [s for s in plot.series if s.label and len(s.x)]
    out, x = [], LEFT
    for s in labelled:  # above the axes, so it never hides a point
        out.append(f'<rect x="{x}" y="{TOP - 18}" width="10" height="10" fill="{s.color}"/>'
                   f'<text x="{x + 14}" y="{TOP - 9}" class="legend">{escape(s.label)}</text>')
        x += 24 + 7 * len(s.label)
    return "".join(out)


def _bars(plot: Plot, height: int) -> str:
    bars = plot.bars or []
    row = 22.0
    width = max(len(name) for name, _ in bars)
    left = min(8 + 7 * width, W // 2)
    peak = max((v for _, v in bars), default=0.0) or 1.0
    scale = np.float64(W - RIGHT - left - 50) / peak
    out = []
    for i, (name, value) in enumerate(bars):
        y = TOP + i * row
        out.append(f'<text x="{left - 6}" y="{y + row * 0.65:.1f}" text-anchor="end" class="tick">{escape(name)}</text>'
                   f'<rect x="{left}" y="{y + row * 0.15:.1f}" width="{max(value, 0) * scale:.1f}" '
                   f'height="{row * 0.7:.1f}" fill="#1f77b4" data-decision="{escape(name)}" data-value="{value:.6g}">'
                   f"<title>{escape(name)}: {value:.4f}</title></rect>"
                   f'<text x="{left + max(value, 0) * scale + 4:.1f}" y="{y + row * 0.65:.1f}" class="tick">'
                   f"{value:.3f}</text>")
    out.append(f'<text x="{(left + W - RIGHT) / 2}" y="{height - 8}" text-anchor="middle" class="label">'
               f'{escape(plot.xlabel)}</text>')
    return "".join(out)
