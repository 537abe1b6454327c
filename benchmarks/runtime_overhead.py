"""Study-runtime overhead per trial, with an instant objective.

Runs ``--trials`` trials of a strategy on ``macro-cnn`` against an objective
that costs almost nothing (a score computed from the architecture), once
through ``Study`` (SQLite persistence, strategy state committed per trial,
resume bookkeeping) and once as a bare ask/evaluate/tell loop in memory —
the in-run reference. Prints the per-trial time in windows of the run, so
growth with study size shows, and the persistence overhead per trial.
Target (issue 4): under 2 ms per trial sequentially, and flat.

    python benchmarks/runtime_overhead.py [--trials 10000] [--strategy evolution]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from nasforge import spaces, strategies
from nasforge.core import Estimator, Fidelity, Result, TrialStatus
from nasforge.study import Storage, Study


class InstantObjective(Estimator):
    """Fraction of decisions equal to a fixed target: microseconds per call."""

    def __init__(self, space):
        self.space = space
        self.target = space.sample(np.random.default_rng(99))

    def evaluate(self, arch, fidelity, seed, on_epoch=None):
        score = sum(arch[k] == v for k, v in self.target.decisions.items()) / len(self.target.decisions)
        return Result(TrialStatus.OK, {"val_accuracy": score}, [], fidelity.to_dict(), 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--windows", type=int, default=5)
    parser.add_argument("--strategy", default="evolution")
    args = parser.parse_args()
    space = spaces.get("macro-cnn")
    objective = InstantObjective(space)
    step = args.trials // args.windows

    bare = strategies.get(args.strategy, space, seed=0)
    start = time.perf_counter()
    for _ in range(args.trials):
        request = bare.ask()
        bare.tell(request, objective.evaluate(request.arch, Fidelity(), 0))
    bare_ms = (time.perf_counter() - start) * 1000 / args.trials

    with tempfile.TemporaryDirectory() as tmp:
        study = Study(Storage.create(Path(tmp) / "overhead.db", {"spec": {}}),
                      strategies.get(args.strategy, space, seed=0), objective, Fidelity(), 0)
        print(f"{args.trials} trials, strategy {args.strategy}, space macro-cnn, instant objective")
        print("trials            | study ms/trial | bare loop ms/trial | persistence overhead ms/trial")
        print("------------------|----------------|--------------------|------------------------------")
        windows = []
        for w in range(args.windows):
            start = time.perf_counter()
            study.optimize(n_trials=(w + 1) * step)
            ms = (time.perf_counter() - start) * 1000 / step
            windows.append(ms)
            print(f"{w * step + 1:>6}-{(w + 1) * step:<10} | {ms:14.2f} | {bare_ms:18.2f} | {ms - bare_ms:29.2f}")
        growth = windows[-1] / windows[0]
        print(f"last window / first window = {growth:.2f} (flat is 1.0); "
              f"target < 2 ms/trial: {'met' if max(windows) < 2 else 'NOT met'}")


if __name__ == "__main__":
    main()
