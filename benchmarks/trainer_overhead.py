"""Trainer overhead: nasforge's ``train_model`` vs a plain hand-written PyTorch loop.

Both loops train the same macro-cnn model (identical initial weights) on the same
fixed Fashion-MNIST training subset, on the CPU with 2 threads, doing the same
work: AdamW with nasforge's default lr/weight decay, the same batch size (the
``TrainConfig`` default unless ``--batch-size`` is given), a per-step warm-up +
cosine LR schedule, a fresh shuffle every epoch, cross-entropy loss.
No validation is run. The two are timed alternately (plain, nasforge, plain, ...)
after one untimed warm-up pass each, and the table reports, per architecture,
the median training throughput (samples/s) of each and their ratio.

How to read it: ``ratio`` = nasforge / plain. 1.00 means the trainer costs nothing
over a hand-written loop; the target is ratio >= 0.95. Differences of a few
percent between repeats are ordinary CPU timing noise.

    python benchmarks/trainer_overhead.py [--repeats 3] [--samples 10000] [--epochs 2] [--batch-size N]
"""

from __future__ import annotations

import argparse
import copy
import gc
import math
import os
import statistics
import time

import numpy as np
import torch
import torch.nn.functional as F

from nasforge import data, spaces
from nasforge.estimation import TrainConfig, count_flops, count_params, train_model

# Seeds for space.sample(np.random.default_rng(seed)): three models whose training
# steps cost roughly 1x, 2x and 5x (the cheapest shows per-step overhead the most).
ARCH_SEEDS = (6, 11, 8)
SEED = 0


def plain_loop(model, x, y, epochs, config: TrainConfig, seed: int) -> None:
    """The idiomatic hand-written loop the trainer is compared with."""
    torch.manual_seed(seed)
    n, bs = len(y), config.batch_size
    total_steps = math.ceil(n / bs) * epochs
    warmup = max(1, int(total_steps * config.warmup_fraction))
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warmup if s < warmup
        else 0.5 * (1 + math.cos(math.pi * min(1.0, (s - warmup) / max(1, total_steps - warmup)))))
    for _ in range(epochs):
        model.train()
        perm = torch.randperm(n)
        running_loss = 0.0
        for i in range(0, n, bs):
            idx = perm[i:i + bs]
            loss = F.cross_entropy(model(x[idx]), y[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            running_loss += loss.item() * len(idx)


def nasforge_loop(model, x, y, epochs, config: TrainConfig, seed: int) -> None:
    train_model(model, x, y, epochs, config, seed)  # no `val`: no evaluation in the timing


def timed(loop, initial, x, y, epochs, config) -> float:
    """Training throughput in samples/s of ``loop`` on a fresh copy of ``initial``."""
    model = copy.deepcopy(initial)
    gc.collect()
    start = time.perf_counter()
    loop(model, x, y, epochs, config, SEED)
    return len(y) * epochs / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed runs of each loop per architecture")
    parser.add_argument("--samples", type=int, default=10_000, help="size of the fixed training subset")
    parser.add_argument("--epochs", type=int, default=2, help="epochs per timed run")
    parser.add_argument("--batch-size", type=int, default=TrainConfig().batch_size, help="for both loops")
    args = parser.parse_args()

    torch.set_num_threads(2)
    ds = data.load("fashion-mnist")
    x, y = ds.x_train[:args.samples].contiguous(), ds.y_train[:args.samples].contiguous()
    space = spaces.get("macro-cnn")
    config = TrainConfig(batch_size=args.batch_size, device="cpu")
    print(f"torch {torch.__version__}, threads={torch.get_num_threads()}, samples={len(y)}, "
          f"epochs={args.epochs}, repeats={args.repeats}, batch_size={config.batch_size}, "
          f"load average {os.getloadavg()[0]:.2f} (other work on the cores skews the timings)")

    rows = []
    for k in ARCH_SEEDS:
        arch = space.sample(np.random.default_rng(k))
        torch.manual_seed(SEED)
        initial = space.build(arch, ds.input_shape, ds.num_classes)
        print(f"\narch seed {k}: {space.describe(arch)}  "
              f"({count_params(initial):,} params, {count_flops(initial, ds.input_shape) / 1e6:.1f} MFLOPs)")
        warm_x, warm_y = x[:4 * config.batch_size], y[:4 * config.batch_size]
        for loop in (plain_loop, nasforge_loop):  # untimed warm-up of both code paths
            timed(loop, initial, warm_x, warm_y, 1, config)
        plain, forge = [], []
        for r in range(args.repeats):
            plain.append(timed(plain_loop, initial, x, y, args.epochs, config))
            forge.append(timed(nasforge_loop, initial, x, y, args.epochs, config))
            print(f"  repeat {r + 1}: plain {plain[-1]:8.1f}  nasforge {forge[-1]:8.1f} samples/s")
        p, f = statistics.median(plain), statistics.median(forge)
        rows.append((f"{k}: {space.describe(arch)}", p, f, f / p))

    width = max(len(r[0]) for r in rows)
    print(f"\n{'architecture (seed: arch)':<{width}} | plain samples/s | nasforge samples/s | ratio")
    print(f"{'-' * width}-|-----------------|--------------------|------")
    for name, p, f, ratio in rows:
        print(f"{name:<{width}} | {p:15.1f} | {f:18.1f} | {ratio:5.3f}")
    worst = min(r[3] for r in rows)
    verdict = "met" if worst >= 0.95 else "NOT met"
    print(f"\nworst ratio {worst:.3f}: target >= 0.95 {verdict} (load average {os.getloadavg()[0]:.2f})")


if __name__ == "__main__":
    main()
