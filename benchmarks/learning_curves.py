"""Learning-curve prediction and predictive early stopping, measured on the MNIST-1D NB201 table.

Three parts (each prints a markdown table):

* ``train-pfn``: trains the LC-PFN on synthetic curves from nasforge's own curve prior
  (``estimation/_curve_prior.py``; no table curve is used) and writes the shipped weights
  ``src/nasforge/estimation/data/lc_pfn.pt``.
* ``predict``: every recorded curve of the table (4,930 cells, 5,934 curves) cut after 1, 3
  and 6 of its 12 epochs; each predictor forecasts the epoch-12 value. MAE against the
  curve's own epoch-12 value, Spearman and Kendall (tau-b) over cells between the
  prediction from the cell's first run and the cell's mean epoch-12 value over its runs
  (the ground truth), coverage of the 90% interval, milliseconds per curve, and the choice
  ``auto`` makes with its power law: of random groups of 8 cells, the one predicted best
  (regret of that pick against the group's best by ground truth). Predictors:
  the LC-PFN, the parametric ensemble, the last value seen and ``auto``'s two-point power
  law (``estimation/_curves.py``; epochs standing in for seconds).
* ``search``: random search and regularized evolution on the table (each trial reads one
  recorded run, 12 epochs, simulated clock), without and with the predictive pruner, 20
  seeds. Equal trials: the training time the pruner saves and the regret it adds. Equal
  time: regret at the same simulated budget. Regret = best mean validation accuracy in
  the table minus the mean validation accuracy of the incumbent (the best fully trained
  trial as observed), in accuracy points; 95% intervals over seeds (normal approximation).
  The predictors' forecasts are computed once per distinct partial curve (in batches) and
  shared by all seeds: the same numbers the pruner would compute trial by trial.

    python benchmarks/learning_curves.py train-pfn [--steps 3000]
    python benchmarks/learning_curves.py predict
    python benchmarks/learning_curves.py search [--seeds 20] [--trials 100] [--time-budget 300]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from nasforge import benchmarks, strategies
from nasforge.core import Fidelity, SimulatedClock, TrialStatus
from nasforge.estimation import PredictivePruner, curve_predictor
from nasforge.estimation import _pruning
from nasforge.study import Storage, Study

EPOCHS = 12
SEEN = (1, 3, 6)
GROUP = 8  # candidates per choice, as at the top rung of auto's ASHA search
PREDICTORS = ("pfn", "parametric", "power-law", "last")


def spearman(a, b) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def kendall(a, b) -> float:
    """Kendall's tau-b (ties in either ranking allowed), O(n^2) in row blocks."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    conc = ties_a = ties_b = 0.0
    for i in range(0, len(a), 512):
        da = np.sign(a[i:i + 512, None] - a[None, :])
        db = np.sign(b[i:i + 512, None] - b[None, :])
        conc += (da * db).sum()
        ties_a += (da == 0).sum()
        ties_b += (db == 0).sum()
    n2 = len(a) * len(a)
    return float(conc / np.sqrt((n2 - ties_a) * (n2 - ties_b)))


def table_curves():
    """(curves ``(N, 12)``, cell index per curve, mean epoch-12 value per cell, cell keys)."""
    bench = benchmarks.get("mnist1d-nb201")
    keys = list(bench.table)
    curves, cell = [], []
    for i, key in enumerate(keys):
        for c in bench.table[key]["curves"]:
            curves.append(c)
            cell.append(i)
    curves, cell = np.array(curves, float), np.array(cell)
    truth = np.array([np.mean([c[-1] for c in bench.table[k]["curves"]]) for k in keys])
    return curves, cell, truth, keys


def cmd_train(args) -> None:
    from nasforge.estimation._lc_pfn import WEIGHTS, save_pfn, train_pfn

    start = time.perf_counter()
    model = train_pfn(steps=args.steps, seed=args.seed, log=print)
    save_pfn(model, WEIGHTS)
    print(f"trained {sum(p.numel() for p in model.parameters())} parameters in {time.perf_counter() - start:.0f}s; "
          f"wrote {WEIGHTS} ({WEIGHTS.stat().st_size / 1024:.0f} KiB)")


def cmd_predict(args) -> None:
    curves, cell, truth, _ = table_curves()
    final = curves[:, -1]
    first = np.array([np.flatnonzero(cell == i)[0] for i in range(len(truth))])  # each cell's first run
    print(f"{len(truth)} cells, {len(curves)} curves of {EPOCHS} epochs; ground truth for ranks: the cell's "
          f"mean epoch-{EPOCHS} validation accuracy\n")
    groups = np.random.default_rng(0).permutation(len(truth))[:len(truth) // GROUP * GROUP].reshape(-1, GROUP)
    print("| predictor | epochs seen | MAE (points) | Spearman | Kendall | 90% interval covers | "
          f"regret of the pick of {GROUP} (points) | ms per curve |")
    print("|---|---|---|---|---|---|---|---|")
    for seen in SEEN:
        for name in args.predictors.split(","):
            predictor = curve_predictor(name)
            start = time.perf_counter()
            forecast = predictor.predict(curves[:, :seen], EPOCHS)
            ms = (time.perf_counter() - start) * 1000 / len(curves)
            mean = forecast.mean
            mae = 100 * np.abs(mean - final).mean()
            cover = "-"
            if name in ("pfn", "parametric"):
                inside = (final >= forecast.quantile(0.05)) & (final <= forecast.quantile(0.95))
                cover = f"{inside.mean():.2f}"
            picked = groups[np.arange(len(groups)), np.argmax(mean[first][groups], axis=1)]
            pick_regret = 100 * (truth[groups].max(axis=1) - truth[picked]).mean()
            print(f"| {name} | {seen} | {mae:.2f} | {spearman(mean[first], truth):.3f} | "
                  f"{kendall(mean[first], truth):.3f} | {cover} | {pick_regret:.2f} | {ms:.2f} |", flush=True)


class Cached:
    """A predictor whose forecasts were computed beforehand, in batches, for every partial curve."""

    def __init__(self, name: str, curves: np.ndarray):
        self.name, self.memo = name, {}
        predictor = curve_predictor(name)
        self.min_points = getattr(predictor, "min_points", 1)
        for seen in range(self.min_points, EPOCHS):
            prefixes = np.unique(curves[:, :seen], axis=0)
            probs = predictor.predict(prefixes, EPOCHS).probs
            self.memo.update({tuple(p): row for p, row in zip(prefixes, probs.astype(np.float32))})

    def predict(self, curves, horizon):
        from nasforge.estimation import Forecast

        return Forecast(np.stack([self.memo[tuple(np.asarray(c, float))] for c in curves]))


def run_search(bench, strategy: str, seed: int, pruner, folder: Path, trials=None, time_budget=None):
    """(simulated seconds, [(status, arch key, observed val)] in order) of one search."""
    storage = Storage.create(folder / f"{strategy}-{seed}-{id(pruner)}-{trials}-{time_budget}.db", {})
    study = Study(storage, strategies.get(strategy, bench.space, seed=seed), bench.fresh(), Fidelity(epochs=EPOCHS),
                  seed, clock=SimulatedClock(), pruner=pruner)
    study.optimize(n_trials=trials, time_budget=time_budget)
    history = [(t.status, bench.key(t.arch), t.metrics.get("val_accuracy"), t.duration_s) for t in study.trials]
    elapsed = study.elapsed()
    storage.close()
    return elapsed, history


def regret(history, means: dict, best: float) -> float:
    """Regret (points) of the best fully trained trial as observed."""
    done = [(val, key) for status, key, val, _ in history if status == TrialStatus.OK]
    if not done:
        return float("nan")
    return best - means[max(done)[1]]


def ci(values) -> str:
    values = np.asarray(values, float)
    return f"{values.mean():.2f} ± {1.96 * values.std(ddof=1) / np.sqrt(len(values)):.2f}"


def cmd_search(args) -> None:
    bench = benchmarks.get("mnist1d-nb201")
    means = bench.means()
    best = max(means.values())
    curves, *_ = table_curves()
    start = time.perf_counter()
    for name in args.predictors.split(","):
        _pruning._LOADED[name] = Cached(name, curves)
    print(f"forecasts of every partial curve precomputed in {time.perf_counter() - start:.0f}s")
    configs = [("none", None)] + [(f"{n} @ {args.threshold:g}", PredictivePruner(args.threshold, n))
                                  for n in args.predictors.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        print(f"\nEqual trials ({args.trials} per search, {args.seeds} seeds): simulated training time and regret\n")
        print("| strategy | pruner | trials pruned | training time (s) | time saved | regret (points) | "
              "regret added |")
        print("|---|---|---|---|---|---|---|")
        for strategy in args.strategies.split(","):
            base_t, base_r = None, None
            for label, pruner in configs:
                runs = [run_search(bench, strategy, s, pruner, Path(tmp), trials=args.trials)
                        for s in range(args.seeds)]
                t = np.array([r[0] for r in runs])
                r = np.array([regret(h, means, best) for _, h in runs])
                pruned = np.mean([np.mean([s == TrialStatus.PRUNED for s, *_ in h]) for _, h in runs])
                if base_t is None:
                    base_t, base_r = t, r
                saved = "-" if pruner is None else ci(100 * (1 - t / base_t)) + " %"
                added = "-" if pruner is None else ci(r - base_r)
                print(f"| {strategy} | {label} | {pruned:.0%} | {ci(t)} | {saved} | {ci(r)} | {added} |", flush=True)
        fractions = (0.25, 0.5, 1.0)
        print(f"\nEqual simulated time ({args.time_budget:g} s per search, {args.seeds} seeds): regret (points) "
              "after a fraction of it\n")
        print("| strategy | pruner | trials | " + " | ".join(f"regret at {f:g}" for f in fractions) + " |")
        print("|---|---|---|" + "---|" * len(fractions))
        for strategy in args.strategies.split(","):
            for label, pruner in configs:
                runs = [run_search(bench, strategy, s, pruner, Path(tmp), time_budget=args.time_budget)
                        for s in range(args.seeds)]
                cells = []
                for f in fractions:
                    values = []
                    for _, h in runs:
                        spent, upto = 0.0, []
                        for row in h:
                            spent += row[3]
                            if spent > f * args.time_budget + 1e-9:
                                break
                            upto.append(row)
                        values.append(regret(upto, means, best))
                    cells.append(ci(values))
                n = np.mean([len(h) for _, h in runs])
                print(f"| {strategy} | {label} | {n:.0f} | " + " | ".join(cells) + " |", flush=True)


def main() -> None:
    torch.set_num_threads(1)
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train-pfn")
    t.add_argument("--steps", type=int, default=3000)
    t.add_argument("--seed", type=int, default=0)
    p = sub.add_parser("predict")
    p.add_argument("--predictors", default=",".join(PREDICTORS))
    s = sub.add_parser("search")
    s.add_argument("--seeds", type=int, default=20)
    s.add_argument("--trials", type=int, default=100)
    s.add_argument("--time-budget", type=float, default=300.0)
    s.add_argument("--threshold", type=float, default=0.05)
    s.add_argument("--strategies", default="random,evolution")
    s.add_argument("--predictors", default="pfn,parametric")
    args = parser.parse_args()
    {"train-pfn": cmd_train, "predict": cmd_predict, "search": cmd_search}[args.command](args)


if __name__ == "__main__":
    main()
