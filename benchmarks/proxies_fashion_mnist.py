"""Zero-cost proxies against real training on Fashion-MNIST (issue 19's real-data check).

Trains ``--n`` random ``macro-cnn`` architectures for real (a resumable study: rerunning
continues it), then scores each untrained network with every proxy on one batch of the
training split, and prints Spearman and Kendall of each proxy against the trained
validation accuracy, with CPU seconds per architecture beside the training's own seconds
(the reference measured in the same run).

    python benchmarks/proxies_fashion_mnist.py --n 30 --epochs 1 --subset 0.2 [--workers 3]
"""

from __future__ import annotations

import argparse
import functools
import time

import numpy as np
import torch

from nasforge import data, proxies, spaces
from nasforge.api import SearchSpec, estimator_from_spec, open_study
from nasforge.core import TrialStatus


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=30, help="architectures trained for real")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--subset", type=float, default=0.2, help="fraction of the training split per trial")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--study", default="runs/proxies-fashion-mnist.db")
    parser.add_argument("--batch-size", type=int, default=proxies.DEFAULT_BATCH)
    parser.add_argument("--workers", type=int, default=1, help="trainings run in parallel (processes)")
    args = parser.parse_args()
    torch.set_num_threads(1)

    spec = SearchSpec(space="macro-cnn", dataset="fashion-mnist", strategy="random", epochs=args.epochs,
                      subset=args.subset, seed=args.seed)
    study = open_study(args.study, spec)
    # several workers train the seeded random sample's architectures side by side (the same ones, in the same
    # order, as one worker asks them); each builds its own estimator from the stored spec, as `nasforge search`
    study.optimize(n_trials=args.n, workers=args.workers,
                   estimator_factory=functools.partial(estimator_from_spec, study.storage.meta()["spec"]))
    trials = [t for t in study.storage.trials() if t.status == TrialStatus.OK][:args.n]
    study.close()
    dataset = data.load("fashion-mnist")
    space = spaces.get("macro-cnn")
    batch = proxies.batch_from(dataset, args.batch_size, args.seed)
    start = time.process_time()
    screening = proxies.score_archs(space, [t.arch for t in trials], batch, dataset.num_classes, proxies.names(),
                                    args.seed)
    scoring_cpu = time.process_time() - start
    accuracy = np.array([t.metrics["val_accuracy"] for t in trials])
    train_s = float(np.mean([t.duration_s for t in trials]))
    print(f"{len(trials)} random macro-cnn architectures trained {args.epochs} epoch(s) on {args.subset:.0%} of "
          f"Fashion-MNIST's training split (val accuracy {accuracy.min():.3f}-{accuracy.max():.3f}; "
          f"{train_s:.1f} s of training each); proxies on one batch of {args.batch_size}.")
    print(f"{'proxy':<10} {'spearman':>9} {'kendall':>8} {'cpu s/arch':>11}")
    for name in proxies.names():
        scores = [r.scores[name] for r in screening.rows]
        cpu = float(np.mean([r.cpu_seconds[name] for r in screening.rows]))
        print(f"{name:<10} {proxies.spearman(scores, accuracy):>9.3f} {proxies.kendall(scores, accuracy):>8.3f} "
              f"{cpu:>11.3f}")
    print(f"all proxies: {scoring_cpu / len(trials):.2f} CPU s per architecture; training: {train_s:.1f} s each")


if __name__ == "__main__":
    main()
