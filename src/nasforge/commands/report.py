"""``nasforge report``: write a study's HTML report and PNG pictures to a folder."""

from __future__ import annotations


def add_parser(sub) -> None:
    p = sub.add_parser("report", help="write a self-contained HTML report (plus PNGs) of a study",
                       description="Read a study (read-only: a running search may go on writing it) and write "
                                   "index.html, which needs no network, and a PNG of each picture to --out. "
                                   "Needs matplotlib (pip install 'nasforge[plot]').")
    p.add_argument("--study", default="runs/study.db", help="SQLite study file (default: runs/study.db)")
    p.add_argument("--out", help="output folder (default: the study's path without .db, plus '-report')")


def run(args, console) -> int:
    from pathlib import Path

    from ..report import write_report

    out = args.out or str(Path(args.study).with_suffix("")) + "-report"
    index = write_report(args.study, out, log=lambda m: console.print(m, markup=False))
    console.print(f"Open {index} in a browser.", markup=False)
    return 0
