"""``nasforge report``: a study as one self-contained HTML page plus a PNG of every picture."""

from __future__ import annotations

import datetime
from collections.abc import Callable
from html import escape
from pathlib import Path

from ..core import UserInputError, require
from . import _figures as fg
from ._page import TOP_DRAWINGS, Architectures, page, sections
from ._png import save_png
from ._view import StudyView, load


def write_report(study: str | Path, out: str | Path, log: Callable[[str], None] = lambda m: None) -> Path:
    """Read ``study`` read-only and write ``out/index.html`` and ``out/*.png``; returns the HTML path.

    The page needs no network: pictures are inline SVG (architecture drawings,
    PNG data URIs). The PNGs are the same pictures drawn by matplotlib, for
    slides and papers.
    """
    require("matplotlib", "plot")  # before any work: the PNGs and the drawings need it
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserInputError(f"--out {str(out)!r} is a file; give a folder (it is created if missing)")
    view = load(study)
    log(f"Read {len(view.records):,} trials from {study}")
    archs = Architectures(view.spec)
    out.mkdir(parents=True, exist_ok=True)
    made = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    html = page(f"nasforge study {Path(study).name}", sections(view, archs),
                subtitle=f"{escape(str(study))} · report made {made} · {len(view.records):,} trials")
    index = out / "index.html"
    index.write_text(html, encoding="utf-8")
    for plot in fg.all_plots(view):
        save_png(plot, out / f"{plot.key}.png")
    _draw_best(view, archs, out, log)
    log(f"Wrote {index} and the PNGs beside it")
    return index


def _draw_best(view: StudyView, archs: Architectures, out: Path, log: Callable[[str], None]) -> None:
    """PNG files of the best architectures, the drawings the page shows (one that cannot be drawn is noted)."""
    for row in view.best_rows(TOP_DRAWINGS):
        t = view.records[row]
        png = archs.png(t.arch)
        if isinstance(png, bytes):
            (out / f"arch-trial-{t.id}.png").write_bytes(png)
        else:
            log(f"could not draw trial {t.id}: {png}")
