"""Training precision: nasforge's ``precision="auto"`` vs plain fp32, same time limit.

For each network (the hand CNN of ``budgeted_search.py``, the 2-D priors of
``macro-cnn`` and a MobileNet-style ``mobilenet-elastic`` network), trains
for ``--seconds`` on Fashion-MNIST with ``precision="fp32"`` (the reference:
contiguous tensors, fp32, what a plain loop does) and with
``precision="auto"`` (channels-last; bf16 autocast where timing the first
steps shows it is faster), alternately, and reports training throughput and
their ratio, plus which precision ``auto`` kept. With ``--accuracy`` it also
trains the hand CNN for ``--epochs`` in fp32 and in bf16 and reports
validation accuracy at equal epochs (the check that bf16 costs no accuracy).

    python benchmarks/precision.py [--seconds 20] [--threads 2] [--accuracy --epochs 2]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).parent))
from budgeted_search import hand_cnn  # noqa: E402


def networks(input_shape, num_classes):
    from nasforge import spaces

    macro = spaces.get("macro-cnn")
    nets = [("hand CNN", lambda: hand_cnn(input_shape[0], num_classes, 2))]
    for i, arch in enumerate(macro.priors()):
        nets.append((f"macro prior {i}: {macro.describe(arch)}",
                     lambda a=arch: macro.build(a, input_shape, num_classes)))
    mobile = spaces.get("mobilenet-elastic")
    arch = mobile.sample(np.random.default_rng(0))
    nets.append((f"mobilenet: {mobile.describe(arch)}", lambda: mobile.build(arch, input_shape, num_classes)))
    return nets


def throughput(build, ds, precision, seconds):
    from nasforge.estimation import TrainConfig, train_model

    torch.manual_seed(0)
    model = build()
    start = time.perf_counter()
    curve = train_model(model, ds.x_train, ds.y_train, 10_000, TrainConfig(precision=precision), 0,
                        time_limit=seconds)
    elapsed = time.perf_counter() - start
    return curve[-1]["epoch"] * len(ds.y_train) / elapsed, bool(curve[-1].get("bf16"))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seconds", type=float, default=20.0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--accuracy", action="store_true")
    p.add_argument("--epochs", type=int, default=2)
    args = p.parse_args()
    from nasforge import data
    from nasforge.estimation import TrainConfig, evaluate_model, train_model
    from nasforge.estimation._precision import bf16_is_native

    torch.set_num_threads(args.threads)
    ds = data.load("fashion-mnist")
    print(f"torch {torch.__version__}, {args.threads} threads, native bf16: {bf16_is_native(torch.device('cpu'))}, "
          f"{args.seconds:g} s of training each\n")
    print("| network | fp32 samples/s | auto samples/s | ratio | auto kept |")
    print("|---|---|---|---|---|")
    for name, build in networks(ds.input_shape, ds.num_classes):
        ref, _ = throughput(build, ds, "fp32", args.seconds)
        auto, bf16 = throughput(build, ds, "auto", args.seconds)
        print(f"| {name} | {ref:,.0f} | {auto:,.0f} | {auto / ref:.2f} | {'bf16' if bf16 else 'fp32'} |", flush=True)
    if args.accuracy:
        print(f"\n| hand CNN, {args.epochs} epochs | val accuracy | seconds |\n|---|---|---|")
        for precision in ("fp32", "bf16"):
            torch.manual_seed(0)
            model = hand_cnn(1, ds.num_classes, 2)
            start = time.perf_counter()
            train_model(model, ds.x_train, ds.y_train, args.epochs, TrainConfig(precision=precision), 0)
            acc = evaluate_model(model, ds.x_val, ds.y_val)[0]
            print(f"| {precision} | {acc:.4f} | {time.perf_counter() - start:.0f} |", flush=True)


if __name__ == "__main__":
    main()
