"""Multi-objective search on real Fashion-MNIST against the hand-designed CNN (issue 20's real-data check).

One run, in four resumable steps (rerun the same command to continue; each step's results are
written under ``--out`` as soon as they exist):

1. **Search.** A multi-objective ``macro-cnn`` study (validation accuracy x parameters by default;
   every trial's batch-1 latency is measured too, on the CPU clock so that a busy machine does
   not blur it) at low fidelity: ``--search-epochs`` on a ``--subset`` of the training split,
   with every candidate held to at most the hand CNN's parameters (``--constraint``, checked
   before training).
2. **Retrain.** The members of the study's Pareto front (the ``--max-retrain`` most accurate,
   when it has more) and the hand-designed CNN of ``benchmarks/budgeted_search.py`` are trained
   from scratch with one recipe (nasforge's trainer defaults, fp32, no augmentation) for the
   same ``--epochs`` on all 60,000 training images (or one seeded ``--train-samples`` sample of
   them), and tested once on the 10,000 test images.
3. **Auto under a limit.** ``nasforge auto --max-params N`` (N below the hand CNN's count) at a
   short ``--auto-budget``; its study is read back to check that every trained candidate and the
   final model meet the limit.
4. **Measure and compare.** Parameters and batch-1 latency (1 thread, CPU clock and wall clock,
   interleaved rounds over all models) of every retrained model and auto's model, in this run
   on this machine; a table marks the front models that dominate the hand CNN: test accuracy at
   least the hand CNN's and strictly fewer parameters or strictly lower latency.

    python benchmarks/mo_fashion_mnist.py --out runs/mo-fmnist    # defaults: ~45-60 CPU minutes, 1 thread
    python benchmarks/mo_fashion_mnist.py --out runs/mo-fmnist --trials 8 --train-samples 12000 \
        --max-retrain 3 --auto-budget 180                            # docs/results/multiobjective.md: ~8 CPU min

The test accuracies come from one training seed each and one test pass (binomial standard
error on 10,000 images is about 0.25 points at 93%): a difference of a few tenths is noise.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from budgeted_search import HandSpace, hand_cnn  # noqa: E402  (the one definition of the hand CNN)

import nasforge  # noqa: E402
from nasforge import data, spaces  # noqa: E402
from nasforge.api import open_storage  # noqa: E402
from nasforge.core import Arch, TrialStatus  # noqa: E402
from nasforge.estimation import TrainConfig, count_params, measure_latency, train_final  # noqa: E402
from nasforge.export import load_checkpoint  # noqa: E402
from nasforge.study import pareto_trials  # noqa: E402

DATASET = "fashion-mnist"
SPACE = "macro-cnn"
HAND = "hand-cnn"


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} cpu {time.process_time() / 60:5.1f} min] {message}", flush=True)


def run_search(args, hand_params: int) -> tuple[list, list[str]]:
    """The multi-objective study (resumed if it exists); its successful trials and objectives."""
    objectives = ["val_accuracy", *args.cost]
    constraints = [f"params<={hand_params}"] if args.constrain else []
    log(f"search: {args.strategy}, objectives {objectives}, constraints {constraints}, {args.trials} trials of "
        f"{args.search_epochs} epoch(s) on {args.subset:.0%} of the training split, val on {args.val_samples}")
    log("  same as: nasforge search --space macro-cnn --dataset fashion-mnist --strategy "
        f"{args.strategy} --strategy-option population_size={args.population} "
        + " ".join(f"--objective {o}" for o in objectives) + " "
        + " ".join(f"--constraint '{c}'" for c in constraints)
        + f" --epochs {args.search_epochs} --subset {args.subset} --measure-option clock=cpu "
          f"--train-option precision=fp32 --trials {args.trials} --seed {args.seed} (and, from Python only, "
          f"val_samples={args.val_samples})")
    study = nasforge.search(study=args.out / "study.db", trials=args.trials, space=SPACE, dataset=DATASET,
                            strategy=args.strategy, strategy_options={"population_size": args.population},
                            epochs=args.search_epochs, subset=args.subset, val_samples=args.val_samples,
                            seed=args.seed, objectives=objectives, constraints=constraints,
                            measure_options={"clock": "cpu"}, train_options={"precision": "fp32"})
    trials = study.storage.trials()
    study.close()
    ok = [t for t in trials if t.status == TrialStatus.OK]
    rejected = sum(1 for t in trials if t.status == TrialStatus.PRUNED)
    log(f"search done: {len(ok)} trained, {rejected} rejected before training; "
        f"val accuracy {min(t.metrics['val_accuracy'] for t in ok):.3f}-"
        f"{max(t.metrics['val_accuracy'] for t in ok):.3f}, "
        f"{sum(t.duration_s or 0 for t in ok) / 60:.1f} min of trials")
    return ok, objectives


def pick_front(ok: list, objectives: list[str], limit: int) -> list:
    """The study's front, most accurate first, cut to its ``limit`` most accurate members: those are
    the ones that can match the hand CNN's accuracy (a smaller limit keeps a prefix, so a rerun
    with a smaller ``--max-retrain`` reuses the retrainings already done)."""
    return sorted(pareto_trials(ok, objectives), key=lambda t: -t.metrics["val_accuracy"])[:limit]


def training_sample(ds, n: int | None, seed: int):
    """``ds`` whose train+validation data is a seeded random ``n`` of them (all of them for None)."""
    x, y = ds.train_and_val()
    if n is None or n >= len(y):
        return ds
    keep = torch.from_numpy(np.sort(np.random.default_rng(seed).permutation(len(y))[:n]))
    return replace(ds, x_train=x[keep], y_train=y[keep], x_val=x[:0], y_val=y[:0])


def retrain(name: str, space, arch: Arch, ds, args) -> dict:
    """Train ``arch`` from scratch on train+validation for ``--epochs``, test once; cached in out/retrain/NAME."""
    folder = args.out / "retrain" / name
    path = folder / "summary.json"
    if path.is_file():
        return json.loads(path.read_text())
    log(f"retrain {name}: {space.describe(arch)}")
    cpu = time.process_time()
    s = train_final(space, arch, ds, args.epochs, folder, TrainConfig(precision="fp32"), seed=args.seed)
    s["cpu_seconds"] = time.process_time() - cpu
    path.write_text(json.dumps(s, indent=2))
    log(f"  test {s['test_accuracy']:.4f}, {s['params']:,} params, {s['train_seconds']:.0f} s")
    return s


def run_auto(args) -> dict:
    """``nasforge auto --max-params N`` (resumed from its folder if it finished before)."""
    out = args.out / "auto"
    if (out / "summary.json").is_file():
        return json.loads((out / "summary.json").read_text())
    log(f"auto: nasforge auto --dataset fashion-mnist --max-params {args.max_params} --time-budget "
        f"{args.auto_budget:g} --train-option precision=fp32 --no-onnx --seed {args.seed} --out {out}")
    return nasforge.auto(DATASET, args.auto_budget, out, seed=args.seed, onnx=False, max_params=args.max_params,
                         train_options={"precision": "fp32"}, log=lambda m: log(f"  auto: {m}"))


def audit_auto(args, summary: dict) -> dict:
    """Every candidate auto trained, rebuilt and counted again: do all meet --max-params?"""
    storage, spec = open_storage(args.out / "auto" / "study.db")
    trials = storage.trials()
    storage.close()
    space, ds_shape = spaces.get(spec.space, **spec.space_options), (1, 28, 28)
    trained = [t for t in trials if t.status == TrialStatus.OK]
    counted = [count_params(space.build(t.arch, ds_shape, 10)) for t in trained]
    rejected = [t for t in trials if t.status == TrialStatus.PRUNED and "not trained" in (t.error or "")]
    return {"trained": len(trained), "trained_max_params": max(counted, default=0),
            "all_trained_meet": all(p <= args.max_params for p in counted),
            "rejected_untrained": len(rejected),
            "rejected_all_over": all(t.metrics.get("params", 0) > args.max_params for t in rejected),
            "final_params": summary["params"], "final_meets": summary["params"] <= args.max_params,
            "summary_constraints": summary.get("constraints")}


def load_trained(folder: Path, ds) -> torch.nn.Module:
    bundle = load_checkpoint(folder / "model.pt")
    arch = Arch.from_json(bundle["arch"])
    space = HandSpace() if arch.space == HAND else spaces.get(arch.space, **bundle["space_options"])
    model = space.build(arch, ds.input_shape, ds.num_classes)
    model.load_state_dict(bundle["state_dict"])
    return model.eval()


def measure_all(folders: dict[str, Path], ds, rounds: int, repeats: int) -> dict[str, dict]:
    """Batch-1 latency (1 thread) of every model, ``rounds`` interleaved rounds of ``repeats`` runs on a
    real test image: the median of the rounds' medians, by the CPU clock and by the wall clock."""
    models = {name: load_trained(folder, ds) for name, folder in folders.items()}
    example = ds.test()[0][:1]
    runs = {name: {"cpu": [], "wall": []} for name in models}
    for _ in range(rounds):
        for name, model in models.items():
            for clock in ("cpu", "wall"):
                stats = measure_latency(model, ds.input_shape, repeats=repeats, example=example, clock=clock)
                runs[name][clock].append(stats.median_ms)
    return {name: {"params": count_params(models[name]),
                   **{f"latency_{c}_ms": statistics.median(v) for c, v in r.items()},
                   "latency_cpu_spread_ms": max(r["cpu"]) - min(r["cpu"])} for name, r in runs.items()}


def dominance(row: dict, hand: dict) -> str:
    """What ``row`` is strictly better in at equal or better test accuracy than the hand CNN ('' if not)."""
    if row["test_accuracy"] < hand["test_accuracy"]:
        return ""
    better = [k for k, key in (("params", "params"), ("latency", "latency_cpu_ms")) if row[key] < hand[key]]
    return " + ".join(better)


def stderr(p: float, n: int) -> float:
    return math.sqrt(p * (1 - p) / n)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, default=Path("runs/mo-fmnist"))
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--strategy", default="nsga2", choices=("nsga2", "mo-evolution", "parego", "random"))
    p.add_argument("--population", type=int, default=8, help="population_size of nsga2 / mo-evolution")
    p.add_argument("--cost", nargs="+", default=["params"], help="cost objectives beside val_accuracy")
    p.add_argument("--no-constraint", dest="constrain", action="store_false",
                   help="do not hold candidates to the hand CNN's parameter count")
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--search-epochs", type=int, default=1)
    p.add_argument("--subset", type=float, default=0.05, help="share of the training split per search trial")
    p.add_argument("--val-samples", type=int, default=1500, help="validation samples scoring a search trial")
    p.add_argument("--epochs", type=int, default=1, help="epochs of every retraining")
    p.add_argument("--train-samples", type=int, default=None,
                   help="retrain on a seeded random sample of this many of the 60,000 training images (default all)")
    p.add_argument("--max-retrain", type=int, default=4, help="front members retrained at most")
    p.add_argument("--max-params", type=int, default=100_000, help="auto's --max-params")
    p.add_argument("--auto-budget", type=float, default=240.0, help="auto's --time-budget (seconds)")
    p.add_argument("--no-auto", dest="auto", action="store_false")
    p.add_argument("--rounds", type=int, default=5, help="interleaved latency rounds")
    p.add_argument("--repeats", type=int, default=30, help="timed runs per latency round")
    args = p.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    hand_params = count_params(hand_cnn(1, 10, 2))
    log(f"{platform.processor() or platform.machine()}, torch {torch.__version__}, 1 thread; "
        f"hand CNN {hand_params:,} params")
    ok, objectives = run_search(args, hand_params)
    front = pick_front(ok, objectives, args.max_retrain)
    front_size = len(pareto_trials(ok, objectives))
    log(f"front: {front_size} members, retraining {len(front)}")
    ds = data.load(DATASET)
    train_ds = training_sample(ds, args.train_samples, args.seed)
    macro = spaces.get(SPACE)
    results = {"args": {k: str(v) for k, v in vars(args).items()}, "hand_params": hand_params,
               "front_size": front_size, "trained_trials": len(ok), "rows": {}}
    hand = retrain(HAND, HandSpace(), Arch(HAND, {}), train_ds, args)
    results["rows"][HAND] = {"trial": None, "val_accuracy": None, **hand}
    for t in front:
        s = retrain(f"trial{t.id}", macro, t.arch, train_ds, args)
        results["rows"][f"trial{t.id}"] = {"trial": t.id, "val_accuracy": t.metrics["val_accuracy"],
                                            "search_latency_ms": t.metrics.get("latency_ms"), **s}
        (args.out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    if args.auto:
        summary = run_auto(args)
        results["auto"] = {"summary": {k: summary.get(k) for k in ("test_accuracy", "params", "latency_ms",
                                                                    "description", "final_train_seconds",
                                                                    "final_epochs", "total_seconds", "constraints",
                                                                    "train_config")},
                           "audit": audit_auto(args, summary)}
        (args.out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    log("measuring latency of every model, interleaved")
    folders = {name: args.out / "retrain" / name for name in results["rows"]}
    if args.auto:
        folders["auto"] = args.out / "auto"
    measured = measure_all(folders, ds, args.rounds, args.repeats)
    for name, m in measured.items():
        (results["rows"].get(name) or results["auto"]).update(m)
    (args.out / "results.json").write_text(json.dumps(results, indent=2, default=str))
    report(results, args)


def report(results: dict, args) -> None:
    rows, hand = results["rows"], results["rows"][HAND]
    n = hand["test_samples"]
    print(f"\nFashion-MNIST, {args.epochs} epoch(s) on the same {hand['train_samples']:,} training images for every "
          "model (same recipe, "
          f"seed {args.seed}), tested once on {n:,}; the front of a {args.strategy} study "
          f"({results['trained_trials']} trained trials, {args.search_epochs} epoch(s) on {args.subset:.0%}): "
          f"{results['front_size']} members, {len(rows) - 1} retrained. Latency: batch 1, 1 thread, median of "
          f"{args.rounds} interleaved rounds x {args.repeats} runs (CPU clock; wall clock beside).\n")
    print("| model | search val acc | test acc (± s.e.) | params | latency ms (cpu) | latency ms (wall) | "
          "dominates hand CNN | architecture |")
    print("|---|---|---|---|---|---|---|---|")
    ordered = [HAND, *sorted((k for k in rows if k != HAND), key=lambda k: -rows[k]["test_accuracy"])]
    for name in ordered:
        r = rows[name]
        mark = "—" if name == HAND else (f"**yes** ({dominance(r, hand)})" if dominance(r, hand) else "no")
        val = "—" if r["val_accuracy"] is None else f"{r['val_accuracy']:.4f}"
        print(f"| {name} | {val} | {r['test_accuracy']:.4f} ± {stderr(r['test_accuracy'], n):.4f} | "
              f"{r['params']:,} | {r['latency_cpu_ms']:.3f} | {r['latency_wall_ms']:.3f} | {mark} | "
              f"`{r['description']}` |")
    winners = [k for k in rows if k != HAND and dominance(rows[k], hand)]
    print(f"\n{len(winners)} of {len(rows) - 1} retrained front models dominate the hand CNN "
          f"(test accuracy >= {hand['test_accuracy']:.4f} and strictly fewer params or lower latency).")
    if "auto" in results:
        a, audit = results["auto"], results["auto"]["audit"]
        s = a["summary"]
        print(f"\nauto --max-params {args.max_params:,} (hand CNN: {hand['params']:,}, "
              f"{'misses it' if hand['params'] > args.max_params else 'meets it too'}) in "
              f"{args.auto_budget:g} s: {audit['trained']} candidates trained (largest {audit['trained_max_params']:,}"
              f" params; all within the limit: {audit['all_trained_meet']}), {audit['rejected_untrained']} rejected "
              f"untrained (all over the limit: {audit['rejected_all_over']}); final model {audit['final_params']:,} "
              f"params (meets: {audit['final_meets']}), test accuracy {s['test_accuracy']:.4f} after "
              f"{s['final_train_seconds']:.0f} s of final training "
              f"(augmentation {s['train_config'].get('augment')}), latency {a['latency_cpu_ms']:.3f} ms (cpu); "
              f"hand CNN {hand['test_accuracy']:.4f} after {args.epochs} epoch(s) ({hand['train_seconds']:.0f} s). "
              f"`{s['description']}`")
    print(f"\ntotal CPU of this process: {time.process_time() / 60:.1f} min")


if __name__ == "__main__":
    main()
