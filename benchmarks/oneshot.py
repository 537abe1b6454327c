"""One-shot NAS measured against ground truth: nasforge's MNIST-1D NB201 table (4,930 unique cells,
each trained standalone; ``nasforge.benchmarks._mnist1d``).

For each seed it runs DARTS (1st order; 2nd order on fewer seeds), GDAS, beta-DARTS, SPOS +
regularised evolution and ENAS on the table's own data and skeleton (16 channels, one cell per stage, the
same 1,000 training and 1,000 validation samples, from ``benchmarks/mnist1d_nb201.py``), and reports

* the table's mean validation accuracy and percentile of the cell each method selects, mean and
  95% CI over the seeds, and the CPU-seconds each search took;
* random search given the same CPU-seconds of standalone training (the table's recorded training
  times; each sampled cell shows one of its recorded runs, as a real training would), and the
  budget random search needs to match the best one-shot method;
* Kendall tau and Spearman rho between SPOS's supernet accuracy (BN recalibrated) and the table,
  over a uniform sample of unique cells and over the sample's top 20%;
* DARTS's collapse: parameter-free edges and table accuracy of the derived cell epoch by epoch
  (for ENAS, of the controller's most likely cell);
* time and activation memory per supernet epoch, and NAS-Bench-201's published CIFAR-10 numbers.

    nice -n 10 python benchmarks/oneshot.py [--seeds 5] [--epochs 30] [--out runs/oneshot_benchmark.json]
    nice -n 10 python benchmarks/oneshot.py --methods enas --seeds 5 --out runs/oneshot_enas.json  # ENAS alone

One torch thread; CPU-seconds are this process's (``time.process_time``).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from scipy import stats

from mnist1d_nb201 import SUBSET, make_estimator  # the table's data and space, as it was generated

from nasforge import strategies
from nasforge.benchmarks._mnist1d import load_table
from nasforge.core import Fidelity
from nasforge.estimation import subset_indices
from nasforge.oneshot import (NB201Supernet, OneShotConfig, SupernetEstimator, make_training,
                              parameter_free_edges)
from nasforge.spaces import nb201
from nasforge.study import Storage, Study

PUBLISHED = [  # NAS-Bench-201 CIFAR-10 test accuracy of the selected cell (Dong & Yang 2020; Ye et al. 2022)
    ("DARTS 1st order", 54.30), ("DARTS 2nd order", 54.30), ("ENAS", 53.89), ("RSPS (random search + sharing)", 84.07),
    ("GDAS", 93.61), ("DrNAS / beta-DARTS", 94.36), ("optimum", 94.37)]


class Truth:
    """The table: mean final validation accuracy (%) and percentile of every unique cell."""

    def __init__(self):
        doc = load_table()
        self.meta, self.cells = doc["meta"], doc["cells"]
        self.keys = list(self.cells)
        self.acc = {k: 100 * float(np.mean([c[-1] for c in r["curves"]])) for k, r in self.cells.items()}
        self.seconds = {k: float(np.mean(r["train_seconds"])) for k, r in self.cells.items()}
        self.sorted = np.sort(np.array(list(self.acc.values())))
        # arrays for simulating random search: every one of the 15,625 cells -> its unique cell
        position = {k: i for i, k in enumerate(self.keys)}
        self.key_of_index = np.array([position[nb201.canonical(a)] for a in nb201.all_archs()])
        self.acc_of = np.array([self.acc[k] for k in self.keys])
        self.seconds_of = np.array([self.seconds[k] for k in self.keys])
        self.min_seconds = float(self.seconds_of.min())
        self.runs_of = np.array([len(self.cells[k]["curves"]) for k in self.keys])
        self.final_of = np.array([[c[-1] for c in self.cells[k]["curves"]] + [0.0] * (2 - len(self.cells[k]["curves"]))
                                  for k in self.keys])

    def accuracy(self, arch) -> float:
        return self.acc[nb201.canonical(arch)]

    def percentile(self, accuracy: float) -> float:
        """Share of the table's cells (%) at or below ``accuracy``: 100 is the best cell."""
        return 100.0 * np.searchsorted(self.sorted, accuracy, side="right") / len(self.sorted)


def load_data():
    estimator = make_estimator()
    ds = estimator.dataset
    idx = subset_indices(len(ds.y_train), SUBSET)
    return estimator.space, ds, ds.x_train[idx], ds.y_train[idx]


def mean_ci(values) -> tuple[float, float]:
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return float(values.mean()), float("nan")
    return float(values.mean()), float(stats.t.ppf(0.975, len(values) - 1) * values.std(ddof=1) / np.sqrt(len(values)))


def run_supernet(method, seed, epochs, options, data):
    space, ds, x, y = data
    config = OneShotConfig(method=method, epochs=epochs, seed=seed, **options)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        net = NB201Supernet(space, ds.input_shape, ds.num_classes)
    training = make_training(net, config, x, y, ds.x_val, ds.y_val)
    for _ in range(epochs):
        training.run_epoch()
    estimator = SupernetEstimator(net, x, ds.x_val, ds.y_val, config.calibration_batches, config.batch_size)
    return training, estimator


def gradient_method(method, seed, epochs, options, data, truth):
    cpu = time.process_time()
    training, _ = run_supernet(method, seed, epochs, options, data)
    arch = training.derive()
    cpu = time.process_time() - cpu
    trajectory = [(r["parameter_free_edges"], truth.accuracy(nb201_arch(r["arch"]))) for r in training.history]
    return {"arch": nb201.to_string(arch), "cpu_seconds": cpu, "trajectory": trajectory,
            "epoch_seconds": float(np.mean([r["cpu_seconds"] for r in training.history])),
            "activation_mb": training.history[0]["activation_mb"], "parameter_free_edges": parameter_free_edges(arch)}


def enas_method(seed, epochs, options, data, truth):
    """ENAS: the search and the final choice among the controller's candidates, both charged."""
    cpu = time.process_time()
    training, _ = run_supernet("enas", seed, epochs, options, data)
    arch = training.derive()
    cpu = time.process_time() - cpu
    trajectory = [(r["parameter_free_edges"], truth.accuracy(nb201_arch(r["arch"]))) for r in training.history]
    return {"arch": nb201.to_string(arch), "cpu_seconds": cpu, "trajectory": trajectory,
            "epoch_seconds": float(np.mean([r["cpu_seconds"] for r in training.history])),
            "activation_mb": training.history[0]["activation_mb"], "parameter_free_edges": parameter_free_edges(arch),
            "candidates": len(training.derive_scores_),
            "most_likely": nb201.to_string(nb201_arch(training.history[-1]["arch"])),
            "mean_reward": [r["mean_reward"] for r in training.history]}


def nb201_arch(text):
    from nasforge.core import Arch

    return Arch.from_json(text)


def spos_method(seed, epochs, options, data, truth, trials, rank_sample, searchers=("evolution", "reinforce")):
    """One SPOS supernet, searched by each strategy in ``searchers`` through a study (each charged the
    supernet's training plus its own search); then the supernet's ranking over ``rank_sample`` cells."""
    cpu = time.process_time()
    training, estimator = run_supernet("spos", seed, epochs, options, data)
    train_cpu = time.process_time() - cpu
    found = {}
    for name in searchers:
        cpu = time.process_time()
        strategy = strategies.get(name, estimator.space, seed=seed)
        with tempfile.TemporaryDirectory() as tmp:
            study = Study(Storage.create(Path(tmp) / "spos.db", {}), strategy, estimator, Fidelity(epochs=1), seed)
            study.optimize(n_trials=trials)
            best = study.best().arch
            study.close()
        found[name] = {"arch": nb201.to_string(best), "cpu_seconds": train_cpu + time.process_time() - cpu,
                       "epoch_seconds": float(np.mean([r["cpu_seconds"] for r in training.history])),
                       "activation_mb": training.history[0]["activation_mb"],
                       "parameter_free_edges": parameter_free_edges(best)}
    eval_cpu = time.process_time()
    scores = [estimator.score(nb201.from_string(truth.cells[k]["arch"]))[0] for k in rank_sample]
    found[searchers[0]].update(scores=scores, eval_cpu_seconds=(time.process_time() - eval_cpu) / len(rank_sample))
    return found


def random_search(truth, budget, repeats=2000, seed=0):
    """Random search over all 15,625 cells with ``budget`` seconds of recorded standalone training
    (at least one cell): the table accuracies of the cells it selects, by one recorded run's
    validation accuracy per sampled cell, as a real training would show it."""
    rng = np.random.default_rng(seed)
    n = int(budget / truth.min_seconds) + 2
    picked = np.empty(repeats)
    for i in range(repeats):
        cells = truth.key_of_index[rng.integers(15625, size=n)]
        count = max(1, int(np.searchsorted(np.cumsum(truth.seconds_of[cells]), budget, side="right")))
        cells = cells[:count]
        runs = (rng.random(count) * truth.runs_of[cells]).astype(int)
        picked[i] = truth.acc_of[cells[np.argmax(truth.final_of[cells, runs])]]
    return picked


def ranking(truth, keys, scores):
    true = np.array([truth.acc[k] for k in keys])
    scores = np.array(scores)
    top = true >= np.percentile(true, 80)
    return {"n": len(keys), "kendall": stats.kendalltau(scores, true)[0], "spearman": stats.spearmanr(scores, true)[0],
            "n_top": int(top.sum()), "kendall_top20": stats.kendalltau(scores[top], true[top])[0],
            "spearman_top20": stats.spearmanr(scores[top], true[top])[0]}


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5)
    p.add_argument("--darts2-seeds", type=int, default=2)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--arch-lr", type=float, default=3e-3)
    p.add_argument("--beta-lambda", type=float, default=1.0)
    p.add_argument("--spos-trials", type=int, default=100)
    p.add_argument("--controller-lr", type=float, default=3.5e-3,
                   help="ENAS controller Adam rate (10x the paper's 3.5e-4, as --arch-lr is 10x DARTS's)")
    p.add_argument("--controller-steps", type=int, default=50)
    p.add_argument("--derive-samples", type=int, default=100)
    p.add_argument("--rank-cells", type=int, default=300)
    p.add_argument("--methods", default="darts,beta-darts,gdas,spos,darts2")
    p.add_argument("--report-only", action="store_true", help="report the runs saved in --out; run nothing")
    p.add_argument("--out", default="runs/oneshot_benchmark.json")
    args = p.parse_args()
    torch.set_num_threads(1)
    truth, data = Truth(), load_data()
    options = {"arch_lr": args.arch_lr}
    rank_sample = list(np.random.default_rng(0).choice(truth.keys, args.rank_cells, replace=False))
    results, done = resume(args)
    started = time.process_time()
    for seed in range(0 if args.report_only else args.seeds):
        for method in args.methods.split(","):
            if (method == "darts2" and seed >= args.darts2_seeds) or (method, seed) in done:
                continue
            extra = {"beta_lambda": args.beta_lambda} if method == "beta-darts" else {}
            if method == "enas":
                found = {method: enas_method(seed, args.epochs, {"controller_lr": args.controller_lr,
                                                                 "controller_steps": args.controller_steps,
                                                                 "derive_samples": args.derive_samples}, data, truth)}
            elif method == "spos":
                found = spos_method(seed, args.epochs, {}, data, truth, args.spos_trials, rank_sample)
                found = {f"spos+{name}": r for name, r in found.items()}
            else:
                found = {method: gradient_method(method, seed, args.epochs, {**options, **extra}, data, truth)}
            for name, r in found.items():
                r["table_accuracy"] = truth.acc[nb201.canonical(nb201.from_string(r["arch"]))]
                r["percentile"] = truth.percentile(r["table_accuracy"])
                r["seed"] = seed
                results.setdefault(name, []).append(r)
                print(f"seed {seed} {name:>15}: {r['arch']}  table {r['table_accuracy']:.2f}%  "
                      f"(percentile {r['percentile']:.1f})  {r['cpu_seconds']:.0f} CPU-s  "
                      f"[{time.process_time() - started:.0f} CPU-s so far]", flush=True)
            save(args, results)
    report(args, truth, results, rank_sample)


SETTINGS = ("epochs", "arch_lr", "beta_lambda", "spos_trials", "rank_cells")
ENAS_SETTINGS = ("controller_lr", "controller_steps", "derive_samples")  # absent from files made before ENAS


def resume(args):
    """Runs saved in ``args.out`` by an earlier invocation with the same settings (the benchmark
    saves after every run, so a killed one continues), and the (method, seed) pairs they cover."""
    path = Path(args.out)
    if not path.exists():
        return {}, set()
    doc = json.loads(path.read_text())
    if any(doc["args"].get(k) != getattr(args, k) for k in SETTINGS) or \
            any(k in doc["args"] and doc["args"][k] != getattr(args, k) for k in ENAS_SETTINGS):
        raise SystemExit(f"{path} holds runs with other settings; move it away or pass another --out")
    results = doc["runs"]
    done = {(m.split("+")[0], r["seed"]) for m, runs in results.items() for r in runs}
    print(f"resuming: {len(done)} runs read from {path}")
    return results, done


def save(args, results, summary=None):
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(f"{args.out}.tmp")
    tmp.write_text(json.dumps({"args": vars(args), "summary": summary, "runs": results}, indent=1, default=float))
    tmp.replace(args.out)


def report(args, truth, results, rank_sample):
    print(f"\n## Selected cells on the MNIST-1D NB201 table ({len(truth.keys)} unique cells; best "
          f"{truth.sorted[-1]:.2f}%, top 5% from {np.percentile(truth.sorted, 95):.2f}%, median "
          f"{np.median(truth.sorted):.2f}%)\n")
    print("| method | seeds | table val acc % (mean ± 95% CI) | percentile | param-free edges | search CPU-s | "
          "random search, same CPU-s: acc % | percentile |")
    print("|---|---|---|---|---|---|---|---|")
    summary = {}
    for method, runs in results.items():
        acc, ci = mean_ci([r["table_accuracy"] for r in runs])
        pct, pct_ci = mean_ci([r["percentile"] for r in runs])
        cpu = float(np.mean([r["cpu_seconds"] for r in runs]))
        rs = random_search(truth, cpu)
        rs_pct = np.array([truth.percentile(a) for a in rs])
        free = np.mean([r["parameter_free_edges"] for r in runs])
        print(f"| {method} | {len(runs)} | {acc:.2f} ± {ci:.2f} | {pct:.1f} ± {pct_ci:.1f} | {free:.1f} | {cpu:.0f} | "
              f"{rs.mean():.2f} | {rs_pct.mean():.1f} |")
        summary[method] = {"accuracy": acc, "ci": ci, "percentile": pct, "percentile_ci": pct_ci, "cpu_seconds": cpu,
                           "random_accuracy": float(rs.mean()), "random_percentile": float(rs_pct.mean()),
                           "archs": [r["arch"] for r in runs]}
    best = max(summary, key=lambda m: summary[m]["percentile"])
    target = summary[best]["percentile"]
    needed = None
    for budget in np.geomspace(5, 20000, 40):
        if np.mean([truth.percentile(a) for a in random_search(truth, budget, repeats=500, seed=1)]) >= target:
            needed = float(budget)
            break
    print(f"\nBest one-shot method: {best}, mean percentile {target:.1f} in {summary[best]['cpu_seconds']:.0f} CPU-s; "
          f"random search needs about {needed and f'{needed:.0f}'} seconds of standalone training for the same "
          f"mean percentile" + (f" ({needed / summary[best]['cpu_seconds']:.1f}x)" if needed else " (not reached)"))
    if "spos+evolution" in results:
        print(f"\n## SPOS supernet ranking (BN recalibrated) vs table, {len(rank_sample)} uniformly sampled unique cells\n")
        print("| seed | Kendall tau | Spearman rho | Kendall tau, top 20% | Spearman rho, top 20% | CPU-s per cell |")
        print("|---|---|---|---|---|---|")
        for seed, r in enumerate(results["spos+evolution"]):
            rk = ranking(truth, rank_sample, r["scores"])
            r["ranking"] = rk
            print(f"| {seed} | {rk['kendall']:.3f} | {rk['spearman']:.3f} | {rk['kendall_top20']:.3f} | "
                  f"{rk['spearman_top20']:.3f} | {r['eval_cpu_seconds']:.3f} |")
    collapse(results)
    costs(results)
    print("\n## Published NAS-Bench-201 CIFAR-10 test accuracy of the selected cell (for comparison)\n")
    print("| method | CIFAR-10 % |\n|---|---|")
    for name, value in PUBLISHED:
        print(f"| {name} | {value:.2f} |")
    save(args, results, summary)


def collapse(results):
    methods = [m for m in results if not m.startswith("spos")]
    if not methods:
        return
    epochs = len(results[methods[0]][0]["trajectory"])
    shown = sorted({1, *range(5, epochs + 1, 5), epochs})
    print("\n## The derived cell epoch by epoch: parameter-free edges (of 6) / table val acc %, mean over seeds\n")
    print("| method | " + " | ".join(f"ep {e}" for e in shown) + " |")
    print("|---|" + "---|" * len(shown))
    for m in methods:
        cells = []
        for e in shown:
            free = np.mean([r["trajectory"][e - 1][0] for r in results[m]])
            acc = np.mean([r["trajectory"][e - 1][1] for r in results[m]])
            cells.append(f"{free:.1f} / {acc:.1f}")
        print(f"| {m} | " + " | ".join(cells) + " |")


def costs(results):
    print("\n## Cost per supernet epoch (1,000 training samples; one thread)\n")
    print("| method | CPU-s per epoch | activation memory per step (MB) |\n|---|---|---|")
    for m, runs in results.items():
        print(f"| {m} | {np.mean([r['epoch_seconds'] for r in runs]):.2f} | {runs[0]['activation_mb']:.1f} |")


if __name__ == "__main__":
    sys.exit(main())
