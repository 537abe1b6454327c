"""Elastic supernet (``mobilenet-elastic``) trained by progressive shrinking and by the sandwich rule,
against the same sub-networks trained from scratch, on Fashion-MNIST.

1. Trains one elastic supernet per ``--methods`` entry (``progressive``: Once-for-All's progressive
   shrinking, phases ``--phase-epochs``; ``sandwich``: largest + smallest + ``--random`` random
   sub-networks per step, in-place distillation) for ``--epochs`` epochs on a fixed subset of
   Fashion-MNIST's training split, downsampled to 14x14 by 2x2 average pooling (to fit a CPU
   budget; say so when quoting numbers).
2. Picks ``--subnets`` architectures from small to large: the smallest, the largest, and the
   others at evenly spaced parameter-count quantiles of 300 seeded random draws.
3. For each: params, FLOPs, batch-1 CPU latency (median CPU time of a forward, robust to a shared
   machine); the same architecture trained from scratch for ``--scratch-epochs`` with the same
   recipe (same data, batch size, SGD + cosine schedule, weight decay, clipping); and per
   supernet its inherited accuracy (extracted with the supernet's weights, BN recalibrated on 4
   training batches, no fine-tuning) and the inherited network fine-tuned for ``--finetune``
   epochs (lr 0.01 cosine). Accuracy and CPU-seconds of each.
4. Prints per supernet the table, CPU-seconds of each path, Kendall tau between inherited and
   scratch accuracies, and each inherited sub-network's accuracy gap to the scratch
   accuracy/latency front.

Accuracies are on a fixed 1,000-sample slice of the validation split (nothing is selected on
them). CPU-seconds are this process's ``time.process_time`` (one torch thread). Partial results
go to ``--out`` (JSON) after every step and a rerun resumes from them (each supernet from its
per-epoch checkpoint). The scratch trainings run first (``--part scratch`` runs only them, into
``OUT.scratch.json``, so a second process can do them while ``--part supernets`` trains the
supernets), then each method's supernet and its sub-networks.

    nice -n 19 env OMP_NUM_THREADS=1 python benchmarks/elastic_supernet.py \\
        [--train 1000] [--epochs 8] [--scratch-epochs 4] [--methods progressive,sandwich] \\
        [--phase-epochs 3,1,1,3] [--subnets 10] [--finetune 1] [--out runs/elastic_supernet_ps.json] \\
        [--part all|scratch|supernets]
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from scipy import stats

from nasforge import data, spaces
from nasforge.estimation import count_flops, count_params
from nasforge.oneshot import (FINETUNE_LR, ElasticEstimator, OneShotConfig, accuracy_and_loss, finetune,
                              make_training, smallest_arch)


def load(train: int, val: int):
    """Fashion-MNIST through nasforge's loader: a seeded training subset and a validation slice, 14x14."""
    ds = data.load("fashion-mnist")
    g = torch.Generator().manual_seed(0)
    tr = torch.randperm(len(ds.y_train), generator=g)[:train]
    va = torch.randperm(len(ds.y_val), generator=g)[:val]
    shrink = lambda x: F.avg_pool2d(x, 2)  # noqa: E731
    return shrink(ds.x_train[tr]), ds.y_train[tr], shrink(ds.x_val[va]), ds.y_val[va]


def cpu_latency_ms(model, input_shape, repeats: int = 30, warmup: int = 5) -> float:
    """Median CPU time (this thread's, one torch thread) of a batch-1 forward, in ms. CPU time, not
    wall time: the machine is shared, and a niced process's wall-clock latency measures the queue."""
    x = torch.randn(1, *input_shape, generator=torch.Generator().manual_seed(0))
    model.eval()
    times = []
    with torch.inference_mode():
        for i in range(warmup + repeats):
            start = time.thread_time()
            model(x)
            if i >= warmup:
                times.append(time.thread_time() - start)
    return 1000 * float(np.median(times))


def pick_subnets(space, input_shape, n: int):
    """The smallest, the largest and n-2 architectures at evenly spaced parameter quantiles."""
    rng = np.random.default_rng(0)
    drawn = {a.to_json(): a for a in (space.sample(rng) for _ in range(300))}
    sized = sorted(drawn.values(), key=lambda a: count_params(space.build(a, input_shape, 10)))
    middle = [sized[int(round(q * (len(sized) - 1)))] for q in np.linspace(0, 1, n)[1:-1]]
    return [smallest_arch(space)] + middle + [space.largest()]


def train_scratch(space, arch, config: OneShotConfig, x, y, seed: int, epochs: int):
    """``arch`` trained alone from a fresh initialisation for ``epochs``, the supernet's lr and recipe."""
    torch.manual_seed(seed)
    return finetune(space.build(arch, tuple(x.shape[1:]), 10), config, x, y, epochs, seed, lr=config.lr)


def gap_to_front(point, scratch, key="inherited_acc"):
    """Accuracy (pp) the best scratch sub-network at most as slow as ``point`` has over its ``key``
    accuracy (<= 0: on or above the scratch front)."""
    faster = [s["scratch_acc"] for s in scratch if s["latency_ms"] <= point["latency_ms"] * 1.0001]
    return 100 * (max(faster) - point[key]) if faster else float("-inf")


def train_supernet(method: str, args, x, y, xv, yv, out: Path, state: dict, save):
    """The supernet of ``method``, trained (or resumed) to ``args.epochs``; its config and history."""
    space = spaces.get("mobilenet-elastic")
    extra = {"phase_epochs": args.phase_epochs} if method == "progressive" else {}
    config = OneShotConfig(method=method, epochs=args.epochs, sandwich_random=args.random, **extra)
    torch.manual_seed(0)
    supernet = space.supernet(tuple(x.shape[1:]), 10)
    training = make_training(supernet, config, x, y, xv, yv)
    checkpoint = out.with_suffix(f".{method}.supernet.pt")
    if checkpoint.exists():
        training.load(checkpoint)
    entry = state.setdefault("supernets", {}).setdefault(method, {"config": config.to_dict()})
    while training.epoch < config.epochs:
        rec = training.run_epoch()
        training.save(checkpoint)
        entry["epochs"] = training.history
        save()
        print(f"{method} epoch {rec['epoch']}/{config.epochs} {rec.get('phase', '')}: loss {rec['train_loss']:.3f}, "
              f"largest {rec['supernet_val_accuracy']:.3f}, smallest {rec['smallest_val_accuracy']:.3f}, "
              f"{rec['cpu_seconds']:.0f} CPU-s", flush=True)
    entry["epochs"] = training.history
    return supernet, config


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train", type=int, default=1000)
    p.add_argument("--val", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=8, help="supernet epochs")
    p.add_argument("--scratch-epochs", type=int, default=4, help="epochs of each sub-network trained from scratch")
    p.add_argument("--methods", default="progressive,sandwich", help="supernet trainings to compare, in order")
    p.add_argument("--phase-epochs", default="3,1,1,3", help="progressive: epochs of largest,kernel,depth,width")
    p.add_argument("--random", type=int, default=2, help="random sub-networks per sandwich step")
    p.add_argument("--subnets", type=int, default=10)
    p.add_argument("--out", default="runs/elastic_supernet_ps.json")
    p.add_argument("--report-only", action="store_true", help="print the tables of what --out holds so far")
    p.add_argument("--part", choices=("all", "scratch", "supernets"), default="all",
                   help="run only the scratch trainings or only the supernets (two processes at once on a "
                        "shared machine; the scratch results go to OUT.scratch.json either way)")
    p.add_argument("--finetune", type=int, default=1, help="epochs of fine-tuning each inherited sub-network "
                                                          "(lr FINETUNE_LR cosine to lr_min); 0: none")
    args = p.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    scratch_out = out.with_suffix(".scratch.json")
    if args.report_only:
        report(json.loads(out.read_text()), load_scratch(scratch_out))
        return
    part = args.part
    del args.report_only, args.part
    out.parent.mkdir(parents=True, exist_ok=True)
    state = json.loads(out.read_text()) if out.exists() else {}
    if state and state.get("args") != vars(args):
        raise SystemExit(f"{out} holds results of other settings {state['args']}; choose another --out")
    state.setdefault("args", vars(args))
    state.setdefault("date", time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    save = lambda: out.write_text(json.dumps(state, indent=1))  # noqa: E731

    x, y, xv, yv = load(args.train, args.val)
    space = spaces.get("mobilenet-elastic")
    archs = pick_subnets(space, tuple(x.shape[1:]), args.subnets)
    if part != "supernets":
        run_scratch(args, scratch_out, space, archs, x, y, xv, yv)
    if part == "scratch":
        return
    rows = state.setdefault("subnets", {})
    for k, arch in enumerate(archs):  # what does not train: shape, params, FLOPs, latency
        row = rows.setdefault(arch.to_json(), {"describe": space.describe(arch)})
        if "latency_ms" not in row:
            torch.manual_seed(k)
            model = space.build(arch, tuple(x.shape[1:]), 10)
            row["params"] = count_params(model)
            row["latency_ms"] = cpu_latency_ms(model, tuple(x.shape[1:]))
            row["mflops"] = count_flops(model, tuple(x.shape[1:])) / 1e6
            save()
    for method in args.methods.split(","):
        supernet, config = train_supernet(method, args, x, y, xv, yv, out, state, save)
        estimator = ElasticEstimator(supernet, x, xv, yv, config.calibration_batches, config.batch_size,
                                     measure_latency=False)
        mine = state["supernets"][method].setdefault("subnets", {})
        for k, arch in enumerate(archs):  # all inherited first: they are cheap, and the point
            row = mine.setdefault(arch.to_json(), {})
            if "inherited_acc" not in row:
                cpu = time.process_time()
                row["inherited_acc"] = accuracy_and_loss(estimator.inherited(arch), xv, yv)[0]
                row["inherit_cpu_s"] = time.process_time() - cpu
                save()
        for k, arch in enumerate(archs):
            row = mine[arch.to_json()]
            if args.finetune and "finetuned_acc" not in row:
                cpu = time.process_time()
                model = finetune(estimator.inherited(arch), config, x, y, args.finetune, k, FINETUNE_LR)
                row["finetune_cpu_s"] = time.process_time() - cpu
                row["finetuned_acc"] = accuracy_and_loss(model, xv, yv)[0]
                save()
            print(f"{method} subnet {k + 1}/{len(archs)}: {rows[arch.to_json()]['describe']}  inherited "
                  f"{row['inherited_acc']:.3f}  fine-tuned {row.get('finetuned_acc', float('nan')):.3f}", flush=True)
    report(state, load_scratch(scratch_out))


def load_scratch(path: Path) -> dict:
    return json.loads(path.read_text())["rows"] if path.exists() else {}


def run_scratch(args, path: Path, space, archs, x, y, xv, yv) -> None:
    """Each sub-network trained from scratch, results to ``path`` (resumable, one writer)."""
    settings = {k: vars(args)[k] for k in ("train", "val", "scratch_epochs", "subnets")}
    state = json.loads(path.read_text()) if path.exists() else {"args": settings, "rows": {}}
    if state["args"] != settings:
        raise SystemExit(f"{path} holds scratch results of other settings {state['args']}")
    config = OneShotConfig(method="sandwich", epochs=args.scratch_epochs)  # the supernets' recipe: lr, SGD, ...
    for k, arch in enumerate(archs):
        row = state["rows"].setdefault(arch.to_json(), {})
        if "scratch_acc" not in row:
            cpu = time.process_time()
            model = train_scratch(space, arch, config, x, y, k, args.scratch_epochs)
            row["scratch_cpu_s"] = time.process_time() - cpu
            row["scratch_acc"] = accuracy_and_loss(model, xv, yv)[0]
            path.write_text(json.dumps(state, indent=1))
        print(f"scratch {k + 1}/{len(archs)}: {space.describe(arch)}  {row['scratch_acc']:.3f}", flush=True)


def report(state, scratch: dict) -> None:
    """One table and summary per supernet over the sub-networks measured every way so far."""
    base = {k: {**r, **scratch[k]} for k, r in state.get("subnets", {}).items() if "scratch_acc" in scratch.get(k, {})}
    print(f"{state['date']}, {state['args']}: {len(base)} sub-networks trained from scratch")
    for method, entry in state.get("supernets", {}).items():
        cpu = sum(r["cpu_seconds"] for r in entry.get("epochs", []))
        rows = [{**base[k], **r} for k, r in entry.get("subnets", {}).items() if k in base]
        print(f"\n### {method}: {len(entry.get('epochs', []))} supernet epochs, {cpu:.0f} CPU-s "
              f"(costliest scratch training measured: "
              f"{max((r['scratch_cpu_s'] for r in base.values()), default=float('nan')):.0f} CPU-s)")
        if rows:
            report_rows(rows, cpu, state["args"]["finetune"])


def report_rows(rows, supernet_cpu: float, finetune_epochs: int) -> None:
    rows = sorted(rows, key=lambda r: r["params"])
    tuned = all("finetuned_acc" in r for r in rows)
    print("\n| sub-network | params | MFLOPs | CPU latency ms | inherited acc | "
          + ("fine-tuned acc | " if tuned else "")
          + "scratch acc | inherited gap to scratch front (pp) | inherit CPU-s | "
          + ("fine-tune CPU-s | " if tuned else "") + "scratch CPU-s |")
    print("|---|" + "---:|" * (10 if tuned else 8))
    for r in rows:
        cells = [r["describe"], f"{r['params']:,}", f"{r.get('mflops', float('nan')):.1f}", f"{r['latency_ms']:.2f}",
                 f"{100 * r['inherited_acc']:.1f}"] + ([f"{100 * r['finetuned_acc']:.1f}"] if tuned else []) + \
            [f"{100 * r['scratch_acc']:.1f}", f"{gap_to_front(r, rows):+.1f}", f"{r['inherit_cpu_s']:.1f}"] + \
            ([f"{r['finetune_cpu_s']:.0f}"] if tuned else []) + [f"{r['scratch_cpu_s']:.0f}"]
        print("| " + " | ".join(cells) + " |")
    scratch = [r["scratch_acc"] for r in rows]
    scratch_cpu = sum(r["scratch_cpu_s"] for r in rows)
    inherit_cpu = sum(r["inherit_cpu_s"] for r in rows)
    print(f"\nscratch: mean accuracy {100 * np.mean(scratch):.1f}%, {scratch_cpu:.0f} CPU-s "
          f"({scratch_cpu / len(rows):.0f} per sub-network)")
    paths = [("inherited", "inherited_acc", supernet_cpu + inherit_cpu)]
    if tuned:
        paths.append((f"fine-tuned {finetune_epochs} epoch(s)", "finetuned_acc",
                      supernet_cpu + inherit_cpu + sum(r["finetune_cpu_s"] for r in rows)))
    for name, key, cpu in paths:
        acc = [r[key] for r in rows]
        gaps = [gap_to_front(r, rows, key) for r in rows]
        print(f"{name}: mean accuracy {100 * np.mean(acc):.1f}%; Kendall tau vs scratch "
              f"{stats.kendalltau(acc, scratch)[0]:.3f}, Spearman {stats.spearmanr(acc, scratch)[0]:.3f}; gap to the "
              f"scratch accuracy/latency front median {np.median(gaps):+.1f} pp, max {max(gaps):+.1f} pp, within 1 pp "
              f"{sum(g <= 1 for g in gaps)}/{len(gaps)}, within 3 pp {sum(g <= 3 for g in gaps)}/{len(gaps)}; "
              f"{cpu:.0f} CPU-s for all {len(rows)} (supernet {supernet_cpu:.0f} included), "
              f"{cpu / scratch_cpu:.2f}x the scratch cost")


if __name__ == "__main__":
    main()
