"""Small tables: candidates ranked by k-fold cross-validation, the final epoch count taken from it.

A table of a few hundred rows leaves a validation split of a few dozen (wine: 14), which rates
every candidate 1.0, and a final training that runs until the deadline overfits it (measured in
docs/results/auto-v2.md: ``mlp 2x128 batchnorm`` on wine scores 1.000 test after 10 epochs and
0.963 after 100-700). So on a small table each candidate is trained ``k`` times, once per fold of
train+validation, for each epoch count of a doubling grid (each training its own full schedule,
as the final training will be), and scored on the rows it did not see: every row is a validation
row once. The grid stops growing when the pooled accuracy has not improved for ``PATIENCE``
point or the next point would not finish before the search's end (the first always runs: the
study started the candidate within its time). A candidate's score is its
best grid point (accuracy, then lower loss); the winner's final training lasts that many epochs
on all of train+validation and the job ends early instead of spending the rest of the budget.
The final model is ``ENSEMBLE_MEMBERS`` copies of the winner trained with their own seeds, time
allowing (``nasforge.ensemble``): one network's test accuracy on a few hundred rows swings by a
row or two with its seed, and their averaged probabilities swing less.
"""

from __future__ import annotations

import time
from dataclasses import replace
from typing import Any

import numpy as np
import torch

from ..core import Arch, Estimator, Fidelity, Result, TrialStatus
from ..estimation import count_flops, count_params, evaluate_model, train_model
from ..study import Study
from .select import Choice

SMALL_TABLE_ROWS = 2000  # train+validation rows up to which tables are cross-validated (docs/results/auto-v2.md)
ROWS_PER_FOLD = 25  # k = rows // this, within [MIN_FOLDS, MAX_FOLDS]: >= ~25 held-out rows a fold
MIN_FOLDS, MAX_FOLDS = 3, 5
EPOCH_GRID = (5, 10, 20, 40, 80, 160, 320)
PATIENCE = 1  # grid points without a better pooled accuracy before the grid stops growing
GROWTH = 2.2  # a grid point costs about this many times the one before (twice the epochs, plus overhead)
SEARCH_SHARE = 0.75  # of the time left (less the wrap-up guess) for the search; the final training is short
ENSEMBLE_MEMBERS = 5  # copies of the winner in the final model, time allowing (docs/results/auto-v2.md)


def is_small_table(ds) -> bool:
    """Whether ``ds`` is a table small enough to rank candidates by cross-validation."""
    return bool(ds.tabular) and len(ds.y_train) + len(ds.y_val) <= SMALL_TABLE_ROWS


def fold_count(rows: int) -> int:
    """``k`` for ``rows`` rows: as many folds as keep ``ROWS_PER_FOLD`` held-out rows each, 3 to 5."""
    return int(min(MAX_FOLDS, max(MIN_FOLDS, rows // ROWS_PER_FOLD)))


def stratified_folds(y: torch.Tensor, k: int, seed: int) -> np.ndarray:
    """The fold (0..k-1) of each row: each class's rows shuffled and dealt round the folds in turn,
    continuing where the previous class stopped, so every fold sees every class and the folds'
    sizes differ by at most one."""
    rng = np.random.default_rng(seed)
    labels = y.numpy()
    fold = np.empty(len(labels), dtype=np.int64)
    start = 0
    for c in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == c))
        fold[rows] = (start + np.arange(len(rows))) % k
        start += len(rows)
    return fold


def best_point(curve: list[dict[str, float]]) -> dict[str, float]:
    """The grid point with the highest pooled accuracy, ties to the lower loss, then fewer epochs."""
    return min(curve, key=lambda p: (-p["val_accuracy"], p["val_loss"], p["epoch"]))


class CrossValEstimator(Estimator):
    """Scores an architecture by ``k``-fold cross-validation on train+validation over
    :data:`EPOCH_GRID` (see the module docstring). The metrics hold the best grid point's pooled
    ``val_accuracy`` and ``val_loss`` and its ``best_epochs``; the curve has one point per grid
    point. ``stop_at`` (``time.monotonic()``) ends the grid before a point that would not finish."""

    continue_runs = False

    def __init__(self, inner, k: int | None = None, seed: int = 0):
        self.inner = inner
        x, y = inner.dataset.train_and_val()
        self.x, self.y = x, y
        self.k = k if k is not None else fold_count(len(y))
        self.fold = torch.from_numpy(stratified_folds(y, self.k, seed))
        self.stop_at: float | None = None
        self.search_s: float | None = None  # with it, ``stop_at`` is set this long after the first evaluation

    def __getattr__(self, name):  # dataset, space, train_config, ...
        return getattr(self.inner, name)

    def config(self):
        return {**self.inner.config(), "cross_validation": {"folds": self.k, "epoch_grid": list(EPOCH_GRID)}}

    def costs(self, arch, metrics):
        return self.inner.costs(arch, metrics)

    def run_for(self, arch, fidelity):
        return None  # nothing to continue: the final training starts over for the chosen epochs

    def _grid_point(self, arch: Arch, epochs: int, config, seed: int, width: float) -> dict[str, float]:
        """Pooled accuracy and mean loss over the folds after ``epochs`` epochs of training each."""
        ds = self.inner.dataset
        correct, loss, start = 0.0, 0.0, time.perf_counter()
        for f in range(self.k):
            held = self.fold == f
            with torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed + f)
                model = self.inner.space.build(arch, ds.input_shape, ds.num_classes, width)
                train_model(model, self.x[~held], self.y[~held], epochs, config, seed + f)
            acc, fold_loss = evaluate_model(model, self.x[held], self.y[held], config.eval_batch_size)
            correct += acc * int(held.sum())
            loss += fold_loss * int(held.sum())
        n = len(self.y)
        return {"epoch": epochs, "val_accuracy": correct / n, "val_loss": loss / n,
                "grid_seconds": time.perf_counter() - start}

    def evaluate(self, arch: Arch, fidelity: Fidelity, seed: int, on_epoch=None) -> Result:
        start = time.perf_counter()
        if self.search_s is not None and self.stop_at is None:  # the study's clock starts about now too
            self.stop_at = time.monotonic() + self.search_s
        config = replace(self.inner.train_config, **self.inner.space.training_config(arch))
        curve: list[dict[str, float]] = []
        for epochs in EPOCH_GRID:  # the first point always runs: the study started this trial in its time
            if curve and (len(curve) - 1 - curve.index(best_point(curve)) >= PATIENCE or (
                    self.stop_at is not None and time.monotonic() + GROWTH * curve[-1]["grid_seconds"] > self.stop_at)):
                break
            try:
                curve.append(self._grid_point(arch, epochs, config, seed, fidelity.width_multiplier))
            except Exception as exc:  # noqa: BLE001 - a failed candidate is recorded, the search goes on
                return Result(TrialStatus.FAILED, {}, curve, fidelity.to_dict(), time.perf_counter() - start,
                              f"{type(exc).__name__}: {exc}")
            if on_epoch is not None:
                on_epoch(curve[-1])
        best = best_point(curve)
        ds = self.inner.dataset
        with torch.random.fork_rng(devices=[]):
            model = self.inner.space.build(arch, ds.input_shape, ds.num_classes, fidelity.width_multiplier)
        metrics = {"val_accuracy": best["val_accuracy"], "val_loss": best["val_loss"],
                   "best_epochs": float(best["epoch"]), "folds": float(self.k), "params": float(count_params(model)),
                   "flops": float(count_flops(model, ds.input_shape)), "train_seconds": time.perf_counter() - start}
        return Result(TrialStatus.OK, metrics, curve, fidelity.to_dict(), time.perf_counter() - start)


def choose_by_cv(study: Study, allowed=None) -> tuple[Choice, int | None]:
    """(the winner: the cross-validated trial with the best pooled accuracy, ties to the lower loss
    and then the earlier trial, and its best epoch count); (Choice(None), None) without one."""
    trials = [t for t in study.storage.trials((TrialStatus.OK,))
              if "best_epochs" in t.metrics and (allowed is None or allowed(t.arch))]
    if not trials:
        return Choice(None), None
    best = min(trials, key=lambda t: (-t.metrics["val_accuracy"], t.metrics["val_loss"], t.id))
    return Choice(best.arch, best.metrics["val_accuracy"], None), int(best.metrics["best_epochs"])


def cv_summary(study: Study, epochs: int | None, k: int) -> dict[str, Any]:
    """The summary's ``cross_validation`` entry: folds, the chosen epoch count, candidates ranked."""
    describe = study.estimator.space.describe
    rows = sorted(({"trial_id": t.id, "description": describe(t.arch), "val_accuracy": t.metrics["val_accuracy"],
                    "val_loss": t.metrics["val_loss"], "best_epochs": int(t.metrics["best_epochs"])}
                   for t in study.storage.trials((TrialStatus.OK,)) if "best_epochs" in t.metrics),
                  key=lambda r: (-r["val_accuracy"], r["val_loss"], r["trial_id"]))
    return {"folds": k, "epoch_grid": list(EPOCH_GRID), "final_epochs": epochs, "ranking": rows[:25]}
