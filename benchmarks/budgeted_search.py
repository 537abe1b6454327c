"""Budgeted search: does search pay for itself within a fixed wall-clock budget?

Each system gets the same data split, the same budget (default 600 s, data
loading and start-up included) and 2 CPU threads, and runs in a fresh
process, one after another:

- ``hand``: a standard 3-stage conv net with batch norm (~0.29M parameters)
  simply trained for the whole budget (no augmentation);
- ``hand-aug``: the same net trained with the recipe auto's final training
  uses on Fashion-MNIST (random shifts and mirror flips): not a system a
  user gets for free, but the reference that shows how much of auto's
  margin is its training recipe rather than its architecture;
- ``optuna``: Optuna's TPE sampler with its Hyperband pruner over the same
  space as nasforge's default (macro-cnn); each trial trains with one
  schedule over the largest resource and reports validation accuracy to the
  pruner every rung-0 interval; then the same final training;
- ``random``: random architectures of the same space, each trained for the
  same seconds (nasforge's single-fidelity ablation), same final training;

Every search starts from the same known-good designs (``macro-cnn``'s
``priors()``: the hand designs the space contains), so the systems differ
only in what they do next. Each system picks 1 or 2 threads by timing a few
steps (nasforge's own probe) for its search and final training.
- ``auto``: ``nasforge auto``.
- ``auto-recipe``: ``nasforge auto --recipe search`` (the training recipe
  searched with the architecture);
- ``hand-recipe``: the hand net trained with the recipe auto's final
  training used in the same seed (auto's ``train_config``: learning rate,
  weight decay, batch size, augmentation...): the reference the issue-22
  target compares with (the search must contribute, not only the recipe);
  it runs after ``auto`` of the same seed, data set and precision.

Every system's final model is trained by the same trainer (AdamW, warm-up,
cosine schedule that ends at the deadline) on train+validation and tested
once; the searches' final trainings use auto's augmentation choice (random
shifts, plus mirror flips when the search's best model passes the mirror
test). After ``auto``, the best-validated model on its study's Pareto fronts with at
most a third of the hand-designed net's parameters is retrained from scratch
for as long as auto's winner trained in all (outside the budget) and tested:
the "small pick".

    python benchmarks/budgeted_search.py                      # 600 s each, seed 0
    python benchmarks/budgeted_search.py --budget 120 --seeds 0 1 2 --systems hand auto

The issue-22 comparison (one command; 3 seeds, two data sets, both precisions):

    python benchmarks/budgeted_search.py --budget 600 --seeds 0 1 2 --datasets fashion-mnist mnist1d \
        --precisions auto fp32 --systems hand auto hand-recipe

``--precisions``: the trainer's ``precision`` option for every system (``auto``:
bf16 where faster; ``fp32``: what a CPU without bf16 gets). ``--background-load N``
runs N CPU-burning processes during every run (budget kept under load?).
``--tables``: scikit-learn's breast cancer and wine and a synthetic table
(written as ``.npz``), ``auto`` at ``--budget`` (60 s for the issue) against the
logistic regression and gradient boosting it fits and reports:

    python benchmarks/budgeted_search.py --tables --budget 60 --seeds 0 1 2

``--table-splits K`` writes each table K times, each with its own random test split,
and adds a mean per table and system: one fixed test split of 36 (wine) or 114
(breast cancer) rows moves by a row or two with any change; several splits show
whether a change helps beyond that:

    python benchmarks/budgeted_search.py --tables --table-splits 5 --budget 60 --systems auto auto-recipe

Optuna is needed only here: ``pip install optuna``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from pathlib import Path

STARTED = time.monotonic()
SYSTEMS = ("hand", "hand-aug", "optuna", "random", "auto", "auto-recipe", "hand-recipe")
TABLES = ("breast-cancer", "wine", "synthetic")
BURN = "import time\nend = time.time() + {s}\nwhile time.time() < end:\n    sum(i * i for i in range(10000))\n"


def hand_cnn(in_channels: int, num_classes: int, dims: int):
    """Two 3x3 conv-BN-ReLU per stage at widths 32/64/128, max-pool between stages, global pool."""
    from torch import nn

    conv = nn.Conv2d if dims == 2 else nn.Conv1d
    bn = nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d
    pool = nn.MaxPool2d if dims == 2 else nn.MaxPool1d
    gap = nn.AdaptiveAvgPool2d if dims == 2 else nn.AdaptiveAvgPool1d
    layers, c = [], in_channels
    for stage, width in enumerate((32, 64, 128)):
        if stage:
            layers.append(pool(2))
        for _ in range(2):
            layers += [conv(c, width, 3, padding=1, bias=False), bn(width), nn.ReLU(inplace=True)]
            c = width
    return nn.Sequential(*layers, gap(1), nn.Flatten(), nn.Linear(c, num_classes))


class HandSpace:
    """Just enough of a search space for the shared final-training code."""

    name = "hand-cnn"

    def build(self, arch, input_shape, num_classes, width_multiplier=1.0):
        return hand_cnn(input_shape[0], num_classes, len(input_shape) - 1)

    def describe(self, arch):
        return "conv3x3x2@32 /2 conv3x3x2@64 /2 conv3x3x2@128 (hand-designed)"

    def training_config(self, arch):
        return {}


def run_hand(args, deadline, out, augment="none", recipe=None):
    """The hand CNN for the whole budget: plain, with ``augment``, or with ``recipe`` (a train config dict)."""
    from nasforge import data
    from nasforge.core import Arch
    from nasforge.auto import train_until_deadline
    from nasforge.estimation import TrainConfig

    ds = data.load(args.dataset)
    config = TrainConfig(**recipe) if recipe else TrainConfig(augment=augment, precision=args.precision)
    s = train_until_deadline(HandSpace(), Arch("hand-cnn", {}), ds, config, deadline, out,
                             args.seed, onnx=False, log=lambda m: None)
    return {**s, "evaluated": 0}


def auto_recipe(args) -> dict:
    """The train config auto's final training used in this seed, data set and precision."""
    path = Path(args.out) / run_name(args.dataset, args.precision, "auto", args.seed) / "summary.json"
    if not path.is_file():
        raise RuntimeError(f"hand-recipe needs auto's run of the same seed first ({path} is missing)")
    config = json.loads(path.read_text())["train_config"]
    return {k: v for k, v in config.items() if k != "device"}


def run_name(dataset: str, precision: str, system: str, seed: int) -> str:
    return f"{Path(dataset).stem}-{precision}-{system}-seed{seed}"


def run_optuna(args, deadline, out):
    import numpy as np
    import optuna
    import torch

    from nasforge import data, spaces
    from nasforge.core import Arch
    from dataclasses import replace

    from nasforge.auto import (ETA, RUNGS, SEARCH_VAL_SAMPLES, WRAP_UP_GUESS, choose_augment,
                                 fastest_thread_count, make_plan, train_until_deadline)
    from nasforge.estimation import TrainConfig, evaluate_model, train_model

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ds = data.load(args.dataset)
    space = spaces.get("macro-cnn")
    plan = make_plan(args.budget, deadline.left() - WRAP_UP_GUESS)
    chunk, chunks = plan.rung_seconds[0], ETA ** (RUNGS - 1)  # same resource unit and range as auto's rungs
    config = TrainConfig(precision=args.precision)
    probe = space.build(space.sample(np.random.default_rng(args.seed)), ds.input_shape, ds.num_classes)
    torch.set_num_threads(fastest_thread_count(probe, ds.x_train, ds.y_train, config.batch_size))

    def objective(trial):
        arch = Arch(space.name, {d.name: trial.suggest_categorical(d.name, list(d.choices)) for d in space.decisions})
        torch.manual_seed(trial.number)
        model = space.build(arch, ds.input_shape, ds.num_classes)
        reports = []

        def report(m):  # every `chunk` seconds: validation accuracy to the Hyperband pruner
            acc = evaluate_model(m, ds.x_val, ds.y_val)[0]
            reports.append(acc)
            trial.report(acc, len(reports))
            return trial.should_prune()

        # one training with one schedule over the largest resource, checked every rung-0 interval
        train_model(model, ds.x_train, ds.y_train, 10_000, config, trial.number, time_limit=chunk * chunks,
                    check_every=chunk, check=report)
        models[trial.number] = model
        if reports and trial.should_prune():
            raise optuna.TrialPruned()
        return evaluate_model(model, ds.x_val, ds.y_val)[0]

    models = {}  # trial number -> trained model: auto's mirror test runs on the best one
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=args.seed),
                                pruner=optuna.pruners.HyperbandPruner(min_resource=1, max_resource=chunks,
                                                                      reduction_factor=ETA))
    for prior in space.priors():  # the same known-good starting points as nasforge's searches
        study.enqueue_trial(dict(prior.decisions))
    study.optimize(objective, timeout=max(1.0, plan.search_s), catch=(Exception,))
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    pool = complete or [t for t in study.trials if t.intermediate_values]
    if not pool:
        raise RuntimeError("no Optuna trial produced a result")
    best = max(pool, key=lambda t: t.value if t.value is not None else max(t.intermediate_values.values()))
    arch = Arch(space.name, {d.name: best.params[d.name] for d in space.decisions})
    torch.set_num_threads(args.threads)
    augment, _ = choose_augment("auto", models.get(best.number), ds, SEARCH_VAL_SAMPLES)  # auto's final recipe
    s = train_until_deadline(space, arch, ds, replace(config, augment=augment), deadline, out, args.seed,
                             onnx=False, log=lambda m: None)
    return {**s, "evaluated": len(study.trials), "pruned": sum(t.state == optuna.trial.TrialState.PRUNED
                                                                for t in study.trials)}


def run_auto(args, deadline, out, search="asha", recipe="fixed"):
    import nasforge

    s = nasforge.auto(args.dataset, args.budget, out, seed=args.seed, search=search, onnx=False,
                      log=lambda m: None, started_at=deadline.start, recipe=recipe,
                      train_options={"precision": args.precision})
    return {**s, "evaluated": s["search"]["trials"]}


def run_small_pick(args, out, auto_summary, hand_params):
    """Retrain the best-validated auto candidate with <= 1/3 of the hand net's parameters."""
    from nasforge import data, spaces
    from nasforge.core import Arch
    from nasforge.auto import Deadline, train_until_deadline
    from nasforge.estimation import TrainConfig

    fronts = auto_summary["candidates"]
    for rung in sorted(fronts, key=lambda r: -float(r[:-1])):  # highest rung first
        small = [p for p in fronts[rung] if p["params"] * 3 <= hand_params]
        if small:
            pick = max(small, key=lambda p: p["val_accuracy"])
            break
    else:
        return None
    ds = data.load(args.dataset)
    # as much training as auto's winner had in all (its search share included), from scratch
    seconds = auto_summary["final_train_seconds"] + auto_summary.get("continued_from_search_seconds", 0.0) + 10.0
    config = TrainConfig(augment=auto_summary["train_config"]["augment"], precision=args.precision)  # auto's recipe
    s = train_until_deadline(spaces.get("macro-cnn"), Arch.from_dict(pick["arch"]), ds, config,
                             Deadline(time.monotonic(), seconds), out, args.seed, onnx=False, log=lambda m: None)
    return {**s, "rung": rung, "trial_id": pick["trial_id"]}


def one(args):
    import torch

    from nasforge.auto import Deadline

    torch.set_num_threads(args.threads)
    out = Path(args.out) / run_name(args.dataset, args.precision, args.one, args.seed)
    shutil.rmtree(out, ignore_errors=True)  # a fresh start: never resume an earlier run's study
    out.mkdir(parents=True)
    deadline = Deadline(STARTED, args.budget)
    runner = {"hand": run_hand, "optuna": run_optuna, "auto": run_auto,
              "hand-aug": lambda a, d, o: run_hand(a, d, o, augment="shift-flip"),
              "random": lambda a, d, o: run_auto(a, d, o, search="random"),
              "auto-recipe": lambda a, d, o: run_auto(a, d, o, recipe="search"),
              "hand-recipe": lambda a, d, o: run_hand(a, d, o, recipe=auto_recipe(a))}[args.one]
    s = runner(args, deadline, out)
    result = {"system": args.one, "seed": args.seed, "test_accuracy": s["test_accuracy"], "params": s["params"],
              "latency_ms": s["latency_ms"], "evaluated": s["evaluated"], "final_train_seconds":
              s["final_train_seconds"], "final_epochs": s["final_epochs"], "description": s["description"],
              "threads": s.get("threads"), "seconds_in_process": time.monotonic() - STARTED,
              "dataset": args.dataset, "precision": args.precision, "budget_s": args.budget,
              "training_conditions": s.get("training_conditions"), "prediction": s.get("prediction"),
              "baselines": s.get("baselines"), "train_config": s.get("train_config")}
    if args.one == "auto" and args.hand_params and not args.dataset.endswith(".npz"):
        pick_start = time.monotonic()
        small = run_small_pick(args, out / "small", s, args.hand_params)
        result["small_pick_seconds"] = time.monotonic() - pick_start
        if small is not None:
            result["small_pick"] = {k: small[k] for k in ("test_accuracy", "params", "latency_ms", "description",
                                                          "rung", "trial_id", "final_train_seconds")}
    result["continued_from_search_seconds"] = s.get("continued_from_search_seconds", 0.0)
    (out / "result.json").write_text(json.dumps(result, indent=2))
    sys.stdout.flush()
    os._exit(0)  # as `nasforge auto` does: the budget counts the process, not the interpreter's 0.3-1.5 s teardown


def write_tables(folder: Path, splits: int = 0) -> list[str]:
    """scikit-learn's breast cancer and wine and a synthetic table as ``.npz`` files (nasforge's user data
    format). ``splits`` > 0: each table ``splits`` times, each with its own random 20 % as ``x_test`` /
    ``y_test`` (``<name>-split<k>.npz``): one fixed test split of 36 or 114 rows moves by a row or two
    with any change, several splits show whether a change helps beyond that."""
    import numpy as np
    from sklearn.datasets import load_breast_cancer, load_wine, make_classification

    folder.mkdir(parents=True, exist_ok=True)
    x, y = make_classification(n_samples=2000, n_features=20, n_informative=8, n_classes=3, random_state=0)
    x = x * np.logspace(-2, 2, x.shape[1])  # columns on different scales, as in real tables
    sets = {"breast-cancer": load_breast_cancer(return_X_y=True), "wine": load_wine(return_X_y=True),
            "synthetic": (x, y)}
    paths = []
    for name, (xs, ys) in sets.items():
        xs, ys = np.asarray(xs, np.float32), np.asarray(ys)
        if not splits:
            np.savez(folder / f"{name}.npz", x=xs, y=ys)
            paths.append(str(folder / f"{name}.npz"))
        for k in range(splits):
            order = np.random.default_rng(1000 + k).permutation(len(ys))
            test, train = order[:len(ys) // 5], order[len(ys) // 5:]
            path = folder / f"{name}-split{k}.npz"
            np.savez(path, x=xs[train], y=ys[train], x_test=xs[test], y_test=ys[test])
            paths.append(str(path))
    return paths


def run_one(args, dataset, precision, system, seed, hand_params) -> dict | None:
    """``system`` in a fresh process (with ``--background-load`` burners running); its result row."""
    cmd = [sys.executable, __file__, "--one", system, "--seed", str(seed), "--budget", str(args.budget),
           "--dataset", dataset, "--precision", precision, "--threads", str(args.threads), "--out", args.out,
           "--hand-params", str(hand_params if args.small_pick_seeds is None or seed in args.small_pick_seeds
                                else 0)]
    burners = [subprocess.Popen([sys.executable, "-c", BURN.format(s=args.budget * 2 + 60)])
               for _ in range(args.background_load)]
    try:
        start = time.monotonic()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        wall = time.monotonic() - start
    finally:
        for b in burners:
            b.kill()
    if proc.returncode != 0:
        print(f"{system} seed {seed} on {dataset} ({precision}) failed:\n{proc.stderr[-2000:]}", file=sys.stderr)
        return None
    row = json.loads((Path(args.out) / run_name(dataset, precision, system, seed) / "result.json").read_text())
    row["wall_s"] = wall - row.get("small_pick_seconds", 0.0)  # the small pick is outside the budget
    row["background_load"] = args.background_load
    print(f"{Path(dataset).stem:>14} {precision:>4} {system:>11} seed {seed}: test {row['test_accuracy']:.4f}  "
          f"params {row['params']:>8,}  evaluated {row['evaluated']:>3}  wall {row['wall_s']:.1f}s  "
          f"{row['description']}", flush=True)
    return row


def print_tables(args, rows):
    import statistics

    print(f"\nBudget {args.budget:g}s per system, {args.threads} threads, background load {args.background_load}, "
          f"{platform.processor() or platform.machine()}, {time.strftime('%Y-%m-%d')}")
    print("| data | precision | system | seed | test acc | params | latency ms | archs evaluated | wall s | "
          "over budget % | architecture |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        over = 100 * (r["wall_s"] / args.budget - 1)
        print(f"| {Path(r['dataset']).stem} | {precision_cell(r)} | {r['system']} | {r['seed']} | {r['test_accuracy']:.4f} "
              f"| {r['params']:,} | {r['latency_ms']:.2f} | {r['evaluated']} | {r['wall_s']:.1f} | {over:+.1f} | "
              f"`{r['description']}` |")
        if "small_pick" in r:
            sp = r["small_pick"]
            print(f"| | | auto small pick | {r['seed']} | {sp['test_accuracy']:.4f} | {sp['params']:,} | "
                  f"{sp['latency_ms']:.2f} | (trial {sp['trial_id']}, {sp['rung']}) | "
                  f"+{sp['final_train_seconds']:.0f} | | `{sp['description']}` |")
    groups: dict = {}
    for r in rows:
        groups.setdefault((Path(r["dataset"]).stem, r["precision"], r["system"]), []).append(r)
    print("\n| data | precision | system | seeds | mean test acc | std | max over budget % | busy runs |")
    print("|---|---|---|---|---|---|---|---|")
    for (d, prec, system), rs in groups.items():
        accs = [r["test_accuracy"] for r in rs]
        busy = sum(bool((r.get("training_conditions") or {}).get("busy")) for r in rs)
        print(f"| {d} | {prec} | {system} | {len(rs)} | {statistics.mean(accs):.4f} | "
              f"{statistics.stdev(accs) if len(accs) > 1 else 0:.4f} | "
              f"{max(100 * (r['wall_s'] / args.budget - 1) for r in rs):+.1f} | {busy} |")
    tables = [r for r in rows if r.get("baselines") and "best" in r["baselines"]]
    if tables:
        print("\n| table | seed | auto test acc | logistic regression | gradient boosting | auto - better baseline |")
        print("|---|---|---|---|---|---|")
        for r in tables:
            b = r["baselines"]
            lr, gb = b["logistic_regression"]["test_accuracy"], b["gradient_boosting"]["test_accuracy"]
            print(f"| {Path(r['dataset']).stem} | {r['seed']} | {r['test_accuracy']:.4f} | {lr:.4f} | {gb:.4f} | "
                  f"{r['test_accuracy'] - better_baseline(r):+.4f} |")
        print_table_means(tables)
    predicted = [r for r in rows if (r.get("prediction") or {}).get("raw") is not None]
    if predicted:
        print("\n| data | system | seed | predicted (raw) | calibrated | achieved | error raw | error calibrated |")
        print("|---|---|---|---|---|---|---|---|")
        for r in predicted:
            p = r["prediction"]
            print(f"| {Path(r['dataset']).stem} | {r['system']} | {r['seed']} | {p['raw']:.4f} | {p['calibrated']:.4f} | "
                  f"{r['test_accuracy']:.4f} | {p['error_raw']:+.4f} | {p['error_calibrated']:+.4f} |")


def precision_cell(row: dict) -> str:
    """The precision asked for, and the one the final training ran in where they differ ("auto → bf16")."""
    used = (row.get("training_conditions") or {}).get("final_precision")
    return f"{row['precision']} → {used}" if used and used != row["precision"] else row["precision"]


def better_baseline(row: dict) -> float:
    """The test accuracy of the baseline that ``fit_baselines`` named the better one in this run."""
    return row["baselines"][row["baselines"]["best"]]["test_accuracy"]


def print_table_means(tables: list[dict]) -> None:
    """Per table (its splits together) and system: mean test accuracy against the better baseline of each
    run, and how many runs reached it."""
    import statistics

    groups: dict = {}
    for r in tables:
        groups.setdefault((Path(r["dataset"]).stem.split("-split")[0], r["system"]), []).append(r)
    print("\n| table | system | runs | mean test acc | mean better baseline | runs >= it |")
    print("|---|---|---|---|---|---|")
    for (table, system), rs in groups.items():
        better = [better_baseline(r) for r in rs]
        print(f"| {table} | {system} | {len(rs)} | {statistics.mean(r['test_accuracy'] for r in rs):.4f} | "
              f"{statistics.mean(better):.4f} | {sum(r['test_accuracy'] >= b for r, b in zip(rs, better))} |")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--budget", type=float, default=600.0)
    p.add_argument("--dataset", default="fashion-mnist", help=argparse.SUPPRESS)
    p.add_argument("--datasets", nargs="+", default=None, help="data sets (default fashion-mnist)")
    p.add_argument("--precisions", nargs="+", default=["auto"], choices=("auto", "fp32", "bf16"))
    p.add_argument("--precision", default="auto", help=argparse.SUPPRESS)
    p.add_argument("--tables", action="store_true", help="scikit-learn tables: auto vs its fitted baselines")
    p.add_argument("--table-splits", type=int, default=0, metavar="K",
                   help="with --tables: each table with K random test splits of its own (default: one fixed split)")
    p.add_argument("--background-load", type=int, default=0, metavar="N",
                   help="CPU-burning processes running during every run")
    p.add_argument("--seeds", type=int, nargs="+", default=[0])
    p.add_argument("--systems", nargs="+", default=None, choices=SYSTEMS)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--out", default="runs/budgeted_search")
    p.add_argument("--one", choices=SYSTEMS, help=argparse.SUPPRESS)
    p.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--hand-params", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--small-pick-seeds", type=int, nargs="*", default=None,
                   help="seeds whose auto run is followed by the small pick (default: all)")
    args = p.parse_args()
    if args.table_splits and not args.tables:
        p.error("--table-splits needs --tables")
    if args.table_splits < 0:
        p.error(f"--table-splits: {args.table_splits} is not a number of splits (0 or more)")
    if args.one:
        return one(args)

    from nasforge.estimation import count_params
    hand_params = count_params(hand_cnn(1, 10, 2))
    datasets = (write_tables(Path(args.out) / "tables", args.table_splits) if args.tables
                else (args.datasets or [args.dataset]))
    systems = args.systems or (["auto"] if args.tables else list(SYSTEMS[:5]))
    if "hand-recipe" in systems and "auto" in systems:  # it reads auto's recipe of the same seed
        systems = [s for s in systems if s != "hand-recipe"] + ["hand-recipe"]
    rows = []
    for dataset in datasets:
        for precision in args.precisions:
            for seed in args.seeds:
                for system in systems:
                    row = run_one(args, dataset, precision, system, seed, hand_params)
                    if row is not None:
                        rows.append(row)
    print_tables(args, rows)
    (Path(args.out) / "results.json").write_text(json.dumps(rows, indent=2))


if __name__ == "__main__":
    main()
