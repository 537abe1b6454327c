"""Surrogate predictors compared: rank correlation on held-out architectures vs the number of
training architectures (the protocol of White et al. 2021, "How powerful are performance
predictors in neural architecture search?").

For every benchmark table, seed and training size n, the script draws one held-out set of
``--test-size`` architectures and nested training sets of n others (the same held-out set for
every n and family of a seed), fits each predictor family of :mod:`nasforge.predictors` on the
training architectures' encodings (``space.encode``) and scores, and reports Kendall tau and
Spearman rho between its predicted mean and the true score on the held-out set: mean and 95%
confidence interval (Student t) over seeds. Targets are fitted as Gaussian rank scores
(``predictors.gaussian_ranks``), as BANANAS and GP-BO fit them.

Feature variants: ``enc`` (the encoding only), ``enc+cost`` (plus parameters and FLOPs as
extra feature columns) and, with ``--proxy-cache``, ``enc+cost+zc`` (plus every zero-cost proxy
score in the cache). The in-run reference needs no training at all: the rank correlation of
each feature alone (parameters, FLOPs, each proxy) with the score on the same held-out sets.

Tables (ground truth = the score predicted):

* ``nb201``: NAS-Bench-201 CIFAR-10, all 15,625 cells, mean validation accuracy over seeds
  (``../shared/data/nb201_cifar10_avg.csv``). The CSV has no parameter or FLOP counts: they
  are counted here by building nasforge's NB201 network (C=16, N=5, 3x32x32 input, 10 classes)
  once per distinct pair (live 3x3 convs, live 1x1 convs), which determines both.
* ``macro``: NAS-Bench-Macro CIFAR-10, 6,561 networks, mean test accuracy of 3 runs (the
  benchmark records no validation accuracy), params and FLOPs from the table.
* ``mnist1d``: nasforge's MNIST-1D NB201 table, 4,930 unique cells, mean final validation
  accuracy over runs, params and FLOPs from the table.

``--proxy-cache PATH``: a JSON object ``{arch key: {proxy name: score}}``, or the JSON-lines cache
of ``benchmarks/zero_cost_proxies.py`` (``{"key": ..., "scores": {...}}`` per line). Keys are the
benchmark's own keys (an NB201 arch string ``|op~0|+...`` for ``nb201`` and ``mnist1d`` — it is
canonicalised for the latter —, or the canonical key of the MNIST-1D table, or the 8-digit key
of NAS-Bench-Macro). A benchmark uses the cache when it scores at least test size + largest
training size of its architectures, and is then restricted to those (a partial cache should be
a random sample of the table). Proxies named like a cost feature (params, flops) are not added
twice.

    nice -n 10 python benchmarks/predictors.py [--seeds 5] [--sizes 10,25,50,100,200,500]
        [--benchmarks nb201,macro,mnist1d] [--families mlp-ensemble,gp,gbt,proxy-features]
        [--test-size 1000] [--proxy-cache proxies.json] [--json results.json]
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nasforge import predictors
from nasforge.core import NasforgeError
from nasforge.predictors import gaussian_ranks, kendall_tau, single_threaded_blas, spearman

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SIZES = (10, 25, 50, 100, 200, 500)
FAMILIES = ("mlp-ensemble", "gp", "gbt", "proxy-features")
# two-sided 95% Student t quantiles by degrees of freedom (1..10), else the normal's
T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}


@dataclass
class Table:
    name: str
    keys: list[str]
    x: np.ndarray  # encodings, one row per architecture
    y: np.ndarray  # the score to predict
    truth: str
    features: dict[str, np.ndarray] = field(default_factory=dict)  # name -> one value per architecture
    notes: list[str] = field(default_factory=list)  # printed under the tables

    def subset(self, rows: np.ndarray) -> Table:
        return Table(self.name, [self.keys[i] for i in rows], self.x[rows], self.y[rows], self.truth,
                     {k: v[rows] for k, v in self.features.items()}, self.notes)


# -- tables ---------------------------------------------------------------------------------------

def nb201_costs(archs) -> tuple[np.ndarray, np.ndarray]:
    """Parameters and FLOPs of nasforge's NB201 CIFAR-10 network for every arch, built once per
    (live 3x3 convs, live 1x1 convs) pair, which fixes both (checked on a few archs)."""
    import torch

    from nasforge.estimation import count_flops, count_params
    from nasforge.spaces import NB201Space, nb201

    torch.set_num_threads(1)
    space = NB201Space()

    def live_convs(arch):
        ops = [arch[f"{i}->{j}"] for i, j in nb201.cell_live_edges(arch.decisions)]
        return ops.count("nor_conv_3x3"), ops.count("nor_conv_1x1")

    def measure(arch):
        model = space.build(arch, (3, 32, 32), 10)
        return count_params(model), count_flops(model, (3, 32, 32))

    groups = [live_convs(a) for a in archs]
    cost = {}
    for arch, group in zip(archs, groups):
        if group not in cost:
            cost[group] = measure(arch)
    for i in np.random.default_rng(0).choice(len(archs), 3, replace=False):  # the grouping is exact
        assert measure(archs[i]) == cost[groups[i]], archs[i]
    return (np.array([cost[g][0] for g in groups], dtype=float), np.array([cost[g][1] for g in groups], dtype=float))


def load_nb201(path: Path) -> Table:
    from nasforge.spaces import NB201Space, nb201

    space = NB201Space()
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    archs = [nb201.from_string(r["arch_str"]) for r in rows]
    params, flops = nb201_costs(archs)
    return Table("nb201", [r["arch_str"] for r in rows], np.stack([space.encode(a) for a in archs]).astype(float),
                 np.array([float(r["valid-accuracy"]) for r in rows]), "mean validation accuracy (NB201 CIFAR-10)",
                 {"params": params, "flops": flops})


def load_macro(path: Path) -> Table:
    from nasforge.core import Arch
    from nasforge.spaces import NASBenchMacroSpace
    from nasforge.spaces._nasbench_macro import CHOICES, LAYERS

    space = NASBenchMacroSpace()
    raw = json.loads(path.read_text())
    keys = sorted(raw)
    x = np.stack([space.encode(Arch(space.name, {f"layer{i}": CHOICES[int(c)] for i, c in enumerate(k)}))
                  for k in keys]).astype(float)
    assert all(len(k) == LAYERS for k in keys)
    return Table("macro", keys, x, np.array([raw[k]["mean_acc"] for k in keys]),
                 "mean test accuracy of 3 runs (NAS-Bench-Macro CIFAR-10)",
                 {"params": np.array([float(raw[k]["params"]) for k in keys]),
                  "flops": np.array([float(raw[k]["flops"]) for k in keys])})


def load_mnist1d() -> Table:
    from nasforge.benchmarks._mnist1d import load_table
    from nasforge.spaces import NB201Space, nb201

    doc = load_table()
    space = NB201Space(**doc["meta"]["space_options"])
    keys = sorted(doc["cells"])
    cells = [doc["cells"][k] for k in keys]
    x = np.stack([space.encode(nb201.from_string(c["arch"])) for c in cells]).astype(float)
    y = np.array([np.mean([curve[-1] for curve in c["curves"]]) for c in cells]) * 100.0
    twice = [c for c in cells if len(c["curves"]) >= 2]
    first, second = (np.array([c["curves"][r][-1] for c in twice]) for r in (0, 1))
    ceiling = (f"seed-noise reference: on the {len(twice)} cells trained twice, the second run ranks the first with "
               f"Kendall {kendall_tau(first, second):.3f}, Spearman {spearman(first, second):.3f}")
    return Table("mnist1d", keys, x, y, "mean final (12-epoch) validation accuracy (MNIST-1D NB201)",
                 {"params": np.array([float(c["params"]) for c in cells]),
                  "flops": np.array([float(c["flops"]) for c in cells])}, [ceiling])


def read_proxy_cache(path: Path) -> dict[str, dict[str, float]]:
    """``{arch key: {proxy: score}}`` from a JSON object of that shape, or from JSON lines with
    ``"key"`` and ``"scores"`` (the cache of ``benchmarks/zero_cost_proxies.py``; a later line
    for the same key replaces an earlier one)."""
    text = path.read_text()
    try:
        doc = json.loads(text)
    except json.JSONDecodeError:
        doc = None
    if isinstance(doc, dict) and "key" not in doc:
        return doc
    out = {}
    for line in text.splitlines():
        try:
            row = json.loads(line)
        except json.JSONDecodeError:  # a line still being written by a running scorer
            continue
        out[row["key"]] = row["scores"]
    return out


def add_proxies(table: Table, cache: dict, needed: int) -> Table | None:
    """The table with one feature column per proxy in ``cache`` (prefixed ``zc:``; proxies named
    like a cost feature already there are left out), restricted to the architectures the cache
    scores; None when fewer than ``needed`` are scored. A score of -inf/+inf (e.g. NASWOT of a
    network that cannot tell inputs apart) becomes the proxy's lowest/highest finite score."""
    from nasforge.spaces import nb201

    def own_key(key: str) -> str:
        if table.name == "mnist1d" and key.startswith("|"):
            return nb201.canonical(nb201.from_string(key))
        return key

    scores = {own_key(k): v for k, v in cache.items()}
    names = sorted({p for v in scores.values() for p in v} - set(table.features))
    rows = np.array([i for i, k in enumerate(table.keys)
                     if k in scores and all(not np.isnan(float(scores[k].get(p, np.nan))) for p in names)], dtype=int)
    if not names or len(rows) < needed:
        return None
    out = table.subset(rows)
    for p in names:
        values = np.array([float(scores[k][p]) for k in out.keys])
        finite = values[np.isfinite(values)]
        if finite.size == 0:
            continue
        out.features[f"zc:{p}"] = np.clip(values, finite.min(), finite.max())
    return out


# -- the measurement ------------------------------------------------------------------------------

def variants(table: Table) -> dict[str, list[str]]:
    cost = ["params", "flops"]
    out = {"enc": [], "enc+cost": cost}
    zc = sorted(f for f in table.features if f.startswith("zc:"))
    if zc:
        out["enc+cost+zc"] = cost + zc
    return out


def design(table: Table, rows: np.ndarray, features: list[str]) -> np.ndarray:
    return np.hstack([table.x[rows]] + [table.features[f][rows, None] for f in features])


def measure(table: Table, families, sizes, seeds: int, test_size: int, log) -> tuple[list[dict], list[dict]]:
    """(predictor rows, reference rows): one dict per (family, variant, n, seed) and per (feature, seed)."""
    results, references = [], []
    for seed in range(seeds):
        perm = np.random.default_rng(seed).permutation(len(table.y))
        test, pool = perm[:test_size], perm[test_size:]
        for f, values in table.features.items():
            references.append({"feature": f, "seed": seed, "kendall": kendall_tau(values[test], table.y[test]),
                               "spearman": spearman(values[test], table.y[test])})
        for n in sizes:
            train = pool[:n]
            y = gaussian_ranks(table.y[train])
            for family in families:
                for variant, feats in variants(table).items():
                    if family == "proxy-features" and not feats:
                        continue
                    model = predictors.get(family, seed=seed, features=len(feats))
                    start = time.perf_counter()
                    mean, _ = model.fit(design(table, train, feats), y).predict(design(table, test, feats))
                    seconds = time.perf_counter() - start
                    results.append({"family": family, "variant": variant, "n": n, "seed": seed, "seconds": seconds,
                                    "kendall": kendall_tau(mean, table.y[test]),
                                    "spearman": spearman(mean, table.y[test])})
            log(f"{table.name}: seed {seed} n={n} done")
    return results, references


def mean_ci(values) -> tuple[float, float]:
    values = np.asarray(values, dtype=float)
    if len(values) < 2:
        return float(values.mean()), float("nan")
    half = T975.get(len(values) - 1, 1.96) * values.std(ddof=1) / np.sqrt(len(values))
    return float(values.mean()), float(half)


def fmt(values) -> str:
    m, h = mean_ci(values)
    return f"{m:.3f}" if np.isnan(h) else f"{m:.3f} ± {h:.3f}"


def report(table: Table, results, references, sizes, metric: str) -> str:
    lines = [f"### {table.name}: {metric} on held-out architectures ({table.truth}; "
             f"{len(table.y)} architectures)", "",
             "| predictor | features | " + " | ".join(f"n={n}" for n in sizes) + " | s/fit (n=max) |",
             "|---|---|" + "---|" * (len(sizes) + 1)]
    combos = dict.fromkeys((r["family"], r["variant"]) for r in results)
    for family, variant in combos:
        rows = [r for r in results if r["family"] == family and r["variant"] == variant]
        cells = [fmt([r[metric] for r in rows if r["n"] == n]) for n in sizes]
        secs = np.mean([r["seconds"] for r in rows if r["n"] == sizes[-1]])
        lines.append(f"| {family} | {variant} | " + " | ".join(cells) + f" | {secs:.2f} |")
    for f in dict.fromkeys(r["feature"] for r in references):
        lines.append(f"| *{f} alone (no training)* | — | " + " | ".join(
            [fmt([r[metric] for r in references if r["feature"] == f])] * len(sizes)) + " | 0 |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--benchmarks", default="nb201,macro,mnist1d")
    parser.add_argument("--families", default=",".join(FAMILIES), help=f"any of {', '.join(predictors.names())}")
    parser.add_argument("--sizes", default=",".join(map(str, SIZES)), help="training set sizes")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--test-size", type=int, default=1000, help="held-out architectures per seed")
    parser.add_argument("--nb201-csv", default=str(DATA / "nb201_cifar10_avg.csv"))
    parser.add_argument("--macro-json", default=str(DATA / "nas-bench-macro_cifar10.json"))
    parser.add_argument("--proxy-cache", help="JSON {arch key: {proxy: score}} to add zero-cost proxies as features")
    parser.add_argument("--json", help="write every measurement to this file")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    families = args.families.split(",")
    if unknown := [n for n in families if n not in predictors.REGISTRY]:
        parser.error(f"unknown predictor(s) {', '.join(unknown)}; choose from {', '.join(predictors.names())}")
    cache = read_proxy_cache(Path(args.proxy_cache)) if args.proxy_cache else None

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    loaders = {"nb201": lambda: load_nb201(Path(args.nb201_csv)), "macro": lambda: load_macro(Path(args.macro_json)),
               "mnist1d": load_mnist1d}
    chosen = args.benchmarks.split(",")
    if unknown := [n for n in chosen if n not in loaders]:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; choose from {', '.join(loaders)}")
    out, started = {}, time.perf_counter()
    for name in chosen:
        try:
            table = loaders[name]()
        except (OSError, NasforgeError) as exc:  # a missing table skips its benchmark, with the reason
            log(f"{name}: skipped ({type(exc).__name__}: {exc})")
            continue
        if cache is not None:
            with_zc = add_proxies(table, cache, args.test_size + max(sizes))
            log(f"{name}: proxy cache " + (f"scores fewer than test size + largest training size architectures; "
                                           "run without proxies" if with_zc is None
                                           else f"used ({len(with_zc.y)} architectures)"))
            table = with_zc or table
        if len(table.y) < args.test_size + max(sizes):
            log(f"{name}: skipped ({len(table.y)} architectures < test size + largest training size)")
            continue
        with single_threaded_blas(user_api=None):
            results, references = measure(table, families, sizes, args.seeds, args.test_size, log)
        for metric in ("kendall", "spearman"):
            print(report(table, results, references, sizes, metric) + "\n", flush=True)
        for note in table.notes:
            print(f"{table.name}: {note}\n", flush=True)
        out[name] = {"truth": table.truth, "architectures": len(table.y), "results": results,
                     "references": references}
    print(f"{args.seeds} seeds, held-out sets of {args.test_size}; mean ± 95% CI (t); "
          f"{time.perf_counter() - started:.0f} s in all")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
