"""Does a short training rank architectures the way the final training does?

For a set of architectures (the space's priors plus seeded random samples),
one continued training per architecture (``TrainingRun``, as ``nasforge
auto`` uses) is scored on validation data (EMA weights) at each look in
``--looks`` seconds, then continued on train+validation with the learning
rate decaying to zero at ``--final-seconds`` of training in all, and tested
once. The table gives each look's rank correlation (Spearman, Kendall) with
the final test accuracy, and the top-1 regret of picking by that look: the
numbers a fidelity schedule must be designed against.

    python benchmarks/fidelity_ranking.py                          # fashion-mnist, 400 s finals
    python benchmarks/fidelity_ranking.py --dataset digits --final-seconds 20 --looks 1 3 --samples 2
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch


def spearman(a, b) -> float:
    ra, rb = np.argsort(np.argsort(a)), np.argsort(np.argsort(b))
    return float(np.corrcoef(ra, rb)[0, 1])


def kendall(a, b) -> float:
    n, s = len(a), 0
    for i in range(n):
        for j in range(i + 1, n):
            s += np.sign(a[i] - a[j]) * np.sign(b[i] - b[j])
    return float(2 * s / (n * (n - 1)))


def measure(space, arch, ds, looks, final_seconds, seed, val_samples):
    from nasforge.auto import continue_until
    from nasforge.estimation import TrainConfig, TrainingRun, count_params, evaluate_model

    torch.manual_seed(seed)
    run = TrainingRun(space.build(arch, ds.input_shape, ds.num_classes), TrainConfig(), seed)
    scores = []
    for look in looks:
        run.run(ds.x_train, ds.y_train, look - run.seconds)
        scores.append(evaluate_model(run.eval_model(), ds.x_val[:val_samples], ds.y_val[:val_samples])[0])
    x, y = ds.train_and_val()
    continue_until(run, x, y, final_seconds - run.seconds)  # as `nasforge auto` trains its winner
    model = run.finish()
    return scores, evaluate_model(model, *ds.test())[0], count_params(model), run.samples / len(y)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--dataset", default="fashion-mnist")
    p.add_argument("--space", default="macro-cnn")
    p.add_argument("--looks", type=float, nargs="+", default=[10.0, 30.0, 90.0])
    p.add_argument("--final-seconds", type=float, default=400.0)
    p.add_argument("--samples", type=int, default=6, help="random architectures besides the priors")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--val-samples", type=int, default=2000)
    p.add_argument("--out", default="runs/fidelity_ranking.json")
    args = p.parse_args()
    from nasforge import data, spaces

    torch.set_num_threads(args.threads)
    ds = data.load(args.dataset)
    space = spaces.get(args.space)
    rng = np.random.default_rng(args.seed)
    archs = list(space.priors()) + [space.sample(rng) for _ in range(args.samples)]
    rows = []
    for i, arch in enumerate(archs):
        start = time.monotonic()
        scores, test, params, epochs = measure(space, arch, ds, sorted(args.looks), args.final_seconds, args.seed,
                                               args.val_samples)
        rows.append({"arch": arch.to_dict(), "description": space.describe(arch), "looks": scores,
                     "test_accuracy": test, "params": params, "epochs": epochs})
        print(f"{i + 1}/{len(archs)} {time.monotonic() - start:.0f}s  test {test:.4f}  "
              f"looks {' '.join(f'{s:.4f}' for s in scores)}  {params:,}  {space.describe(arch)}", flush=True)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"args": vars(args), "rows": rows}, indent=2))
    final = [r["test_accuracy"] for r in rows]
    print(f"\n{args.dataset}, {len(rows)} architectures, final = {args.final_seconds:g}s of training in all\n")
    print("| look (s of training) | Spearman | Kendall | pick by look: final test | regret vs best |")
    print("|---|---|---|---|---|")
    for k, look in enumerate(sorted(args.looks)):
        score = [r["looks"][k] for r in rows]
        pick = final[int(np.argmax(score))]
        print(f"| {look:g} | {spearman(score, final):.2f} | {kendall(score, final):.2f} | {pick:.4f} | "
              f"{max(final) - pick:.4f} |")


if __name__ == "__main__":
    main()
