"""Multi-objective strategies against the true Pareto front of tabular benchmarks.

The MNIST-1D NB201 table (nasforge's own: every unique cell's validation curves,
parameters, FLOPs and CPU latency) and NAS-Bench-Macro (CIFAR-10 accuracy,
parameters and FLOPs of all 6,561 networks) record every architecture, so the
true front of (accuracy, cost) and its hypervolume are known exactly.

Protocol. Each strategy is driven through ask/tell exactly as a study drives it,
``--seeds`` times, for ``--evals`` evaluations. An evaluation reads *one*
recorded training run (search sees real seed noise). After each evaluation the
architectures evaluated so far at full fidelity (12 epochs on MNIST-1D; every
evaluation on NAS-Bench-Macro) are scored with their *true* values (mean
accuracy over the recorded runs, recorded cost), and the hypervolume of that set
is compared with the hypervolume of the whole table:

    HV ratio = HV(evaluated) / HV(table),   regret = 1 - HV ratio.

Both objectives are scaled to [0, 1] by the table's best and worst values
(accuracy: max and min of the table; cost: min and max), and the reference
point is (1, 1), the table's nadir: the reference point policy of
``nasforge.core.pareto``. Because the table's worst accuracy is near chance
(9.6% on MNIST-1D), most of that volume is easy to get; the table also reports
a *tight* reference, the true front's own nadir plus 10% of the front's
range, under which only the region near the front counts (a harder score).

Costs known before training. Every strategy is handed the table's ``costs`` (what a
study hands it: ``Strategy.set_known_costs``); only the cost-aware ones (``mo-bo``,
``cost-random``) read them. A cost lookup trains nothing and is **not an evaluation**
(in hardware-aware NAS a candidate's latency is predicted or measured in milliseconds,
its training takes minutes); the number of lookups per run is printed under each table.
``cost-random`` (random search plus a share of the cheapest candidates looked up) is the
reference that gets the same free lookups.

MO-ASHA (``mo-asha``, MNIST-1D only: it needs the epochs fidelity) trains over
rungs of 1, 3, 9 and 12 epochs (eta 3) and pays, on the simulated clock, the
recorded training seconds of the epochs it reads; its low-fidelity evaluations
count as evaluations, and an architecture enters its set only once trained to
12 epochs. ``--time-budget S`` adds runs limited by simulated training seconds
instead of evaluations, where multi-fidelity search can pay off.

    python benchmarks/multiobjective.py [--seeds 20] [--evals 200] [--time-budget 600] \\
        [--plot docs/img/multiobjective.png]

Prints one table per problem: percent of the true hypervolume (mean ± 95% CI over
seeds) after 25/50/100/200 evaluations, and the evaluations each strategy needed to
reach 99% (median over seeds; '>N' when not reached).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from nasforge import benchmarks, strategies
from nasforge.benchmarks import CurveBenchmark
from nasforge.core import Fidelity
from nasforge.core.pareto import hypervolume, hypervolume_history, non_dominated, normalize

ROOT = Path(__file__).resolve().parents[1]
MACRO_FILE = Path(os.environ.get("NASFORGE_NASBENCH_MACRO", ROOT.parent / "shared" / "data" /
                                 "nas-bench-macro_cifar10.json"))
PROBLEMS = [("mnist1d-nb201", "latency_ms"), ("mnist1d-nb201", "params"), ("nasbench-macro", "params"),
            ("nasbench-macro", "flops")]
STRATEGIES = ["random", "nsga2", "mo-evolution", "parego", "mo-local", "mo-asha", "cost-random", "mo-bo"]
LOOKUPS: dict[str, list[int]] = {}  # strategy -> cost lookups per run (only cost-aware strategies make any)
CHECKPOINTS = (25, 50, 100, 200)
OPTIONS = {"nsga2": {"population_size": 20}, "mo-evolution": {"population_size": 20, "tournament_size": 5},
           "parego": {"max_data": 100},
           "mo-bo": {"num_random": 200, "num_mutations": 200}}  # larger pools than the default: lookups are free here  # a GP on at most 100 points (front first): 200 evaluations cost ~1 CPU s


def load(name: str):
    if name == "nasbench-macro":
        if not MACRO_FILE.is_file():
            return None
        return benchmarks.nasbench_macro(MACRO_FILE)
    return benchmarks.get(name)


class Truth:
    """The table's true points for (accuracy, cost): scaled minimisation form, front and hypervolumes."""

    def __init__(self, bench, cost: str):
        acc = bench.means("val_accuracy")
        self.keys = list(acc)
        raw = np.array([[-acc[k], float(np.mean(bench.table[k][cost]))] for k in self.keys])
        self.best, self.worst = raw.min(0), raw.max(0)
        self.points = dict(zip(self.keys, normalize(raw, self.best, self.worst)))
        all_points = np.array(list(self.points.values()))
        front = all_points[non_dominated(all_points)]
        self.front_size = len(front)
        self.reference = np.ones(2)
        self.tight = front.max(0) + 0.1 * (front.max(0) - front.min(0))
        self.hv = hypervolume(all_points, self.reference)
        self.hv_tight = hypervolume(all_points, self.tight)


def run_one(bench, name: str, cost: str, seed: int, evals: int | None, time_budget: float | None):
    """One search: (table key or None, simulated seconds so far) per evaluation; a key only for
    full-fidelity evaluations (the set a user would choose from)."""
    curves = isinstance(bench, CurveBenchmark)
    if curves:
        bench = bench.fresh(False)
    options = dict(OPTIONS.get(name, {}))
    if name == "mo-asha":
        options.update(resource="epochs", min_resource=1, max_resource=bench.epochs, eta=3)
    strategy = strategies.get(name, bench.space, seed=seed, **options)
    strategy.set_objectives(["val_accuracy", cost])
    lookups = LOOKUPS.setdefault(name, [])
    lookups.append(0)

    def known_costs(arch, metrics):  # what a study hands every strategy: free, counted, not an evaluation
        lookups[-1] += 1
        return bench.costs(arch, metrics)

    strategy.set_known_costs(known_costs)
    full = getattr(bench, "epochs", 1)
    history, clock, number = [], 0.0, 0
    rng = np.random.default_rng([seed, 7])
    while (evals is None or number < evals) and (time_budget is None or clock < time_budget):
        request = strategy.ask()
        fidelity = Fidelity.from_dict({"epochs": full, **(request.fidelity or {})})
        result = bench.evaluate(request.arch, fidelity, int(rng.integers(1 << 31)))
        strategy.tell(request, result)
        clock += result.cost_s
        number += 1
        history.append((bench.key(request.arch) if result.ok and fidelity.epochs >= full else None, clock))
    return history


def ratios(history, truth: Truth, tight: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(simulated seconds, HV ratio) after each evaluation."""
    ref, total = (truth.tight, truth.hv_tight) if tight else (truth.reference, truth.hv)
    keys = [k for k, _ in history if k is not None]
    hv = hypervolume_history(np.array([truth.points[k] for k in keys]).reshape(-1, 2), ref) if keys else []
    out, j, current = [], 0, 0.0
    for key, _ in history:
        if key is not None:
            current = hv[j]
            j += 1
        out.append(current / total)
    return np.array([c for _, c in history]), np.array(out)


def mean_ci(values, scale: float = 100.0) -> str:
    values = np.asarray(values, dtype=float) * scale
    half = 1.96 * values.std(ddof=1) / np.sqrt(len(values)) if len(values) > 1 else 0.0
    return f"{values.mean():6.2f} ± {half:4.2f}"


def evals_to(curves: np.ndarray, level: float) -> str:
    hits = [int(np.argmax(c >= level)) + 1 if (c >= level).any() else None for c in curves]
    if sum(h is None for h in hits) > len(hits) / 2:
        return f">{curves.shape[1]}"
    return str(int(np.median([h if h is not None else curves.shape[1] + 1 for h in hits])))


def report(problem: str, truth: Truth, results: dict, evals: int) -> dict:
    """Print the table for one problem; return the per-seed curves for the plot."""
    print(f"\n### {problem}: true front {truth.front_size} architectures, table HV {truth.hv:.4f} "
          f"(scaled, reference = table nadir); tight-reference HV {truth.hv_tight:.4f}\n")
    points = [c for c in CHECKPOINTS if c <= evals]
    print("| strategy | " + " | ".join(f"% HV @{c}" for c in points) + " | evals to 99% | % tight HV @"
          f"{points[-1]} | evals to 99% tight |")
    print("|---" * (len(points) + 4) + "|")
    curves = {}
    for name, histories in results.items():
        loose = np.array([ratios(h, truth)[1] for h in histories])
        tight = np.array([ratios(h, truth, tight=True)[1] for h in histories])
        curves[name] = loose
        cells = [mean_ci(loose[:, c - 1]) for c in points]
        print(f"| {name} | " + " | ".join(cells) + f" | {evals_to(loose, 0.99)} | "
              f"{mean_ci(tight[:, points[-1] - 1])} | {evals_to(tight, 0.99)} |")
    return curves


def report_time(problem: str, truth: Truth, results: dict, budget: float) -> dict:
    grid = budget * np.array([1 / 8, 1 / 4, 1 / 2, 1])
    print(f"\n### {problem}, simulated training time budget {budget:g} s: % of true HV (tight reference in "
          "brackets) at fractions of the budget; evaluations used\n")
    print("| strategy | " + " | ".join(f"{g:.0f} s" for g in grid) + " | evaluations |")
    print("|---" * (len(grid) + 2) + "|")
    out = {}
    for name, histories in results.items():
        at, at_tight = [], []
        for h in histories:
            clock, loose = ratios(h, truth)
            _, tight = ratios(h, truth, tight=True)
            idx = [max(0, int(np.searchsorted(clock, g, side="right")) - 1) for g in grid]
            at.append(loose[idx])
            at_tight.append(tight[idx])
        at, at_tight = np.array(at), np.array(at_tight)
        out[name] = at
        cells = [f"{mean_ci(at[:, i])} ({mean_ci(at_tight[:, i]).split(' ±')[0].strip()})" for i in range(len(grid))]
        print(f"| {name} | " + " | ".join(cells) + f" | {np.mean([len(h) for h in histories]):.0f} |")
    return out


def plot(curves: dict[str, dict], out: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, len(curves), figsize=(4.6 * len(curves), 4), squeeze=False)
    for ax, (problem, by_strategy) in zip(axes[0], curves.items()):
        for name, c in sorted(by_strategy.items()):
            color = f"C{STRATEGIES.index(name)}" if name in STRATEGIES else None  # one colour per strategy
            regret = 1 - c
            x = np.arange(1, c.shape[1] + 1)
            mean, half = regret.mean(0), 1.96 * regret.std(0, ddof=1) / np.sqrt(len(regret))
            ax.plot(x, np.maximum(mean, 1e-4), label=name, color=color)
            ax.fill_between(x, np.maximum(mean - half, 1e-4), np.maximum(mean + half, 1e-4), alpha=0.15, color=color)
        ax.axhline(0.01, color="black", linewidth=0.8, linestyle="--")
        ax.set_yscale("log")
        ax.set_xlabel("evaluations")
        ax.set_ylabel("hypervolume regret (1 - HV / true HV)")
        ax.set_title(problem, fontsize=9)
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    print(f"\nwrote {out}")


def report_saved(paths: list[str], evals: int, save: str | None) -> None:
    """The tables of runs saved by --save-runs (one problem; seeds split over several files)."""
    merged: dict[str, list] = {}
    lookups: dict[str, list[int]] = {}
    seeds: list[int] = []
    problem = None
    for path in paths:
        runs = json.loads(Path(path).read_text())
        problem = problem or runs["problem"]
        if runs["problem"] != problem:
            raise SystemExit(f"{path} holds {runs['problem']}, not {problem}")
        seeds += runs["seeds"]
        for name, histories in runs["results"].items():
            merged.setdefault(name, []).extend([[(k, c) for k, c in h] for h in histories])
        for name, counts in runs["lookups"].items():
            lookups.setdefault(name, []).extend(counts)
    if len(set(seeds)) != len(seeds):
        raise SystemExit("the saved runs repeat seeds")
    bench_name, cost = problem.split(":")
    truth = Truth(load(bench_name), cost)
    curves = report(problem, truth, merged, evals)
    for name, counts in lookups.items():
        if any(counts):
            print(f"\n{name}: {np.mean(counts):,.0f} cost lookups per run (min {min(counts):,}, max {max(counts):,}); "
                  "free, not evaluations")
    print(f"\n{len(seeds)} seeds ({min(seeds)}-{max(seeds)}), {evals} evaluations")
    if save:
        np.savez(save, **{f"{bench_name}: accuracy x {cost}|{n}": c for n, c in curves.items()})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--evals", type=int, default=200)
    parser.add_argument("--time-budget", type=float, default=None, help="also runs limited by simulated seconds "
                        "(MNIST-1D, accuracy x latency)")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--problems", default=",".join(f"{b}:{c}" for b, c in PROBLEMS))
    parser.add_argument("--plot", default=None)
    parser.add_argument("--no-evals", action="store_true", help="only the --time-budget runs")
    parser.add_argument("--save", default=None, help="also save the HV-ratio curves (npz) for --plot-from")
    parser.add_argument("--plot-from", nargs="*", default=None, help="draw --plot from saved curves and exit")
    parser.add_argument("--first-seed", type=int, default=0, help="run seeds first-seed .. first-seed + seeds - 1")
    parser.add_argument("--save-runs", default=None, help="save every run's history (JSON), to be merged with "
                        "--report-from: split the seeds over several processes on a busy machine")
    parser.add_argument("--report-from", nargs="*", default=None, help="print the tables from saved runs and exit")
    args = parser.parse_args()
    if args.report_from:
        report_saved(args.report_from, args.evals, args.save)
        return
    if args.plot_from:
        curves: dict[str, dict] = {}
        for path in args.plot_from:
            with np.load(path) as saved:
                for key in saved.files:
                    problem, name = key.split("|")
                    curves.setdefault(problem, {})[name] = saved[key]
        plot(curves, args.plot)
        return
    names = args.strategies.split(",")
    started = time.process_time()
    curves = {}
    for problem in args.problems.split(","):
        bench_name, cost = problem.split(":")
        bench = load(bench_name)
        if bench is None:
            print(f"\n### {problem}: skipped, {MACRO_FILE} is missing")
            continue
        truth = Truth(bench, cost)
        results = {}
        LOOKUPS.clear()
        for name in [] if args.no_evals else names:
            if name == "mo-asha" and not isinstance(bench, CurveBenchmark):
                continue  # no epochs fidelity in the table
            t0 = time.process_time()
            results[name] = [run_one(bench, name, cost, seed, args.evals, None)
                             for seed in range(args.first_seed, args.first_seed + args.seeds)]
            final = [ratios(h, truth)[1][-1] for h in results[name]]  # a partial result, in case the run is cut
            print(f"  {problem} {name}: {time.process_time() - t0:.1f} CPU s; % HV at the end "
                  f"{mean_ci(final)}", file=sys.stderr, flush=True)
        if args.save_runs and results:
            runs = {"problem": problem, "seeds": list(range(args.first_seed, args.first_seed + args.seeds)),
                    "results": results, "lookups": LOOKUPS}
            Path(args.save_runs).write_text(json.dumps(runs))
        if results:
            curves[f"{bench_name}: accuracy x {cost}"] = report(problem, truth, results, args.evals)
            for name, counts in LOOKUPS.items():
                if any(counts):
                    print(f"\n{name}: {np.mean(counts):,.0f} cost lookups per run (min {min(counts):,}, "
                          f"max {max(counts):,}); free, not evaluations")
        if args.time_budget and isinstance(bench, CurveBenchmark) and cost == "latency_ms":
            timed = {name: [run_one(bench, name, cost, seed, None, args.time_budget) for seed in range(args.seeds)]
                     for name in names}
            report_time(problem, truth, timed, args.time_budget)
    print(f"\n{args.seeds} seeds, {args.evals} evaluations; total {time.process_time() - started:.0f} CPU s")
    if args.save and curves:
        np.savez(args.save, **{f"{p}|{n}": c for p, by in curves.items() for n, c in by.items()})
    if args.plot and curves:
        plot(curves, args.plot)


if __name__ == "__main__":
    main()
