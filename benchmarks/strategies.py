"""Search strategies compared on NAS-Bench-201 (CIFAR-10), through the normal study loop.

Every registered strategy runs ``--seeds`` times for ``--evals`` evaluations
on the ``nb201-cifar10`` tabular benchmark (each evaluation reads one
training seed's recorded validation accuracy, so search sees real noise).
The incumbent is the architecture with the best *observed* accuracy so far
(as a user would pick it); its regret is the gap between its mean validation
accuracy and the best mean in the table (91.61%);
test regret uses the NATS-Bench CSV in ``../shared/data`` when present.
Random search is the in-run reference: a useful strategy must beat it.

    python benchmarks/strategies.py [--seeds 20] [--evals 100] [--strategies bananas,gp-bo,random]
                                    [--csv ../shared/data/nb201_cifar10_avg.csv] [--plot regret.png]
    python benchmarks/strategies.py --benchmark nasbench-macro   # NASFORGE_NASBENCH_MACRO=.../nas-bench-macro_cifar10.json

Multi-fidelity strategies (asha, hyperband, bohb) are left out by default:
these tables have one fidelity (compare them on ``mnist1d-nb201`` instead).
``--plot`` writes the anytime regret (mean over seeds, 95% band) per strategy.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from nasforge import benchmarks, strategies
from nasforge.spaces import nb201
from nasforge.study import Storage, Study
from nasforge.estimation import Fidelity

CHECKPOINTS = (25, 50, 100, 200)
MULTI_FIDELITY = ("asha", "hyperband", "bohb")
OPTIONS = {"evolution": {"population_size": 20, "tournament_size": 5}}


def run(bench, name: str, seed: int, evals: int, folder: Path) -> list[tuple[str, float]]:
    """One study; returns (table key, observed validation accuracy) per evaluation, in order."""
    storage = Storage.create(folder / f"{name}-{seed}.db", {"spec": {"benchmark": bench.name, "strategy": name}})
    strategy = strategies.get(name, bench.space, seed=seed, **OPTIONS.get(name, {}))
    study = Study(storage, strategy, bench, Fidelity(), seed)
    study.optimize(n_trials=evals)
    keys = [(bench.key(t.arch), t.objective) for t in study.trials if t.status == "ok"]
    storage.close()
    return keys


def incumbents(history, evals):
    """The key a user would pick after each evaluation: the best *observed* so far."""
    curve, incumbent, incumbent_key = [], -np.inf, None
    for key, observed in history:
        if observed > incumbent:
            incumbent, incumbent_key = observed, key
        curve.append(incumbent_key)
    curve += [incumbent_key] * (evals - len(curve))
    return curve


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--evals", type=int, default=100)
    parser.add_argument("--strategies", default="*",
                        help="comma-separated names or patterns (default: every registered strategy)")
    parser.add_argument("--csv", default=str(Path(__file__).resolve().parents[2] / "shared/data/nb201_cifar10_avg.csv"))
    parser.add_argument("--benchmark", default="nb201-cifar10", help="nb201-cifar10 (default) or nasbench-macro")
    parser.add_argument("--plot", help="write anytime-regret curves to this PNG")
    args = parser.parse_args()
    bench = benchmarks.get(args.benchmark)
    val = {k: float(np.mean(r["val_accuracy"])) for k, r in bench.table.items()}
    best_val = max(val.values())
    test = None
    if args.benchmark == "nb201-cifar10" and Path(args.csv).exists():
        table = benchmarks.from_csv(args.csv).table
        test = {benchmarks.package_key(nb201.from_string(s)): r["test_accuracy"] for s, r in table.items()}
    best_test = max(test.values()) if test else None
    checkpoints = [c for c in CHECKPOINTS if c <= args.evals]
    print(f"{args.benchmark}: best mean validation accuracy {best_val:.2f}%"
          + (f", best test accuracy {best_test:.2f}%" if test else "") + f"; {args.seeds} seeds x {args.evals} evaluations")
    header = "strategy   | " + " | ".join(f"val regret @{c:<3}" for c in checkpoints)
    median_at = 100 if 100 in checkpoints else checkpoints[-1]
    header += f" | median @{median_at}"
    if test:
        header += f" | test regret @{checkpoints[-1]}"
    print(header + " | seconds")
    print("-" * len(header))
    with tempfile.TemporaryDirectory() as tmp:
        chosen = sorted({n for pattern in args.strategies.split(",") for n in strategies.names(pattern.strip())})
        if args.strategies == "*":
            chosen = [n for n in chosen if n not in MULTI_FIDELITY]
        anytime = {}
        for name in chosen:
            start = time.perf_counter()
            curves = [incumbents(run(bench, name, s, args.evals, Path(tmp)), args.evals)
                      for s in range(args.seeds)]
            cells = []
            for c in checkpoints:
                r = np.array([best_val - val[curve[c - 1]] for curve in curves])
                cells.append(f"{r.mean():5.2f} ± {1.96 * r.std(ddof=1) / np.sqrt(len(r)):4.2f}")
            row = f"{name:<10} | " + " | ".join(f"{c:<15}" for c in cells)
            row += f" | {np.median([best_val - val[curve[median_at - 1]] for curve in curves]):9.2f}"
            if test:
                t = np.array([best_test - test[curve[checkpoints[-1] - 1]] for curve in curves])
                row += f" | {t.mean():5.2f} ± {1.96 * t.std(ddof=1) / np.sqrt(len(t)):4.2f}  "
            print(row + f" | {time.perf_counter() - start:6.1f}", flush=True)
            anytime[name] = np.array([[best_val - val[k] for k in curve] for curve in curves])
    print("Regret in accuracy points (mean ± 95% CI over seeds) of the incumbent — the architecture with the best "
          "observed (single-seed) validation accuracy so far — measured by its mean accuracy; lower is better.")
    if args.plot:
        plot(anytime, args.plot, f"{args.benchmark}: anytime validation regret ({args.seeds} seeds)")


def plot(anytime: dict[str, np.ndarray], out: str, title: str) -> None:
    """Mean regret of the incumbent vs evaluations, with a 95% band, log-scaled regret."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, r in sorted(anytime.items()):
        x = np.arange(1, r.shape[1] + 1)
        mean, half = r.mean(0), 1.96 * r.std(0, ddof=1) / np.sqrt(len(r))
        ax.plot(x, np.maximum(mean, 1e-3), label=name)
        ax.fill_between(x, np.maximum(mean - half, 1e-3), np.maximum(mean + half, 1e-3), alpha=0.15)
    ax.set_yscale("log")
    ax.set_xlabel("evaluations")
    ax.set_ylabel("validation regret (accuracy points)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
