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
        self._number = self.study.finished_count()  # trials turned away before training are not counted
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
        self._number = self.study.finished_count()  # this one included, rejected ones not (as --trials counts)
        if self.quiet:
            return
        m = record.metrics
        total = f"/{self.n_trials}" if self.n_trials else ""
        if record.status == TrialStatus.OK:
            mark = " *best*" if best is not None and best.id == record.id else ""
            line = (f"[{self._number:>3}{total}] trial {record.id:>3}  acc {m['val_accuracy']:.4f}  "
                    f"params {_fmt_count(m.get('params')):>6}  latency {m.get('latency_ms', float('nan')):.2f}ms  "
                    f"{record.duration_s:5.1f}s  best {best.objective:.4f}  ETA {_fmt_duration(self._eta())}  "
                    f"{self.describe(record.arch)}{mark}")
        elif record.request_meta.get("rejected"):
            line = (f"      trial {record.id:>3}  rejected before training ({record.request_meta['rejected']})  "
                    f"{self.describe(record.arch)}")
        else:
            first = (record.error or "").splitlines()[0] if record.error else ""
            status = "PRUNED" if record.status == TrialStatus.PRUNED else "FAILED"
            line = f"[{self._number:>3}{total}] trial {record.id:>3}  {status} ({first})  {self.describe(record.arch)}"
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
        name = study.strategy.objective
        value = best.objective if name == "val_accuracy" else best.metrics.get(name, best.objective)
        console.print(f"Best: trial {best.id}, {name.replace('_', ' ')} {value:.4f}. Next: "
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

# -- Pareto fronts ----------------------------------------------------------------------

def front_objectives(trials: list[TrialRecord], objectives: list[str]) -> tuple[list[str], str]:
    """The objectives a front is drawn on, and a note when they are not the study's own: a
    single-objective study is shown against the costs its trials recorded (latency, params)."""
    if len(objectives) > 1:
        return list(objectives), ""
    recorded = {k for t in trials if t.status == TrialStatus.OK for k in t.metrics}
    costs = [m for m in ("latency_ms", "params") if m in recorded and m != objectives[0]]
    if not costs:
        return list(objectives), ""
    return [objectives[0], *costs], (f"this study optimised {objectives[0]} alone; its front is shown against "
                                     f"{', '.join(costs)}")


def pareto_summary(trials: list[TrialRecord], objectives: list[str]) -> dict:
    """The front, its hypervolume and the hypervolume after each successful trial, as plain data."""
    from .core.objectives import get
    from .study import front_hypervolume, hypervolume_by_trial, pareto_trials, study_reference

    reference = study_reference(trials, objectives)
    front = pareto_trials(trials, objectives)
    sign = [get(o).sign for o in objectives]
    return {"objectives": {o: get(o).direction for o in objectives},
            "reference": None if reference is None else {o: s * r for o, s, r in zip(objectives, sign, reference)},
            "hypervolume": front_hypervolume(trials, objectives, reference),
            "front": front, "history": hypervolume_by_trial(trials, objectives, reference)}


def _value(metric: str, value: float | None) -> str:
    if value is None:
        return "-"
    if metric in ("params", "flops", "size_bytes"):
        return _fmt_count(value)
    return f"{value:.4f}" if abs(value) < 10 else f"{value:.3g}"


def print_front(console: Console, summary: dict, describe=None, title: str = "") -> None:
    """The front as a table (best first objective first), its hypervolume and how it grew."""
    from .core.objectives import get

    objectives = list(summary["objectives"])
    table = Table(title=title or f"Pareto front: {len(summary['front'])} trial(s)")
    table.add_column("trial", justify="right")
    for o in objectives:
        table.add_column(f"{o} ({'max' if summary['objectives'][o] == 'maximize' else 'min'})", justify="right")
    table.add_column("architecture")
    first = get(objectives[0])
    for t in sorted(summary["front"], key=lambda t: first.sign * (first.value(t.metrics) or 0.0)):
        table.add_row(str(t.id), *(_value(o, get(o).value(t.metrics)) for o in objectives),
                      describe(t.arch) if describe else t.arch.to_json())
    console.print(table)
    history = summary["history"]
    if history:
        ref = ", ".join(f"{o}={_value(o, v)}" for o, v in summary["reference"].items())
        marks = sorted({max(0, round(len(history) * q) - 1) for q in (0.25, 0.5, 0.75, 1.0)})
        growth = ", ".join(f"after trial {history[i][0]}: {history[i][1]:.4g}" for i in marks)
        console.print(f"Hypervolume {summary['hypervolume']:.6g} (reference point {ref}; worst value of each "
                      f"objective plus 10% of its range). Over time: {growth}.", markup=False)


def _spans_decades(values: list[float]) -> bool:
    low, high = min(values), max(values)
    return low > 0 and high / low > 20


def pareto_picture(trials: list[TrialRecord], objectives: list[str], out, chosen: dict[int, str],
                   title: str = ""):
    """The Pareto PNG of a study: accuracy against each cost objective (or latency and params when
    recorded), the front of ``objectives`` and the ``chosen`` trials (id -> label) marked."""
    from .core.objectives import get
    from .draw import ParetoPanel, draw_pareto
    from .study import pareto_trials, scored

    ok, _ = scored(trials, ["val_accuracy"])
    front_ids = {t.id for t in pareto_trials(trials, objectives)}
    accuracy = next((o for o in objectives if o.endswith("accuracy")), "val_accuracy")
    costs = [o for o in objectives if get(o).direction == "minimize" and o != "val_error"]
    costs += [m for m in ("latency_ms", "params") if m not in costs and any(m in t.metrics for t in ok)]
    panels = []
    for cost in costs:
        rows = [t for t in ok if cost in t.metrics and accuracy in t.metrics]
        if rows:
            panels.append(ParetoPanel([t.metrics[cost] for t in rows], [t.metrics[accuracy] for t in rows],
                                      f"{cost} ({get(cost).unit}, lower is better)", f"{accuracy} (higher is better)",
                                      [t.id in front_ids for t in rows], [chosen.get(t.id) for t in rows],
                                      log_x=_spans_decades([t.metrics[cost] for t in rows])))
    if not panels:
        return None
    return draw_pareto(panels, out, title)
