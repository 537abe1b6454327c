"""Generate nasforge's MNIST-1D benchmark: every unique NB201 cell, 1-D, trained on MNIST-1D.

Each of the 4,930 isomorphism classes of NB201 cells (``spaces.nb201.unique_archs``)
is trained once (seed pass 0), and 1,000 of them a second time (pass 1) to
measure seed noise, with nasforge's own study runtime: the study file is
resumable (kill it, rerun the same command), and ``pack`` folds its finished
trials into the shipped table ``src/nasforge/benchmarks/data/mnist1d_nb201.json.gz``
(the table is also the checkpoint between sessions: ``generate`` skips cells
it already holds).

The cells are trained in a fixed random order, the 1,000 twice-trained ones
first (both runs back to back): a partly generated table is a uniform sample
of the space with its noise already measured.

    python benchmarks/mnist1d_nb201.py generate --hours 2 [--workers 2]
    python benchmarks/mnist1d_nb201.py pack
    python benchmarks/mnist1d_nb201.py status

Setting (``setting()``, recorded in the table's meta and checked against the
study file): NB201 skeleton with 16 channels and one cell per stage, 1-D
convolutions; MNIST-1D (5,000 samples generated locally): 1,000 training
samples (a fixed third of the 3,000 left after holding out 1,000 for
validation), 1,000 validation, 1,000 test; 12 epochs of nasforge's default
trainer (AdamW, lr 3e-3, batch 64, warm-up + cosine, fp32), one torch thread
per trial. About 5 s per training on this project's CPUs. Why 1,000 training
samples: on all 3,600, 12 epochs took ~13 s and half the cells scored within
0.75 points of each other (97.75-98.5% validation, on 400 samples), about the
size of the seed noise; with fewer samples the architectures spread further
apart and the table costs a third.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path

import numpy as np

from nasforge.api import SearchSpec
from nasforge.core import Arch, Fidelity, Strategy, TrialRequest
from nasforge.benchmarks._mnist1d import TABLE
from nasforge.estimation import TrainingEstimator
from nasforge.spaces import nb201
from nasforge.study import Storage, Study

SPACE_OPTIONS = {"channels": 16, "cells_per_stage": 1}
EPOCHS = 12
VAL_FRACTION = 0.25  # of MNIST-1D's 4,000 training samples: 1,000 for validation
SUBSET = 1 / 3  # of the remaining 3,000: 1,000 training samples
SECOND_PASS = 1000
STUDY = "runs/mnist1d_nb201.db"


def setting() -> dict:
    """What the table's numbers depend on, recorded in its meta and in the study file."""
    return {"space_options": SPACE_OPTIONS, "epochs": EPOCHS, "dataset": "mnist1d", "num_samples": 5000,
            "val_fraction": VAL_FRACTION, "subset": round(SUBSET, 6), "train_samples": 1000, "val_samples": 1000,
            "test_samples": 1000,
            "trainer": "nasforge default (AdamW lr 3e-3, batch 64, warm-up + cosine, fp32), 1 thread"}


def make_estimator() -> TrainingEstimator:
    from nasforge import data, spaces

    return TrainingEstimator(spaces.get("nb201", **SPACE_OPTIONS), data.load("mnist1d", val_fraction=VAL_FRACTION),
                             report_test=True)


def todo(done: dict[str, int]) -> list[tuple[Arch, int]]:
    """(cell, pass) still to train, in a fixed random order: the first SECOND_PASS cells twice
    (back to back), then every other cell once."""
    cells = nb201.unique_archs()
    order = np.random.default_rng(2026).permutation(len(cells))
    items = []
    for rank, i in enumerate(order):
        runs = 2 if rank < SECOND_PASS else 1
        items += [(cells[i], run) for run in range(done.get(nb201.canonical(cells[i]), 0), runs)]
    return items


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
    return {"meta": {**setting(), "command": "python benchmarks/mnist1d_nb201.py generate && "
                                            "python benchmarks/mnist1d_nb201.py pack"},
            "cells": {}}


def check_setting(recorded: dict, where: str) -> None:
    """Refuse to mix runs of another setting (an older table or study file) into this one."""
    differ = {k: (recorded.get(k), v) for k, v in setting().items() if recorded.get(k) != v}
    if differ:
        raise SystemExit(f"{where} was made with another setting ({differ}, recorded vs current); "
                         "move it away to start afresh")


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
    check_setting(table["meta"], str(TABLE))
    path = Path(args.study)
    path.parent.mkdir(parents=True, exist_ok=True)
    # a new study file gets a seed no earlier session used, so its trial seeds are new too
    seed = 2026 + sum(len(r["curves"]) for r in table["cells"].values())
    spec = SearchSpec(space="nb201", dataset="mnist1d", strategy="enumerate", epochs=EPOCHS,
                      space_options=SPACE_OPTIONS, seed=seed)
    storage = Storage.open(path) if path.exists() else Storage.create(path, {"spec": spec.to_dict(),
                                                                             "setting": setting()})
    check_setting(storage.meta().get("setting", {}), str(path))
    seed = storage.meta()["spec"]["seed"]
    done = runs_in(table)
    for key, n in study_runs(storage, table).items():
        done[key] = done.get(key, 0) + n
    items = todo(done)
    print(f"{len(items)} trainings to go ({sum(done.values())} done); study {path}", flush=True)
    if not items:
        return
    estimator = make_estimator()
    study = Study(storage, Enumerate(estimator.space, items), estimator, Fidelity(epochs=EPOCHS, subset=SUBSET),
                  seed=seed)
    study.optimize(n_trials=study.finished_count() + len(items), time_budget=study.elapsed() + args.hours * 3600,
                   workers=args.workers, estimator_factory=make_estimator if args.workers > 1 else None)
    print(f"stopped with {study.finished_count()} trials in {path}; run `pack` to update the table", flush=True)


def pack(args):
    table = read_table()
    check_setting(table["meta"], str(TABLE))
    storage = Storage.open(args.study)
    check_setting(storage.meta().get("setting", {}), args.study)
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
    if len(table["cells"]) >= 10:
        describe(list(table["cells"].values()))


def describe(records: list[dict]) -> None:
    """How informative the table is: spread, seed noise, and how well each epoch ranks the cells."""
    from scipy.stats import kendalltau

    final = np.array([np.mean([c[-1] for c in r["curves"]]) for r in records]) * 100
    test = np.array([np.mean(r["test_accuracy"]) for r in records]) * 100
    seconds = np.array([np.mean(r["train_seconds"]) for r in records])
    print(f"final validation accuracy (%), percentiles 0/10/50/90/100: "
          f"{' / '.join(f'{v:.2f}' for v in np.percentile(final, [0, 10, 50, 90, 100]))}")
    spread = " / ".join(f"{v:.1f}" for v in np.percentile(seconds, [0, 50, 100]))
    print(f"training seconds, percentiles 0/50/100: {spread}")
    print(f"Kendall tau, mean validation vs mean test accuracy: {kendalltau(final, test)[0]:.3f}")
    twice = [r for r in records if len(r["curves"]) >= 2]
    if len(twice) >= 10:
        a, b = (np.array([r["curves"][i][-1] for r in twice]) * 100 for i in (0, 1))
        print(f"seed noise ({len(twice)} cells trained twice): validation sd {np.std(a - b) / np.sqrt(2):.2f} points, "
              f"Kendall tau run 1 vs run 2 {kendalltau(a, b)[0]:.3f}")
        print("Kendall tau of run 1's validation accuracy after each epoch with run 2's final one "
              "(how well a rung at that epoch ranks, independent of run 1's noise):")
        taus = [kendalltau([r["curves"][0][e] for r in twice], b)[0] for e in range(len(twice[0]["curves"][0]))]
        print("  " + "  ".join(f"{e + 1}: {t:.2f}" for e, t in enumerate(taus)))


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
