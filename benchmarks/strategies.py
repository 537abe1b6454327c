"""Search strategies compared on tabular NAS benchmarks, through the normal study loop.

Every chosen strategy runs ``--seeds`` times on a benchmark (each evaluation
reads one training seed's recorded result, so search sees real noise). The
incumbent is the architecture with the best *observed* validation accuracy so
far (as a user would pick it); its regret is the gap between its mean
validation accuracy over the recorded runs and the best mean in the table,
in accuracy points; test regret likewise against the best mean test accuracy.
With ``--mean-runs`` every evaluation reads that mean instead of one run: the
table becomes a deterministic function and observed accuracy is the ground
truth (the usual tabular-benchmark protocol; without it, search sees seed
noise and a lucky single run can win). Random search is the in-run
reference: a useful strategy must beat it.

Two budgets:

* evaluations (default): ``--evals`` trials each, regret after 25/50/100/200;
  single-fidelity strategies only (on ``mnist1d-nb201`` every trial reads the
  last epoch). NAS-Bench-201 test accuracy comes from the NATS-Bench CSV in
  ``../shared/data`` when present.
* simulated training time (``--time-budget S``, meant for ``mnist1d-nb201``):
  each strategy runs until its trials' recorded training seconds sum to S;
  regret after 1/32, 1/16, 1/8, 1/4, 1/2 and all of S (doubling budgets: the low ones
  are where screening at few epochs could pay). Multi-fidelity strategies (asha,
  hyperband, bohb) train over epochs ``--min-epochs``..12 (eta 3; from 1:
  rungs 1, 3, 9, 12 epochs) and pay for the epochs they read, so they can be compared with their
  single-fidelity counterparts (random for asha/hyperband, tpe for bohb) on
  the clock that matters. A promoted trial retrains from scratch (what
  nasforge's successive halving over epochs does), or with
  ``--continue-runs`` continues its earlier run and pays only the extra
  epochs (what it does over seconds with ``--continue-runs``, and what the
  ASHA and Hyperband papers assume).

    python benchmarks/strategies.py [--seeds 20] [--evals 100] [--strategies bananas,gp-bo,random]
                                    [--csv ../shared/data/nb201_cifar10_avg.csv] [--plot regret.png]
    python benchmarks/strategies.py --benchmark nasbench-macro   # NASFORGE_NASBENCH_MACRO=.../nas-bench-macro_cifar10.json
    python benchmarks/strategies.py --benchmark mnist1d-nb201 --time-budget 2800 --min-epochs 3 \\
        --continue-runs [--mean-runs] --strategies random,asha,hyperband,tpe,bohb --plot mnist1d_time.png

``--perfect-fidelity`` (time budgets only) is a counterfactual: every epoch of every
recorded run reads its final accuracy, so the lowest rung ranks as well as full training.
Multi-fidelity search against it shows the most early screening could buy on the
table; the gap to the real table is what its low-fidelity rankings cost.

``--jobs N`` runs the seeds in N processes (same numbers). ``--plot`` writes
the anytime regret (mean over seeds, 95% band) per strategy.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from contextlib import nullcontext
from functools import partial
from pathlib import Path

import numpy as np

from nasforge import benchmarks, strategies
from nasforge.benchmarks import CurveBenchmark
from nasforge.core import Fidelity, SimulatedClock
from nasforge.spaces import nb201
from nasforge.study import Storage, Study

CHECKPOINTS = (25, 50, 100, 200)
TIME_FRACTIONS = (1 / 32, 1 / 16, 1 / 8, 1 / 4, 1 / 2, 1)
MULTI_FIDELITY = ("asha", "hyperband", "bohb")
OPTIONS = {"evolution": {"population_size": 20, "tournament_size": 5}}


class TableCells:
    """The benchmark's space, sampled only among the cells its (partly generated) table holds:
    uniform over the space's architectures whose cell is in the table, as sampling the whole
    space would be once the table is complete. Mutations and model-based proposals are not
    restricted (they fail on missing cells), so use it with random-sampling strategies."""

    def __init__(self, bench):
        self.space = bench.space
        self.archs = [a for a in nb201.all_archs() if bench.key(a) in bench.table]

    def sample(self, rng):
        return self.archs[int(rng.integers(len(self.archs)))]

    def __getattr__(self, name):
        if name == "space":  # not set yet (unpickling in a worker process)
            raise AttributeError(name)
        return getattr(self.space, name)


def sampling_space(bench):
    """The space strategies sample from: all of it, or only a partial table's cells."""
    if isinstance(bench, CurveBenchmark) and len(bench.table) < len(nb201.unique_archs()):
        return TableCells(bench)
    return bench.space


def perfect_fidelity(table: dict) -> dict:
    """The table with every epoch of every recorded run reading that run's final accuracy.

    A counterfactual, not a benchmark: a rung at any epoch then ranks exactly as full
    training does, so multi-fidelity search shows the most that screening early could buy
    on this table (training times are unchanged)."""
    return {key: {**rec, "curves": [[curve[-1]] * len(curve) for curve in rec["curves"]]}
            for key, rec in table.items()}


def load_benchmark(name: str, mean_runs: bool = False, perfect: bool = False):
    """The benchmark as the flags ask: one recorded run or their mean per evaluation, and
    real or perfect-fidelity curves (tables without curves are left as they are)."""
    bench = benchmarks.get(name)
    bench.noisy = not mean_runs
    if perfect and isinstance(bench, CurveBenchmark):
        bench.table = perfect_fidelity(bench.table)
    return bench


def strategy_options(name: str, bench, min_epochs: int = 1) -> dict:
    options = dict(OPTIONS.get(name, {}))
    if name in MULTI_FIDELITY and isinstance(bench, CurveBenchmark):
        options.update(resource="epochs", min_resource=min_epochs, max_resource=bench.epochs, eta=3)
    return options


def run(bench, name: str, seed: int, folder: Path, evals: int | None = None, time_budget: float | None = None,
        continue_runs: bool = False, space=None, min_epochs: int = 1) -> list[tuple[str, float, float]]:
    """One study; (table key, observed validation accuracy, simulated seconds spent when it
    finished) per successful evaluation, in order."""
    if isinstance(bench, CurveBenchmark):
        bench = bench.fresh(continue_runs)  # its own memory of which runs can be continued
    storage = Storage.create(folder / f"{name}-{seed}.db", {"spec": {"benchmark": bench.name, "strategy": name}})
    strategy = strategies.get(name, space or bench.space, seed=seed, **strategy_options(name, bench, min_epochs))
    study = Study(storage, strategy, bench, Fidelity(epochs=getattr(bench, "epochs", 1)), seed, clock=SimulatedClock())
    study.optimize(n_trials=evals, time_budget=time_budget)
    history, clock = [], 0.0
    for t in study.trials:
        if t.status == "ok":
            clock += t.metrics.get("train_seconds", 0.0)
            history.append((bench.key(t.arch), t.objective, clock))
    storage.close()
    return history


def incumbents(history, evals: int) -> list[str]:
    """The key a user would pick after each evaluation: the best *observed* so far."""
    curve, incumbent, incumbent_key = [], -np.inf, None
    for key, observed, _ in history:
        if observed > incumbent:
            incumbent, incumbent_key = observed, key
        curve.append(incumbent_key)
    return curve + [incumbent_key] * (evals - len(curve))


def incumbents_at(history, times) -> list[str | None]:
    """The incumbent at each simulated time (None before the first result)."""
    keys = incumbents(history, 0)
    clocks = [clock for _, _, clock in history]
    return [keys[i - 1] if (i := int(np.searchsorted(clocks, t, side="right"))) else None for t in times]


def regrets(curves, val: dict[str, float], best_val: float) -> np.ndarray:
    """Regret of each incumbent key (per seed, per point); no incumbent yet counts as a random pick."""
    no_result = float(np.mean(list(val.values())))
    return np.array([[best_val - (val[k] if k else no_result) for k in curve] for curve in curves])


def progress(text: str) -> None:
    """Overwrite the terminal's status line with ``text`` (nothing when stderr is not a terminal)."""
    if sys.stderr.isatty():
        print(f"\r\033[K{text}", end="", file=sys.stderr, flush=True)


def mean_ci(values) -> str:
    values = np.asarray(values, dtype=float)
    return f"{values.mean():5.2f} ± {1.96 * values.std(ddof=1) / np.sqrt(len(values)):4.2f}"


def ground_truth(bench, csv: str | None):
    """Mean validation and test accuracy (percent) per table key; test may be None."""
    val = bench.means("val_accuracy")
    test = bench.means("test_accuracy") or None
    if bench.name == "nb201-cifar10" and csv and Path(csv).exists():
        table = benchmarks.from_csv(csv).table
        test = {benchmarks.package_key(nb201.from_string(s)): r["test_accuracy"] for s, r in table.items()}
    return val, test


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--evals", type=int, default=100)
    parser.add_argument("--time-budget", type=float, help="simulated training seconds per run (instead of --evals)")
    parser.add_argument("--strategies", default="*",
                        help="comma-separated names or patterns (default: every registered strategy that fits "
                             "the budget: single-fidelity ones for --evals, all for --time-budget)")
    parser.add_argument("--csv", default=str(Path(__file__).resolve().parents[2] / "shared/data/nb201_cifar10_avg.csv"))
    parser.add_argument("--benchmark", default="nb201-cifar10", help=f"one of {', '.join(benchmarks.names())}")
    parser.add_argument("--jobs", type=int, default=1, help="seeds run in parallel processes (results are the same)")
    parser.add_argument("--plot", help="write anytime-regret curves to this PNG")
    parser.add_argument("--min-epochs", type=int, default=1,
                        help="with --time-budget: the lowest rung of asha/hyperband/bohb (they go up to 12, eta 3)")
    parser.add_argument("--mean-runs", action="store_true",
                        help="every evaluation reads the mean over the recorded training runs instead of one run "
                             "(a deterministic table: observed accuracy is the ground truth, no seed noise)")
    parser.add_argument("--continue-runs", action="store_true",
                        help="with --time-budget: a promoted trial continues its earlier training and pays only "
                             "for the extra epochs (default: it retrains from scratch)")
    parser.add_argument("--perfect-fidelity", action="store_true",
                        help="with --time-budget: counterfactual where every epoch reads the run's final accuracy "
                             "(the upper bound on what multi-fidelity screening can buy on this table)")
    args = parser.parse_args()
    by_time = args.time_budget is not None
    if args.perfect_fidelity and not by_time:  # refused before any table is loaded
        parser.error("--perfect-fidelity needs --time-budget (it changes what the lower rungs read)")
    bench = load_benchmark(args.benchmark, args.mean_runs, args.perfect_fidelity)
    val, test = ground_truth(bench, args.csv)
    best_val, best_test = max(val.values()), (max(test.values()) if test else None)
    if by_time and not isinstance(bench, CurveBenchmark):
        parser.error("--time-budget needs a benchmark with recorded curves and training times (mnist1d-nb201)")
    chosen = sorted({n for pattern in args.strategies.split(",") for n in strategies.names(pattern.strip())})
    if args.strategies == "*" and not by_time:
        chosen = [n for n in chosen if n not in MULTI_FIDELITY]  # one fidelity: nothing to stop early
    if by_time:
        points = [args.time_budget * f for f in TIME_FRACTIONS]
        labels = [f"@{p:.0f}s" for p in points]
        budget = f"{args.time_budget:g} simulated training seconds"
        budget += f"; multi-fidelity from {args.min_epochs} epoch(s), promoted trials "
        budget += "continue" if args.continue_runs else "retrain"
        if args.perfect_fidelity:
            budget += "; PERFECT FIDELITY (counterfactual: every epoch reads the final accuracy)"
    else:
        points = [c for c in CHECKPOINTS if c <= args.evals]
        labels = [f"@{c}" for c in points]
        budget = f"{args.evals} evaluations"
    budget += "; mean over recorded runs (no seed noise)" if args.mean_runs else "; one recorded run per evaluation"
    space = sampling_space(bench)
    if space is not bench.space:
        print(f"PARTIAL TABLE: {len(bench.table)} of {len(nb201.unique_archs())} cells; strategies sample only "
              "those (mutations and model-based proposals of missing cells fail at no cost): interim numbers")
    print(f"{args.benchmark}: best mean validation accuracy {best_val:.2f}%"
          + (f", best mean test accuracy {best_test:.2f}%" if test else "") + f"; {args.seeds} seeds x {budget}")
    median_label = "@100" if "@100" in labels else labels[-1]
    header = "strategy   | " + " | ".join(f"val regret {label:<5}" for label in labels)
    header += f" | median {median_label}"
    header += "".join(f" | test regret {label:<5}" for label in labels) if test else ""
    header += " | evals | seconds"
    print(header)
    print("-" * len(header))
    anytime = {}
    # the studies are throwaway: in memory (tmpfs) where there is one, their per-trial commits cost no disk sync
    with tempfile.TemporaryDirectory(dir="/dev/shm" if os.access("/dev/shm", os.W_OK) else None) as tmp:
        for name in chosen:
            start = time.perf_counter()
            one_seed = partial(run, bench, name, folder=Path(tmp), evals=None if by_time else args.evals,
                               time_budget=args.time_budget, continue_runs=args.continue_runs, space=space,
                               min_epochs=args.min_epochs)
            with ProcessPoolExecutor(args.jobs) if args.jobs > 1 else nullcontext() as pool:
                results = pool.map(one_seed, range(args.seeds)) if pool else map(one_seed, range(args.seeds))
                histories = []
                for s, history in enumerate(results):
                    histories.append(history)
                    progress(f"{name}: {s + 1}/{args.seeds} seeds")
            if by_time:
                curves = [incumbents_at(h, points) for h in histories]
            else:
                curves = [[keys[c - 1] for c in points] for keys in (incumbents(h, args.evals) for h in histories)]
            progress("")  # erased before the row is printed
            regret = regrets(curves, val, best_val)
            cells = [mean_ci(regret[:, i]) for i in range(len(points))]
            row = f"{name:<10} | " + " | ".join(f"{c:<16}" for c in cells)
            row += f" | {np.median(regret[:, labels.index(median_label)]):{len(median_label) + 7}.2f}"
            if test:
                test_regret = regrets(curves, test, best_test)
                row += "".join(f" | {mean_ci(test_regret[:, i]):<17}" for i in range(len(points)))
            print(row + f" | {np.mean([len(h) for h in histories]):5.0f} | {time.perf_counter() - start:7.1f}",
                  flush=True)
            anytime[name] = anytime_regret(histories, val, best_val, by_time, args)
    print("Regret in accuracy points (mean ± 95% CI over seeds) of the incumbent — the architecture with the best "
          "observed (single-seed) validation accuracy so far — measured by its mean accuracy; lower is better.")
    if args.plot:
        xlabel = "simulated training seconds" if by_time else "evaluations"
        protocol = "mean over runs" if args.mean_runs else "one run per evaluation"
        protocol += ", perfect fidelity" if args.perfect_fidelity else ""
        plot(anytime, args.plot, f"{args.benchmark}: anytime validation regret\n({args.seeds} seeds, {protocol})",
             xlabel, log_x=by_time)


def anytime_regret(histories, val, best_val, by_time: bool, args) -> tuple[np.ndarray, np.ndarray]:
    """(x, regret per seed and x) for the plot: per evaluation, or on a grid of simulated times."""
    if by_time:
        x = np.geomspace(args.time_budget / 100, args.time_budget, 100)  # plotted on a log axis
        curves = [incumbents_at(h, x) for h in histories]
    else:
        x = np.arange(1, args.evals + 1)
        curves = [incumbents(h, args.evals) for h in histories]
    return x, regrets(curves, val, best_val)


def plot(anytime: dict[str, tuple[np.ndarray, np.ndarray]], out: str, title: str, xlabel: str,
         log_x: bool = False) -> None:
    """Mean regret of the incumbent, with a 95% band, log-scaled regret (and time, with ``log_x``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, (x, r) in sorted(anytime.items()):
        mean, half = r.mean(0), 1.96 * r.std(0, ddof=1) / np.sqrt(len(r))
        ax.plot(x, np.maximum(mean, 1e-3), label=name)
        ax.fill_between(x, np.maximum(mean - half, 1e-3), np.maximum(mean + half, 1e-3), alpha=0.15)
    ax.set_yscale("log")
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("validation regret (accuracy points)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
