"""Zero-cost proxies measured on nasforge's MNIST-1D NB201 table, and search warm-started by one.

Part 1 (always): every proxy of ``nasforge.proxies`` is computed for a seeded random sample
of the table's cells (``--cells 1000``, or ``--cells all`` for all 4,930) on the table's own
setting: NB201 with 16 channels and one cell per stage, 1-D, a batch of 64 MNIST-1D training
samples (the data ``benchmarks/mnist1d_nb201.py`` trains on), each network initialised by
``proxies.build_seed``. Printed: each proxy's Spearman and Kendall rank correlation with the
table's mean final validation accuracy (and Spearman with the mean test accuracy), over all
scored cells and over the top 20% of them by validation accuracy, with seconds per cell on
this CPU, beside the NB201 CIFAR-10 values Abdelfattah et al. (ICLR 2021) and Mellor et al.
(ICML 2021) publish. Then learned combinations of the proxies (ridge regression and gradient-
boosted trees on rank-normalised proxy scores), 5-fold cross-validated so every reported
correlation is out of sample.

Part 2 (``--search-seeds N``): the same strategy with and without ``--proxy-warm-start``
through nasforge's own study loop on the table (``SearchSpec(benchmark="mnist1d-nb201",
proxy_warm_start=...)``): the warm start scores its sample for real on every seed and its
seconds are on the study's clock before the first trial. Regret of the incumbent (mean
validation accuracy of the best observed architecture so far) at points of simulated time.

    python benchmarks/zero_cost_proxies.py                     # 1,000 cells, all proxies
    python benchmarks/zero_cost_proxies.py --cells all --cache /tmp/scores.jsonl
    python benchmarks/zero_cost_proxies.py --search-seeds 20 --warm-proxy synflow

The scores are cached (``--cache``, default under /tmp), one JSON object per line::

    {"key": <table key: canonical cell>, "arch": <Arch JSON>, "seed": 0, "batch_size": 64,
     "scores": {"synflow": 1.2e9, "naswot": 512.3, ...}, "seconds": {"synflow": 0.03, ...},
     "cpu_seconds": {"synflow": 0.02, ...}}

``scores`` may hold ``-Infinity`` (Python's json reads it): naswot and jacob_cov of a network
that cannot tell inputs apart. ``seconds`` (wall clock) and ``cpu_seconds`` (this process's CPU
time, one torch thread: the cost on an idle core) include building the network. A rerun reuses every
line whose seed and batch size match, so an interrupted run resumes and other benchmarks can
read the scores without recomputing them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from nasforge import proxies
from nasforge.benchmarks._mnist1d import load_table
from nasforge.spaces import NB201Space, nb201

sys.path.insert(0, str(Path(__file__).parent))
from mnist1d_nb201 import make_estimator  # noqa: E402  (the table's own data and space setting)

# NB201 CIFAR-10, Abdelfattah et al. ICLR 2021 (Spearman, all cells); NASWOT: Mellor et al. ICML 2021 (Kendall)
PUBLISHED_SPEARMAN = {"jacob_cov": "0.73-0.75", "synflow": "0.74", "snip": "0.60", "grad_norm": "0.59",
                      "grasp": "0.51", "fisher": "0.36", "params": "0.69", "flops": "0.66"}
PUBLISHED_KENDALL = {"naswot": "0.57"}
TOP = 0.2
FOLDS = 5
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "nasforge-proxies" / "mnist1d_nb201.jsonl"


def load_cache(path: Path, seed: int, batch_size: int) -> dict[str, dict]:
    rows = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                row = json.loads(line)
                if row["seed"] == seed and row["batch_size"] == batch_size:
                    rows[row["key"]] = row  # a later line (more proxies) replaces an earlier one
    return rows


def score_cells(cells, space, batch, names, seed, cache: Path, have: dict) -> dict[str, dict]:
    """Scores of every cell (from the cache where it has them), appending new ones to the cache."""
    cache.parent.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    todo = [c for c in cells if nb201.canonical(c) not in have or set(names) - set(have[nb201.canonical(c)]["scores"])]
    with open(cache, "a") as out:
        for i, arch in enumerate(todo):
            key = nb201.canonical(arch)
            old = have.get(key, {"scores": {}, "seconds": {}, "cpu_seconds": {}})
            missing = [n for n in names if n not in old["scores"]]
            row = proxies.score_archs(space, [arch], batch, 10, missing, seed).rows[0]
            have[key] = {"key": key, "arch": arch.to_json(), "seed": seed, "batch_size": len(batch[1]),
                         "scores": {**old["scores"], **row.scores}, "seconds": {**old["seconds"], **row.seconds},
                         "cpu_seconds": {**old.get("cpu_seconds", {}), **row.cpu_seconds}}
            out.write(json.dumps(have[key]) + "\n")
            out.flush()
            if sys.stderr.isatty():
                rate = (time.perf_counter() - start) / (i + 1)
                print(f"\r\033[Kscored {i + 1}/{len(todo)} cells, {rate:.2f} s/cell", end="", file=sys.stderr)
    if sys.stderr.isatty():
        print("\r\033[K", end="", file=sys.stderr)
    return {nb201.canonical(c): have[nb201.canonical(c)] for c in cells}


def correlations(score, truth, top_mask):
    from scipy.stats import kendalltau, spearmanr

    score, truth = np.asarray(score, dtype=float), np.asarray(truth, dtype=float)
    return (spearmanr(score, truth)[0], kendalltau(score, truth)[0],
            spearmanr(score[top_mask], truth[top_mask])[0], kendalltau(score[top_mask], truth[top_mask])[0])


def rank_features(rows, names) -> np.ndarray:
    """Each proxy's scores as ranks in [0, 1] over the scored cells (ties averaged; -inf lowest)."""
    return np.stack([(proxies._correlation.ranks([r["scores"][n] for r in rows]) - 1) / (len(rows) - 1)
                     for n in names], axis=1)


def cross_validated(model_name: str, x: np.ndarray, y: np.ndarray, seed: int) -> np.ndarray:
    """Out-of-fold predictions of ``y`` (each cell predicted by a model that never saw it)."""
    folds = np.random.default_rng(seed).permutation(len(y)) % FOLDS
    pred = np.empty(len(y))
    for k in range(FOLDS):
        train, test = folds != k, folds == k
        if model_name == "ridge":
            xt = np.hstack([x[train], np.ones((train.sum(), 1))])
            w = np.linalg.solve(xt.T @ xt + 1.0 * np.eye(xt.shape[1]), xt.T @ y[train])
            pred[test] = np.hstack([x[test], np.ones((test.sum(), 1))]) @ w
        else:
            from sklearn.ensemble import GradientBoostingRegressor

            gbr = GradientBoostingRegressor(n_estimators=200, max_depth=3, learning_rate=0.05, subsample=0.8,
                                            random_state=seed)
            pred[test] = gbr.fit(x[train], y[train]).predict(x[test])
    return pred


def fmt(v: float) -> str:
    return "  nan" if v != v else f"{v:5.2f}"


def report_proxies(rows, names, val, test):
    top_mask = val >= np.quantile(val, 1 - TOP)
    print(f"\n{len(rows)} cells; top 20% = {top_mask.sum()} cells with mean validation accuracy >= "
          f"{np.quantile(val, 1 - TOP):.2f}%")
    header = ("proxy      | Spearman val | Kendall val | Spearman test | top20% Spearman | top20% Kendall | "
              "wall s/cell | CPU s/cell | published NB201 C-10")
    print(header)
    print("-" * len(header))
    results = {}
    for n in names:
        score = [r["scores"][n] for r in rows]
        sp, kt, sp_top, kt_top = correlations(score, val, top_mask)
        sp_test = correlations(score, test, top_mask)[0]
        secs = float(np.mean([r["seconds"][n] for r in rows]))
        cpu = float(np.mean([r["cpu_seconds"][n] for r in rows]))
        published = (f"Spearman {PUBLISHED_SPEARMAN[n]}" if n in PUBLISHED_SPEARMAN else
                     f"Kendall {PUBLISHED_KENDALL[n]}" if n in PUBLISHED_KENDALL else "-")
        results[n] = (sp, cpu)
        print(f"{n:<10} | {fmt(sp):>12} | {fmt(kt):>11} | {fmt(sp_test):>13} | {fmt(sp_top):>15} | "
              f"{fmt(kt_top):>14} | {secs:11.3f} | {cpu:10.3f} | {published}")
    return results, top_mask


def report_references(records, val, test, top_mask):
    """What the same cells offer without proxies, measured in this run: the seed-noise ceiling
    (one training run against another) and short trainings (the validation accuracy after e
    epochs of the first recorded run, at e/12 of its training seconds)."""
    print("\nReferences on the same cells (no proxy): short training and the seed-noise ceiling")
    header = "reference            | cells | Spearman val | Kendall val | Spearman test | top20% Spearman | s/cell"
    print(header)
    print("-" * len(header))
    epochs = len(records[0]["curves"][0])
    for e in (1, 3):
        score = [r["curves"][0][e - 1] for r in records]
        secs = float(np.mean([r["train_seconds"][0] * e / epochs for r in records]))
        sp, kt, sp_top, _ = correlations(score, val, top_mask)
        print(f"{f'val acc @ {e} epoch(s)':<20} | {len(records):5d} | {fmt(sp):>12} | {fmt(kt):>11} | "
              f"{fmt(correlations(score, test, top_mask)[0]):>13} | {fmt(sp_top):>15} | {secs:6.2f}")
    twice = [i for i, r in enumerate(records) if len(r["curves"]) > 1]
    if len(twice) > 10:
        first = np.array([records[i]["curves"][0][-1] for i in twice])
        second = np.array([records[i]["curves"][1][-1] for i in twice])
        top = second >= np.quantile(second, 1 - TOP)
        sp, kt, sp_top, _ = correlations(first, second, top)
        print(f"{'run 1 vs run 2':<20} | {len(twice):5d} | {fmt(sp):>12} | {fmt(kt):>11} | {'-':>13} | "
              f"{fmt(sp_top):>15} | {np.mean([records[i]['train_seconds'][0] for i in twice]):6.2f}")


def report_combinations(rows, sets, val, test, top_mask, seed):
    print(f"\nLearned combinations ({FOLDS}-fold cross-validated; features: rank-normalised proxy scores; "
          "target: rank of mean validation accuracy)")
    header = "model              | proxies | Spearman val | Kendall val | Spearman test | top20% Spearman | CPU s/cell"
    print(header)
    print("-" * len(header))
    target = (proxies._correlation.ranks(val) - 1) / (len(val) - 1)
    for label, names in sets.items():
        x = rank_features(rows, names)
        secs = float(np.mean([sum(r["cpu_seconds"][n] for n in names) for r in rows]))
        for model in ("ridge", "boosted trees"):
            pred = cross_validated(model, x, target, seed)
            sp, kt, sp_top, _ = correlations(pred, val, top_mask)
            print(f"{model + ' ' + label:<18} | {len(names):7d} | {fmt(sp):>12} | {fmt(kt):>11} | "
                  f"{fmt(correlations(pred, test, top_mask)[0]):>13} | {fmt(sp_top):>15} | {secs:10.3f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", default="1000",
                        help="cells to score: a number (a seeded sample; 0 skips part 1) or 'all'")
    parser.add_argument("--proxy", action="append", help="proxies (repeatable; default all)")
    parser.add_argument("--seed", type=int, default=0, help="seed of the sample, batch and initialisations")
    parser.add_argument("--batch-size", type=int, default=proxies.DEFAULT_BATCH)
    parser.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help=f"score cache (default {DEFAULT_CACHE})")
    parser.add_argument("--fast", default="synflow,naswot,jacob_cov,params,flops",
                        help="the cheaper proxy set also combined on its own")
    parser.add_argument("--search-seeds", type=int, default=0, help="part 2: seeds per search configuration")
    parser.add_argument("--search-strategies", default="random,evolution")
    parser.add_argument("--warm-proxy", default="synflow", help="part 2: the warm start's proxy")
    parser.add_argument("--warm-n", type=int, default=100, help="part 2: architectures the warm start scores")
    parser.add_argument("--warm-top", type=int, default=10, help="part 2: how many of them run first")
    parser.add_argument("--time-budget", type=float, default=600.0, help="part 2: simulated seconds per search")
    args = parser.parse_args()
    torch.set_num_threads(1)

    if args.cells == "0":
        return warm_search(args)
    doc = load_table()
    meta, table = doc["meta"], doc["cells"]
    space = NB201Space(**meta["space_options"])
    dataset = make_estimator().dataset
    batch = proxies.batch_from(dataset, args.batch_size, args.seed)
    names = args.proxy or proxies.names()
    cells = [a for a in nb201.unique_archs() if nb201.canonical(a) in table]
    order = np.random.default_rng(args.seed).permutation(len(cells))
    if args.cells != "all":
        order = order[: int(args.cells)]
    # scored in this seeded order ('all' too): any prefix of a run, an interrupted one included, is a random
    # sample, and the first N cells of 'all' are exactly the '--cells N' sample, so its cache lines are reused
    cells = [cells[i] for i in order]
    have = load_cache(args.cache, args.seed, args.batch_size)
    print(f"MNIST-1D NB201 table: {len(table)} cells; scoring {len(cells)} ({args.cells}) with {', '.join(names)}; "
          f"batch {args.batch_size}, seed {args.seed}; cache {args.cache} ({len(have)} cells cached)")
    start = time.perf_counter()
    scored = score_cells(cells, space, batch, names, args.seed, args.cache, have)
    print(f"scoring took {time.perf_counter() - start:.0f} s of wall time here (cached cells are free)")
    keys = list(scored)
    rows = [scored[k] for k in keys]
    val = np.array([100 * np.mean([c[-1] for c in table[k]["curves"]]) for k in keys])
    test = np.array([100 * np.mean(table[k]["test_accuracy"]) for k in keys])
    results, top_mask = report_proxies(rows, names, val, test)
    report_references([table[k] for k in keys], val, test, top_mask)
    fast = [n for n in args.fast.split(",") if n in names]
    sets = {"all": names, **({"fast": fast} if fast and set(fast) != set(names) else {})}
    report_combinations(rows, sets, val, test, top_mask, args.seed)
    if args.search_seeds:
        warm_search(args)


def warm_search(args) -> None:
    """Part 2: each strategy with and without the proxy warm start, regret vs simulated time."""
    from strategies import mean_ci

    from nasforge import benchmarks
    from nasforge.api import SearchSpec, open_study

    bench = benchmarks.get("mnist1d-nb201")
    val = bench.means("val_accuracy")
    best = max(val.values())
    fractions = [1 / 16, 1 / 8, 1 / 4, 1 / 2, 1]
    points = [args.time_budget * f for f in fractions]
    print(f"\nSearch on the table, {args.search_seeds} seeds, {args.time_budget:g} simulated seconds each "
          f"(proxy seconds included); warm start: {args.warm_n} architectures scored with {args.warm_proxy}, "
          f"best {args.warm_top} run first. Validation regret (points, mean ± 95% CI) of the incumbent at:")
    header = "strategy               | " + " | ".join(f"@{p:>5.0f}s      " for p in points) + " | proxy s"
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory(dir="/dev/shm" if os.access("/dev/shm", os.W_OK) else None) as tmp:
        for name in args.search_strategies.split(","):
            for warm in (0, args.warm_n):
                regrets, proxy_s = [], []
                for seed in range(args.search_seeds):
                    spec = SearchSpec(benchmark="mnist1d-nb201", strategy=name, seed=seed, epochs=12,
                                      proxy_warm_start=warm, proxy=args.warm_proxy, proxy_top=args.warm_top)
                    study = open_study(Path(tmp) / f"{name}-{warm}-{seed}.db", spec)
                    study.optimize(time_budget=args.time_budget)
                    origin = study.storage.meta().get("proxy_warm_start", {}).get("seconds", 0.0)
                    proxy_s.append(origin)
                    regrets.append(regret_at(study.storage.trials(), bench, val, best, origin, points))
                    study.close()
                regrets = np.array(regrets)
                label = f"{name} + warm start" if warm else name
                print(f"{label:<22} | " + " | ".join(f"{mean_ci(regrets[:, i]):<13}" for i in range(len(points)))
                      + f" | {np.mean(proxy_s):7.1f}", flush=True)


def regret_at(trials, bench, val, best, origin, points):
    """Regret of the best observed architecture at each simulated time (a random pick before any)."""
    clock, incumbent, observed, history = origin, None, -np.inf, []
    for t in trials:
        if t.status != "ok":
            continue
        clock += t.duration_s or 0.0
        if t.objective > observed:
            observed, incumbent = t.objective, bench.key(t.arch)
        history.append((clock, incumbent))
    no_result = float(np.mean(list(val.values())))
    out = []
    for p in points:
        current = [k for c, k in history if c <= p]
        out.append(best - (val[current[-1]] if current else no_result))
    return out


if __name__ == "__main__":
    main()
