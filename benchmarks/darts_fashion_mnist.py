"""DARTS-space search on Fashion-MNIST within 10 CPU-minutes, the derived cell retrained and tested
once, against random ``darts`` cells retrained for the same time (issue 21's Fashion-MNIST check).

Per seed, in this order (each step's result is a JSON file under ``--out`` as soon as it exists;
rerun the same command after a kill to continue, a search from its last completed epoch):

1. **Search** (``--methods``, beta-DARTS first): the ``darts`` supernet (``DartsSupernet``,
   ``--search-C`` / ``--search-layers``) trained by ``GradientSearch`` on ``--search-samples``
   training images (half for the weights, half for the architecture, DARTS's bilevel split) for
   ``--epochs`` epochs, stopped early when the next epoch would pass ``--search-cpu`` CPU-seconds
   (training plus the end-of-epoch report). The cell is derived by DARTS's rule.
2. **Retrain** the derived cell from scratch in the evaluation network (``--eval-C`` /
   ``--eval-layers``; larger than the search network, as in DARTS) for ``--retrain-cpu``
   CPU-seconds on the whole training split, AdamW with a cosine schedule over that CPU time,
   and test once on the 10,000 test images.
3. **Random cell**: ``space.sample`` with the seed, retrained the same way.

Images are 2x2-average-pooled to 14x14 (search and retraining; the supernet costs ~3 CPU-s per
64-image bilevel step even so). Seeds run beta-DARTS and random first; plain DARTS searches run
after every seed has those, so a short run still has the main comparison.

    nice -n 19 env OMP_NUM_THREADS=1 python benchmarks/darts_fashion_mnist.py --out runs/darts-fmnist

One torch thread; CPU-seconds are this process's (``time.process_time``), so a shared machine
slows the run without changing its budgets much.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from nasforge import data, spaces
from nasforge.core import Arch
from nasforge.estimation import count_params
from nasforge.oneshot import DartsSupernet, OneShotConfig, make_training
from nasforge.spaces import darts


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')} cpu {time.process_time() / 60:5.1f} min] {message}", flush=True)


def shrink(x: torch.Tensor) -> torch.Tensor:
    """28x28 -> 14x14 by 2x2 average pooling."""
    return F.avg_pool2d(x, 2)


def load(args):
    ds = data.load("fashion-mnist", val_fraction=0.1)
    x_test, y_test = ds.test()
    return (shrink(ds.x_train), ds.y_train, shrink(ds.x_val), ds.y_val,
            shrink(torch.as_tensor(x_test)), torch.as_tensor(y_test))


def write(path: Path, obj) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(obj, indent=2))
    tmp.replace(path)


def search(method: str, seed: int, x, y, x_val, y_val, args) -> dict:
    """One budgeted search, resumable epoch by epoch; its summary (cached)."""
    out = args.out / f"search-{method}-{seed}.json"
    if out.is_file():
        return json.loads(out.read_text())
    space = spaces.get("darts", C=args.search_C, layers=args.search_layers)
    g = torch.Generator().manual_seed(seed)
    idx = torch.randperm(len(y), generator=g)[: args.search_samples]
    vidx = torch.randperm(len(y_val), generator=g)[: args.val_samples]
    config = OneShotConfig(method=method, epochs=args.epochs, arch_lr=args.arch_lr, seed=seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        supernet = DartsSupernet(space, x.shape[1:], 10)
    training = make_training(supernet, config, x[idx], y[idx], x_val[vidx], y_val[vidx])
    ckpt, state_path = args.out / f"search-{method}-{seed}.pt", args.out / f"search-{method}-{seed}.state.json"
    used = 0.0
    if ckpt.is_file():
        training.load(ckpt)
        used = json.loads(state_path.read_text())["cpu_seconds"]
        log(f"  resumed {method} seed {seed} after epoch {training.epoch} ({used:.0f} CPU-s used)")
    stopped = False
    while training.epoch < config.epochs:
        last = training.history[-1]["cpu_total"] if training.history else 0.0
        if training.history and used + last > args.search_cpu:
            stopped = True
            break
        cpu = time.process_time()
        rec = training.run_epoch()
        rec["cpu_total"] = time.process_time() - cpu  # training + end-of-epoch report
        used += rec["cpu_total"]
        training.save(ckpt)
        write(state_path, {"cpu_seconds": used})
        arch = Arch.from_json(rec["arch"])
        log(f"  {method} seed {seed} epoch {rec['epoch']}/{config.epochs}: loss {rec['train_loss']:.3f}, supernet "
            f"val {rec['supernet_val_accuracy']:.3f}, {rec['cpu_total']:.0f} CPU-s, {rec['activation_mb']:.0f} MB "
            f"activations, {rec['parameter_free_edges']}/16 param-free: {space.describe(arch)}")
    arch = training.derive()
    summary = {"method": method, "seed": seed, "arch": arch.to_json(), "describe": space.describe(arch),
               "genotype": darts.to_genotype(arch), "epochs_done": training.epoch, "stopped_by_budget": stopped,
               "search_cpu_s": used, "parameter_free": DartsSupernet.parameter_free_edges(arch),
               "epochs": [{k: r[k] for k in ("epoch", "train_loss", "supernet_val_accuracy", "cpu_total",
                                             "seconds", "activation_mb", "peak_rss_mb", "parameter_free_edges")}
                          for r in training.history],
               "alpha_softmax": training.history[-1]["alpha_softmax"]}
    write(out, summary)
    return summary


def retrain(name: str, arch: Arch, seed: int, x, y, x_test, y_test, args) -> dict:
    """Train ``arch`` from scratch for ``--retrain-cpu`` CPU-seconds, test once (cached)."""
    out = args.out / f"retrain-{name}.json"
    if out.is_file():
        return json.loads(out.read_text())
    space = spaces.get("darts", C=args.eval_C, layers=args.eval_layers)
    torch.manual_seed(seed)
    net = space.build(arch, x.shape[1:], 10)
    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    g = torch.Generator().manual_seed(seed)
    start, steps, seen = time.process_time(), 0, 0
    net.train()
    done = False
    while not done:
        for batch in torch.randperm(len(y), generator=g).split(64):
            used = time.process_time() - start
            if used >= args.retrain_cpu:
                done = True
                break
            for group in opt.param_groups:  # cosine over the CPU budget
                group["lr"] = args.lr * 0.5 * (1 + math.cos(math.pi * used / args.retrain_cpu))
            loss = F.cross_entropy(net(x[batch]), y[batch])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            steps, seen = steps + 1, seen + len(batch)
    train_cpu = time.process_time() - start
    net.eval()
    with torch.no_grad():
        correct = sum((net(xb).argmax(1) == yb).sum().item() for xb, yb in zip(x_test.split(1000), y_test.split(1000)))
    result = {"name": name, "arch": arch.to_json(), "describe": space.describe(arch), "seed": seed,
              "test_accuracy": correct / len(y_test), "params": count_params(net), "steps": steps,
              "epochs_seen": seen / len(y), "train_cpu_s": train_cpu,
              "parameter_free": DartsSupernet.parameter_free_edges(arch)}
    write(out, result)
    log(f"  retrained {name}: test {result['test_accuracy']:.4f}, {result['params']:,} params, {steps} steps "
        f"({result['epochs_seen']:.2f} epochs) in {train_cpu:.0f} CPU-s")
    return result


def mean_ci(values):
    if not values:
        return "-"
    m = statistics.mean(values)
    if len(values) < 2:
        return f"{100 * m:.2f}"
    half = 1.96 * statistics.stdev(values) / math.sqrt(len(values))
    return f"{100 * m:.2f} ± {100 * half:.2f}"


def table(args) -> None:
    rows = []
    for path in sorted(args.out.glob("retrain-*.json")):
        r = json.loads(path.read_text())
        kind, seed = r["name"].rsplit("-", 1)
        s = args.out / f"search-{kind}-{seed}.json"
        search_cpu = json.loads(s.read_text())["search_cpu_s"] if s.is_file() else 0.0
        rows.append((kind, int(seed), r, search_cpu))
    print("\n| cell | seed | search CPU-s | param-free ops (of 16) | params | retrain CPU-s (epochs) | test acc "
          "| cell |")
    print("|---|---|---|---|---|---|---|---|")
    for kind, seed, r, cpu in sorted(rows, key=lambda t: (t[0], t[1])):
        print(f"| {kind} | {seed} | {cpu:.0f} | {r['parameter_free']} | {r['params']:,} | {r['train_cpu_s']:.0f} "
              f"({r['epochs_seen']:.2f}) | {100 * r['test_accuracy']:.2f} | `{r['describe']}` |")
    print("\n| cell | n | test acc, mean ± 95% CI (%) | param-free ops, mean |")
    print("|---|---|---|---|")
    for kind in sorted({k for k, *_ in rows}):
        accs = [r["test_accuracy"] for k, _, r, _ in rows if k == kind]
        free = [r["parameter_free"] for k, _, r, _ in rows if k == kind]
        print(f"| {kind} | {len(accs)} | {mean_ci(accs)} | {statistics.mean(free):.1f} |")
    searches = sorted(args.out.glob("search-*-*.json"))
    if searches:
        print("\n| search | seed | epochs | stopped by budget | CPU-s | CPU-s/epoch | activation MB | peak RSS MB |"
              " supernet val acc | param-free by epoch |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for path in searches:
            if path.name.endswith(".state.json"):
                continue
            s = json.loads(path.read_text())
            e = s["epochs"]
            print(f"| {s['method']} | {s['seed']} | {s['epochs_done']} | {s['stopped_by_budget']} | "
                  f"{s['search_cpu_s']:.0f} | {statistics.mean(r['cpu_total'] for r in e):.0f} | "
                  f"{max(r['activation_mb'] for r in e):.0f} | {max(r['peak_rss_mb'] for r in e):.0f} | "
                  f"{e[-1]['supernet_val_accuracy']:.3f} | {' '.join(str(r['parameter_free_edges']) for r in e)} |")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("runs/darts-fmnist"))
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--seed", type=int, default=None,
                   help="run only this seed (start one process per seed to use several cores)")
    p.add_argument("--methods", nargs="+", default=["beta-darts", "darts"],
                   help="searches; the first runs with the random cells, the others after all seeds")
    p.add_argument("--search-cpu", type=float, default=600.0, help="CPU-seconds per search (default 600)")
    p.add_argument("--search-samples", type=int, default=4000)
    p.add_argument("--val-samples", type=int, default=1000)
    p.add_argument("--epochs", type=int, default=5)
    p.add_argument("--arch-lr", type=float, default=6e-3,
                   help="Adam lr of alpha; ~20x DARTS's 3e-4, for ~150 architecture steps instead of ~20,000")
    p.add_argument("--search-C", type=int, default=4)
    p.add_argument("--search-layers", type=int, default=3)
    p.add_argument("--eval-C", type=int, default=8)
    p.add_argument("--eval-layers", type=int, default=5)
    p.add_argument("--retrain-cpu", type=float, default=180.0, help="CPU-seconds per retraining (default 180)")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--table-only", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(1)
    args.out.mkdir(parents=True, exist_ok=True)
    if args.table_only:
        table(args)
        return
    log(f"python {platform.python_version()}, torch {torch.__version__}, {platform.processor() or platform.machine()}; "
        f"settings {vars(args)}")
    x, y, x_val, y_val, x_test, y_test = load(args)
    space = spaces.get("darts")
    first, *others = args.methods
    seeds = [args.seed] if args.seed is not None else range(args.seeds)
    for seed in seeds:
        s = search(first, seed, x, y, x_val, y_val, args)
        retrain(f"{first}-{seed}", Arch.from_json(s["arch"]), seed, x, y, x_test, y_test, args)
        random_arch = space.sample(np.random.default_rng(seed))
        retrain(f"random-{seed}", random_arch, seed, x, y, x_test, y_test, args)
        table(args)
    for method in others:
        for seed in seeds:
            s = search(method, seed, x, y, x_val, y_val, args)
            retrain(f"{method}-{seed}", Arch.from_json(s["arch"]), seed, x, y, x_test, y_test, args)
            table(args)
    table(args)


if __name__ == "__main__":
    main()
