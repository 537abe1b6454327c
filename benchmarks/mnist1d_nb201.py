"""Generate nasforge's MNIST-1D benchmark: every unique NB201 cell, 1-D, trained on MNIST-1D.

Each of the 4,930 isomorphism classes of NB201 cells (``spaces.nb201.unique_archs``)
is trained once (seed pass 0), and the first 1,000 of a fixed shuffle a second
time (pass 1) to measure seed noise, with nasforge's own study runtime: the
study file is resumable (kill it, rerun the same command), and ``pack`` folds
its finished trials into the shipped table
``src/nasforge/benchmarks/data/mnist1d_nb201.json.gz`` (the table is also the
checkpoint between sessions: ``generate`` skips cells it already holds).

    python benchmarks/mnist1d_nb201.py generate --hours 2 [--workers 2]
    python benchmarks/mnist1d_nb201.py pack
    python benchmarks/mnist1d_nb201.py status

Setting (recorded in the table's meta): NB201 skeleton with 16 channels and one
cell per stage, 1-D convolutions, MNIST-1D (5,000 samples generated locally,
4,000 train / 1,000 test; 10 % of train held out for validation), 12 epochs of
nasforge's default trainer (AdamW, lr 3e-3, batch 64, warm-up + cosine), one
torch thread per trial.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

import numpy as np

from nasforge.api import SearchSpec
from nasforge.arch import Arch
from nasforge.benchmarks._mnist1d import TABLE
from nasforge.estimation import Fidelity, TrainingEstimator
from nasforge.spaces import nb201
from nasforge.strategies import Strategy, TrialRequest
from nasforge.study import Storage, Study

SPACE_OPTIONS = {"channels": 16, "cells_per_stage": 1}
EPOCHS = 12
SECOND_PASS = 1000
STUDY = "runs/mnist1d_nb201.db"


def make_estimator() -> TrainingEstimator:
    from nasforge import data, spaces

    return TrainingEstimator(spaces.get("nb201", **SPACE_OPTIONS), data.load("mnist1d"), report_test=True)


def todo(done: dict[str, int]) -> list[tuple[Arch, int]]:
    """(cell, pass) still to train: every cell once, then SECOND_PASS cells a second time."""
    cells = nb201.unique_archs()
    first = [(a, 0) for a in cells if done.get(nb201.canonical(a), 0) < 1]
    order = np.random.default_rng(2026).permutation(len(cells))[:SECOND_PASS]
    second = [(cells[i], 1) for i in order if done.get(nb201.canonical(cells[i]), 0) < 2]
    return first + second


class Enumerate(Strategy):
    """Asks the to-do list in order; a resumed study skips what its file already holds."""

    name = "enumerate"

    def __init__(self, space, items: list[tuple[Arch, int]]):
        super().__init__(space, 0)
        self.items, self.next = items, 0

    def ask(self):
        arch, run = self.items[min(self.next, len(self.items) - 1)]
        self.next += 1
        return TrialRequest(arch, meta={"pass": run})

    def tell(self, request, result):
        pass


def read_table() -> dict:
    if TABLE.is_file():
        with gzip.open(TABLE, "rt") as f:
            return json.load(f)
    return {"meta": {"space_options": SPACE_OPTIONS, "epochs": EPOCHS, "dataset": "mnist1d",
                     "trainer": "nasforge default (AdamW lr 3e-3, batch 64, warm-up + cosine), 1 thread",
                     "command": "python benchmarks/mnist1d_nb201.py generate && python benchmarks/mnist1d_nb201.py pack"},
            "cells": {}}


def runs_in(table: dict) -> dict[str, int]:
    return {k: len(r["curves"]) for k, r in table["cells"].items()}


def study_runs(storage: Storage, table: dict) -> dict[str, int]:
    """Finished runs in the study that the table does not hold yet (packed runs count once)."""
    counts: dict[str, int] = {}
    for t in storage.trials(("ok",)):
        key = nb201.canonical(t.arch)
        if t.seed not in table["cells"].get(key, {}).get("seeds", ()):
            counts[key] = counts.get(key, 0) + 1
    return counts


def generate(args):
    import torch

    torch.set_num_threads(1)
    table = read_table()
    path = Path(args.study)
    path.parent.mkdir(parents=True, exist_ok=True)
    # a new study file gets a seed no earlier session used, so its trial seeds are new too
    seed = 2026 + sum(len(r["curves"]) for r in table["cells"].values())
    spec = SearchSpec(space="nb201", dataset="mnist1d", strategy="enumerate", epochs=EPOCHS,
                      space_options=SPACE_OPTIONS, seed=seed)
    storage = Storage.open(path) if path.exists() else Storage.create(path, {"spec": spec.to_dict()})
    seed = storage.meta()["spec"]["seed"]
    done = runs_in(table)
    for key, n in study_runs(storage, table).items():
        done[key] = done.get(key, 0) + n
    items = todo(done)
    print(f"{len(items)} trainings to go ({sum(done.values())} done); study {path}", flush=True)
    if not items:
        return
    estimator = make_estimator()
    study = Study(storage, Enumerate(estimator.space, items), estimator, Fidelity(epochs=EPOCHS), seed=seed)
    study.optimize(n_trials=study.finished_count() + len(items), time_budget=study.elapsed() + args.hours * 3600,
                   workers=args.workers, estimator_factory=make_estimator if args.workers > 1 else None)
    print(f"stopped with {study.finished_count()} trials in {path}; run `pack` to update the table", flush=True)


def pack(args):
    table = read_table()
    storage = Storage.open(args.study)
    added = 0
    for t in storage.trials(("ok",)):
        key = nb201.canonical(t.arch)
        rec = table["cells"].setdefault(key, {"arch": nb201.to_string(t.arch), "params": t.metrics["params"],
                                              "flops": t.metrics["flops"],
                                              "latency_ms": round(t.metrics["latency_ms"], 4),
                                              "curves": [], "test_accuracy": [], "train_seconds": [], "seeds": []})
        if t.seed in rec["seeds"]:
            continue  # packed before
        rec["curves"].append([round(p["val_accuracy"], 5) for p in t.curve])
        rec["test_accuracy"].append(round(t.metrics["test_accuracy"], 5))
        rec["train_seconds"].append(round(t.metrics["train_seconds"], 3))
        rec["seeds"].append(t.seed)
        added += 1
    TABLE.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(TABLE, "wt") as f:
        json.dump(table, f, separators=(",", ":"))
    print(f"packed {added} new runs; table has {len(table['cells'])} cells, "
          f"{sum(len(r['curves']) for r in table['cells'].values())} runs -> {TABLE} ({TABLE.stat().st_size:,} bytes)")


def status(args):
    table = read_table()
    done = runs_in(table)
    print(f"table: {len(table['cells'])} of {len(nb201.unique_archs())} cells, "
          f"{sum(n >= 2 for n in done.values())} with two runs; {len(todo(done))} trainings to go")


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("command", choices=("generate", "pack", "status"))
    p.add_argument("--study", default=STUDY)
    p.add_argument("--hours", type=float, default=2.0)
    p.add_argument("--workers", type=int, default=1, help="trials in parallel, one torch thread each")
    args = p.parse_args()
    {"generate": generate, "pack": pack, "status": status}[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
