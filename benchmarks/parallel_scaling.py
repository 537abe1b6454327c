"""Scaling of isolated parallel trials: 1-second sleep trials on 1, 2, 4, 8 workers.

Each configuration runs ``--trials-per-worker`` x workers trials whose
evaluation sleeps one second, through ``Study`` with the spawned worker
pool. Efficiency = ideal time (trials x 1 s / workers) / measured time,
where measured time includes starting the workers. The in-run reference is
the ideal time itself. Target (issue 4): efficiency >= 0.9 at 8 workers.

    python benchmarks/parallel_scaling.py [--trials-per-worker 8] [--executor ray]

With ``--executor ray`` the trials are Ray tasks on a local Ray instance
started once before the first configuration (``ray.init`` is not counted;
Ray keeps its worker processes between configurations). Ray starts a worker
process per concurrent task on first use, which imports torch: ``--warm``
starts them before timing, as on a cluster that is already running.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from nasforge import spaces, strategies
from nasforge.core import Estimator, Fidelity, Result, TrialStatus
from nasforge.study import Storage, Study


class SleepObjective(Estimator):
    def __init__(self, space, seconds=1.0):
        self.space, self.seconds = space, seconds

    def evaluate(self, arch, fidelity, seed, on_epoch=None):
        time.sleep(self.seconds)
        return Result(TrialStatus.OK, {"val_accuracy": (seed % 1000) / 1000}, [], fidelity.to_dict(), self.seconds)


def _warm():
    import nasforge.estimation  # noqa: F401  (imports torch, as a trial would)

    time.sleep(1.0)  # keep this worker busy so the next warm-up task starts another one


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials-per-worker", type=int, default=8)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2, 4, 8])
    parser.add_argument("--executor", choices=("process", "ray"), default="process")
    parser.add_argument("--warm", action="store_true",
                        help="with ray: start the Ray workers before timing, as on a running cluster")
    args = parser.parse_args()
    space = spaces.get("macro-cnn")
    if args.executor == "ray":
        import ray

        ray.init(num_cpus=max(args.workers), include_dashboard=False, log_to_driver=False)
        if args.warm:  # start (and import torch in) as many Ray workers as the largest configuration uses
            ray.get([ray.remote(_warm).remote() for _ in range(max(args.workers))])
    print(f"executor: {args.executor}")
    print("workers | trials | ideal s | measured s | efficiency")
    print("--------|--------|---------|------------|-----------")
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.workers:
            trials = n * args.trials_per_worker
            study = Study(Storage.create(Path(tmp) / f"w{n}.db", {"spec": {}}),
                          strategies.get("random", space, seed=0), SleepObjective(space), Fidelity(), 0)
            start = time.perf_counter()
            study.optimize(n_trials=trials, workers=n, trial_timeout=60, executor=args.executor)
            measured = time.perf_counter() - start
            ideal = trials * 1.0 / n
            assert study.finished_count() == trials
            print(f"{n:7d} | {trials:6d} | {ideal:7.1f} | {measured:10.1f} | {ideal / measured:9.2f}", flush=True)


if __name__ == "__main__":
    main()
