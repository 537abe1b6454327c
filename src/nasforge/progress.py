"""Live progress and result tables for the CLI (rich)."""

from __future__ import annotations

import time

from rich.console import Console
from rich.table import Table

from .core import TrialStatus
from .study import Study, TrialRecord


def _fmt_duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = int(round(seconds))
    h, rem = divmod(seconds, 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


def _fmt_count(n: float | None) -> str:
    if n is None:
        return "-"
    for unit, scale in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if n >= scale:
            return f"{n / scale:.1f}{unit}"
    return str(int(n))


def best_first(trials: list[TrialRecord]) -> list[TrialRecord]:
    """Successful trials by objective (ties: earliest first), then the rest in id order."""
    ok = sorted((t for t in trials if t.objective is not None), key=lambda t: (-t.objective, t.id))
    return ok + [t for t in trials if t.objective is None]


def trials_table(trials: list[TrialRecord], describe=None, title: str = "") -> Table:
    table = Table(title=title)
    for col, just in (("trial", "right"), ("status", "left"), ("val acc", "right"), ("params", "right"),
                      ("MFLOPs", "right"), ("latency ms", "right"), ("seconds", "right"), ("architecture", "left")):
        table.add_column(col, justify=just)
    for t in trials:
        m = t.metrics
        acc = f"{m['val_accuracy']:.4f}" if "val_accuracy" in m else "-"
        arch = describe(t.arch) if describe else t.arch.to_json()
        if t.status != TrialStatus.OK and t.error:
            arch = f"{arch}  [{t.error.splitlines()[0][:80]}]"
        table.add_row(str(t.id), t.status, acc, _fmt_count(m.get("params")),
                      f"{m['flops'] / 1e6:.1f}" if "flops" in m else "-",
                      f"{m['latency_ms']:.2f}" if "latency_ms" in m else "-",
                      f"{t.duration_s:.1f}" if t.duration_s else "-", arch)
    return table


class SearchReporter:
    """Prints one line per finished trial and keeps a live status line with the ETA."""

    def __init__(self, console: Console, study: Study, n_trials: int | None, time_budget: float | None,
                 quiet: bool = False):
        self.console = console
        self.study = study
        self.n_trials = n_trials
        self.time_budget = time_budget
        self.quiet = quiet
        self.describe = study.estimator.space.describe
        self._status = None
        self._start = time.monotonic()
        self._base_elapsed = study.elapsed()
        self._durations: list[float] = []
        self._number = 0
        self._epochs = 0
        self._best: TrialRecord | None = study.best()

    def __enter__(self):
        if not self.quiet:
            self._status = self.console.status("starting…")
            self._status.__enter__()
        return self

    def __exit__(self, *exc):
        if self._status is not None:
            self._status.__exit__(*exc)
        return False

    def _eta(self) -> float | None:
        if not self._durations:
            return None
        mean = sum(self._durations) / len(self._durations)
        estimates = []
        if self.n_trials is not None:
            estimates.append(max(0, self.n_trials - self._number) * mean)
        if self.time_budget is not None:
            elapsed = self._base_elapsed + time.monotonic() - self._start
            estimates.append(max(0.0, self.time_budget - elapsed))
        return min(estimates) if estimates else None

    def _update(self, text: str) -> None:
        if self._status is not None:
            best = f"{self._best.objective:.4f}" if self._best and self._best.objective is not None else "-"
            total = f"/{self.n_trials}" if self.n_trials else ""
            self._status.update(f"trial {self._number + 1}{total} · {text} · best {best} · "
                                f"ETA {_fmt_duration(self._eta())}")

    def trial_started(self, number, request, fidelity):
        self._number = number
        self._epochs = fidelity.epochs
        what = f"training for {fidelity.seconds:g}s" if fidelity.seconds else f"training epoch 1/{fidelity.epochs}"
        self._update(f"{what} of {self.describe(request.arch)}")

    def epoch_done(self, point):
        acc = point.get("val_accuracy")
        total = "" if self._epochs >= 1000 else f"/{self._epochs}"  # time-limited trials have no epoch count
        done = f"epoch {point['epoch']:g}{total} done" + (f" (val {acc:.4f})" if acc is not None else "")
        self._update(done)

    def trial_finished(self, record, best):
        self._best = best
        if record.duration_s:
            self._durations.append(record.duration_s)
        self._number = record.number + 1
        if self.quiet:
            return
        m = record.metrics
        total = f"/{self.n_trials}" if self.n_trials else ""
        if record.status == TrialStatus.OK:
            mark = " *best*" if best is not None and best.id == record.id else ""
            line = (f"[{record.number + 1:>3}{total}] trial {record.id:>3}  acc {m['val_accuracy']:.4f}  "
                    f"params {_fmt_count(m.get('params')):>6}  latency {m.get('latency_ms', float('nan')):.2f}ms  "
                    f"{record.duration_s:5.1f}s  best {best.objective:.4f}  ETA {_fmt_duration(self._eta())}  "
                    f"{self.describe(record.arch)}{mark}")
        else:
            first = (record.error or "").splitlines()[0] if record.error else ""
            line = f"[{record.number + 1:>3}{total}] trial {record.id:>3}  FAILED ({first})  {self.describe(record.arch)}"
        self.console.print(line, markup=False)
        self._update("asking the strategy")


def print_summary(console: Console, study: Study, study_path: str, top: int = 10) -> None:
    trials = study.trials
    ok = [t for t in best_first(trials) if t.objective is not None]
    failed = [t for t in trials if t.status == TrialStatus.FAILED]
    console.print(trials_table(ok[:top], study.estimator.space.describe,
                               title=f"top {min(top, len(ok))} of {len(trials)} trial(s)"))
    if failed:
        console.print(f"{len(failed)} trial(s) failed; see `nasforge show --study {study_path}`.")
    best = study.best()
    if best is not None:
        console.print(f"Best: trial {best.id}, val accuracy {best.objective:.4f}. Next: "
                      f"nasforge train --study {study_path} --trial best --epochs 15 --out runs/best/")


class CountProgress:
    """A progress bar over ``total`` items of work (e.g. architectures scored by a proxy);
    call the instance after each item. Silent when ``quiet``."""

    def __init__(self, console: Console, total: int, label: str, quiet: bool = False):
        self.console, self.total, self.label, self.quiet = console, total, label, quiet
        self._progress = None

    def __enter__(self):
        if not self.quiet:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                                      TimeRemainingColumn(), console=self.console, transient=True)
            self._progress.__enter__()
            self._task = self._progress.add_task(self.label, total=self.total)
        return self

    def __call__(self, *_):
        if self._progress is not None:
            self._progress.advance(self._task)

    def __exit__(self, *exc):
        if self._progress is not None:
            self._progress.__exit__(*exc)
        return False
