"""The report page: one self-contained HTML document (inline SVG and CSS, no network) of a study.

The static report and the live dashboard show the same :func:`sections`;
the dashboard wraps them in a page that replaces them when the study changes.
"""

from __future__ import annotations

import base64
import datetime
import json
import tempfile
from html import escape
from pathlib import Path

import numpy as np

from . import _analysis as an
from . import _figures as fg
from . import _svg
from ._view import COSTS, StudyView

TOP_TABLE = 10
TOP_DRAWINGS = 3
FAILURES_LISTED = 20

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;margin:0;color:#222;background:#fafafa}
header{background:#24292f;color:#fff;padding:12px 24px}header h1{font-size:20px;margin:0}
header .sub{color:#ccc;font-size:13px}main{padding:8px 24px 40px}
section{background:#fff;border:1px solid #ddd;border-radius:6px;margin:14px 0;padding:10px 16px}
h2{font-size:17px;margin:4px 0 10px}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(440px,1fr));gap:14px;align-items:start}
figure{margin:0}figcaption{font-size:12px;color:#555;max-width:600px}
svg.plot{width:100%;height:auto;max-width:600px}td.arch{overflow-wrap:anywhere;max-width:520px}
table{border-collapse:collapse;font-size:13px}td,th{border-bottom:1px solid #eee;padding:3px 8px;text-align:right}
td.l,th.l{text-align:left}th{background:#f3f3f3}.tick{font-size:10px;fill:#444}.label{font-size:12px;fill:#222}
.legend{font-size:11px;fill:#222}pre{background:#f6f8fa;padding:8px;font-size:12px;overflow:auto;max-height:400px}
dl{display:grid;grid-template-columns:max-content auto;gap:2px 14px;font-size:14px;margin:0}dt{color:#555}
dd{margin:0}.note{font-size:13px;color:#555}.problem{color:#b00;font-size:16px}
.arch img{max-width:100%;border:1px solid #eee}
"""


class Architectures:
    """Descriptions and drawings of architectures in the study's space, made on demand and cached.

    The space is built from the study's spec only when first needed (it imports
    torch; a define-by-run space imports the user's file). Anything that cannot
    be described or drawn is shown as text, never as an error page.
    """

    def __init__(self, spec: dict):
        self.spec = spec
        self._space = None
        self._problem: str | None = None
        self._drawings: dict[str, bytes | str] = {}

    def space(self):
        if self._space is None and self._problem is None:
            try:
                from .. import spaces

                self._space = spaces.get(self.spec.get("space", ""), **(self.spec.get("space_options") or {}))
            except Exception as exc:  # noqa: BLE001 - the page shows why, the report goes on
                self._problem = f"the space {self.spec.get('space')!r} could not be loaded: {exc}"
        return self._space

    def describe(self, arch) -> str:
        space = self.space()
        if space is not None:
            try:
                return space.describe(arch)
            except Exception:  # noqa: BLE001 - fall back to the decisions themselves
                pass
        return json.dumps(dict(arch.to_dict()["decisions"]), separators=(",", ":"))

    def drawing(self, arch) -> str:
        """An <img> of ``arch`` (a PNG data URI, so the page stays one file), or a note saying why not."""
        png = self.png(arch)
        if isinstance(png, str):
            return f'<p class="note">{escape(png)}</p>'
        return f'<img alt="architecture drawing" src="data:image/png;base64,{base64.b64encode(png).decode()}">'

    def png(self, arch) -> bytes | str:
        """The drawing of ``arch`` as PNG bytes (made once), or the reason there is none."""
        key = arch.to_json()
        if key not in self._drawings:
            self._drawings[key] = self._draw(arch)
        return self._drawings[key]

    def _draw(self, arch) -> bytes | str:
        space = self.space()
        if space is None:
            return self._problem or "no space"
        try:
            from ..draw import draw

            with tempfile.TemporaryDirectory() as tmp:
                return draw(arch, space, Path(tmp) / "arch.png").read_bytes()
        except Exception as exc:  # noqa: BLE001 - e.g. matplotlib missing: say so in place of the picture
            return f"no drawing: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"


def _num(value, digits: int = 4) -> str:
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    if isinstance(value, (int, np.integer)) or (isinstance(value, float) and value.is_integer() and abs(value) >= 1000):
        return f"{int(value):,}"
    return f"{value:.{digits}f}"


def _when(ts: float | None) -> str:
    if not ts:
        return "–"
    return datetime.datetime.fromtimestamp(ts, datetime.timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def _figure(plot: fg.Plot) -> str:
    data = "".join(f' data-{k}="{escape(v)}"' for k, v in plot.data.items())
    return (f'<figure id="{plot.key}" data-view="{plot.key}"{data}><h3 style="font-size:14px;margin:2px 0">'
            f'{escape(plot.title)}</h3>{_svg.render(plot)}<figcaption>{escape(plot.note)}</figcaption></figure>')


def summary(view: StudyView) -> str:
    spec, counts = view.spec, view.counts()
    best_rows = view.best_rows(1)
    best = view.records[best_rows[0]] if best_rows else None
    elapsed = view.meta.get("elapsed_s")
    clock = "simulated training seconds" if view.simulated_time else "wall-clock seconds"
    rows = [("study", escape(view.path)), ("space", escape(str(spec.get("space")))),
            ("data", escape(f"tabular benchmark {spec['benchmark']}" if spec.get("benchmark") else
                            str(spec.get("dataset")))),
            ("strategy", escape(str(spec.get("strategy")))),
            ("trials", f'<span data-key="trials">{len(view.records)}</span> (' + ", ".join(
                f'<span data-key="{s}">{n}</span> {s}' for s, n in counts.items() if n) + ")"),
            ("best trial", f'<span data-key="best-trial">{best.id}</span>, objective '
                           f'<span data-key="best-objective">{best.objective:.4f}</span>' if best else "none yet"),
            ("search time", f"{elapsed:,.1f} {clock}" if isinstance(elapsed, (int, float)) else "–"),
            ("created", _when(view.meta.get("created_at")))]
    body = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
    return f'<section id="summary"><h2>Summary</h2><dl>{body}</dl></section>'


def top_table(view: StudyView, archs: Architectures) -> str:
    head = "".join(f"<th>{h}</th>" for h in ("rank", "trial", "objective", "val acc", *COSTS.values(), "epochs",
                                             "seconds")) + '<th class="l">architecture</th>'
    body = []
    for rank, row in enumerate(view.best_rows(TOP_TABLE), 1):
        t = view.records[row]
        costs = "".join(f"<td>{_num(t.metrics.get(c), 3)}</td>" for c in COSTS)
        body.append(f'<tr data-trial="{t.id}"><td>{rank}</td><td>{t.id}</td><td>{_num(t.objective)}</td>'
                    f'<td>{_num(t.metrics.get("val_accuracy"))}</td>{costs}<td>{t.fidelity.get("epochs", "–")}</td>'
                    f'<td>{_num(t.duration_s, 1)}</td><td class="l arch">{escape(archs.describe(t.arch))}</td></tr>')
    if not body:
        return '<section id="top"><h2>Best trials</h2><p class="note">No successful trial yet.</p></section>'
    return (f'<section id="top"><h2>Best trials</h2><table><tr>{head}</tr>{"".join(body)}</table>'
            '<p class="note">Ordered as <code>nasforge show</code> orders them: objective, then trial id.</p>'
            "</section>")


def importance_section(view: StudyView) -> str:
    plot, table = fg.importance(view)
    rows = "".join(f'<tr data-decision="{escape(i.decision)}"><td class="l">{escape(i.decision)}</td>'
                   f"<td>{i.eta2:.3f}</td><td>{i.chance:.3f}</td><td>{i.levels}</td>"
                   f'<td class="l">{escape(i.best_value)}</td><td>{i.best_mean:.4f}</td><td>{i.best_count}</td></tr>'
                   for i in table[:30])
    head = ('<tr><th class="l">decision</th><th>η²</th><th>chance level</th><th>values</th>'
            '<th class="l">best value</th><th>its mean objective</th><th>trials</th></tr>')
    table_html = f"<table>{head}{rows}</table>" if rows else '<p class="note">Too few successful trials yet.</p>'
    return (f'<section id="importance"><h2>Which decisions matter</h2><div class="grid">{_figure(plot)}'
            f'<div>{table_html}</div></div><p class="note">{escape(an.IMPORTANCE_METHOD)}</p></section>')


def drawings(view: StudyView, archs: Architectures) -> str:
    cells = []
    for row in view.best_rows(TOP_DRAWINGS):
        t = view.records[row]
        cells.append(f'<figure class="arch" data-trial="{t.id}">{archs.drawing(t.arch)}<figcaption>trial {t.id}, '
                     f"objective {_num(t.objective)}</figcaption></figure>")
    body = "".join(cells) or '<p class="note">No successful trial yet.</p>'
    return f'<section id="architectures"><h2>The best architectures</h2><div class="grid">{body}</div></section>'


def failures(view: StudyView) -> str:
    groups = an.failure_reasons(view)
    if not groups:
        return '<section id="failures"><h2>Failed trials</h2><p class="note" data-key="failed">None.</p></section>'
    rows = "".join(f'<tr><td>{n}</td><td class="l">{escape(reason)}</td><td class="l">'
                   f'{", ".join(map(str, ids[:10]))}{" …" if len(ids) > 10 else ""}</td></tr>'
                   for reason, n, ids in groups)
    failed = [t for t in view.records if t.status in ("failed", "interrupted")][-FAILURES_LISTED:]
    details = "".join(f'<details data-trial="{t.id}"><summary>trial {t.id} ({t.status}): '
                      f"{escape(an.first_line(t.error))}</summary><pre>{escape(t.error or '')}</pre></details>"
                      for t in reversed(failed))
    return (f'<section id="failures"><h2>Failed trials</h2><table><tr><th>trials</th><th class="l">reason</th>'
            f'<th class="l">trial ids</th></tr>{rows}</table><h3 style="font-size:14px">The latest {len(failed)}, '
            f"with their error text</h3>{details}</section>")


def spec_section(view: StudyView) -> str:
    history = view.meta.get("spec_history") or []
    items = "".join(f"<li>{_when(h.get('at'))}: {escape('; '.join(h.get('changes', [])))}</li>" for h in history)
    merged = view.meta.get("merged_from")
    extra = f"<p>Merged from: {escape(', '.join(map(str, merged)))}</p>" if merged else ""
    return (f'<section id="spec"><h2>Specification</h2><pre>{escape(json.dumps(view.spec, indent=2))}</pre>{extra}'
            f"<h3 style='font-size:14px'>Changes on resume</h3>"
            f"{f'<ul>{items}</ul>' if items else '<p class=note>None: the study ran with one specification.</p>'}"
            "</section>")


def sections(view: StudyView, archs: Architectures) -> str:
    """The body of the report: every view of the study, in reading order."""
    plots = {p.key: p for p in (fg.progress_by_trial(view), fg.progress_by_time(view), fg.learning_curves(view))}
    trade = fg.trade_offs(view)
    trade_html = "".join(map(_figure, trade)) or '<p class="note">No trial recorded params, latency or FLOPs.</p>'
    return "".join([
        summary(view),
        f'<section id="progress"><h2>Progress</h2><div class="grid">{_figure(plots["best-vs-trials"])}'
        f'{_figure(plots["best-vs-time"])}</div></section>',
        f'<section id="trade-offs"><h2>Trade-offs: accuracy vs cost, with the Pareto front</h2>'
        f'<div class="grid">{trade_html}</div><p class="note">Red: the Pareto front (no other trial is both more '
        "accurate and cheaper), computed over all successful trials of every fidelity.</p></section>",
        top_table(view, archs),
        f'<section id="curves"><h2>Learning curves</h2>{_figure(plots["learning-curves"])}</section>',
        importance_section(view),
        drawings(view, archs),
        failures(view),
        spec_section(view),
    ])


def page(title: str, body: str, script: str = "", subtitle: str = "") -> str:
    return (f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{escape(title)}</title>'
            f'<meta name="viewport" content="width=device-width,initial-scale=1"><style>{CSS}</style></head><body>'
            f'<header><h1>{escape(title)}</h1><div class="sub" id="status">{subtitle}</div></header>'
            f'<main id="views">{body}</main>{script}</body></html>')


def problem_section(path: str, problem: str) -> str:
    return (f'<section id="problem"><h2>Cannot show this study</h2><p class="problem">{escape(problem)}</p>'
            f'<p class="note">Study path: <code>{escape(path)}</code>. Check the <code>--study</code> path; a study '
            "appears here as soon as <code>nasforge search</code> creates it.</p></section>")
