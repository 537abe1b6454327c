"""auto on small tables: candidates ranked by k-fold cross-validation, the final epoch count
taken from it, the job ending early (crossval.py)."""

import time
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from nasforge import data, spaces
from nasforge.auto import crossval
from nasforge.auto.crossval import (CrossValEstimator, best_point, choose_by_cv, fold_count, is_small_table,
                                    stratified_folds)
from nasforge.auto.final import _precision_used, train_until_deadline
from nasforge.auto.plan import Deadline
from nasforge.auto.search import cross_validates
from nasforge.core import Arch, Fidelity, TrialStatus
from nasforge.estimation import TrainConfig, TrainingEstimator

from synthetic import write_table as _table


def _estimator(path, k=None):
    ds = data.load(path)
    space = spaces.get("mlp")
    return CrossValEstimator(TrainingEstimator(space, ds, TrainConfig(), measure_latency=False), k=k), space


def test_small_tables_and_only_they_are_cross_validated(tmp_path):
    small, large = _table(tmp_path, 300, "small.npz"), _table(tmp_path, 3000, "large.npz")
    assert cross_validates(small, "mlp", {}, "asha") and is_small_table(data.load(small))
    assert cross_validates(small, "recipe", {"base": "mlp"}, "asha")
    assert not cross_validates(large, "mlp", {}, "asha")  # its validation split ranks well enough
    assert not cross_validates(small, "mlp", {}, "random")  # the ablation keeps its own search
    assert not cross_validates(small, "macro-cnn", {}, "asha")
    assert not cross_validates("digits", "mlp", {}, "asha")  # not a table


def test_folds_are_stratified_and_k_follows_the_rows():
    assert [fold_count(n) for n in (40, 100, 142, 455, 1000)] == [3, 4, 5, 5, 5]
    y = torch.tensor([0] * 30 + [1] * 12 + [2] * 7)
    fold = stratified_folds(y, 5, seed=1)
    sizes = np.bincount(fold, minlength=5)
    assert sizes.max() - sizes.min() <= 1 and sizes.sum() == len(y)
    for c in (0, 1):  # every class with >= k rows is in every fold
        assert set(fold[y.numpy() == c]) == set(range(5))
    assert not np.array_equal(fold, stratified_folds(y, 5, seed=2))


def test_every_row_is_held_out_once_and_the_best_grid_point_is_reported(tmp_path, monkeypatch):
    monkeypatch.setattr(crossval, "EPOCH_GRID", (1, 3, 9))
    monkeypatch.setattr(crossval, "PATIENCE", 99)
    cv, space = _estimator(_table(tmp_path), k=3)
    result = cv.evaluate(space.priors()[1], Fidelity(), seed=0)
    assert result.status == TrialStatus.OK
    assert [p["epoch"] for p in result.curve] == [1, 3, 9]
    best = best_point(result.curve)
    assert result.metrics["best_epochs"] == best["epoch"] and result.metrics["val_accuracy"] == best["val_accuracy"]
    n = len(data.load(_table(tmp_path)).train_and_val()[1])
    assert len(cv.y) == n
    for p in result.curve:  # pooled over all train+validation rows: a whole number of them right
        assert abs(p["val_accuracy"] * n - round(p["val_accuracy"] * n)) < 1e-6
    assert result.curve[-1]["val_accuracy"] > 0.6  # it learns: the rule is easy


def _scripted(cv, accuracies, seconds=0.01):
    """Make ``cv``'s grid points return ``accuracies`` in turn (no training), each said to take
    ``seconds``; the calls are counted."""
    calls = []

    def point(arch, epochs, config, seed, width):
        calls.append(epochs)
        return {"epoch": epochs, "val_accuracy": accuracies[len(calls) - 1], "val_loss": 1.0, "grid_seconds": seconds}
    cv._grid_point = point
    return calls


def test_the_grid_stops_growing_when_accuracy_stops_improving(tmp_path):
    cv, space = _estimator(_table(tmp_path))
    calls = _scripted(cv, [0.80, 0.90, 0.85, 0.99, 0.99, 0.99, 0.99])
    result = cv.evaluate(space.priors()[0], Fidelity(), seed=0)
    assert calls == list(crossval.EPOCH_GRID[:3])  # a point without improvement after the best: stop
    assert result.metrics["best_epochs"] == crossval.EPOCH_GRID[1]


def test_no_grid_point_starts_that_would_end_after_the_search(tmp_path):
    cv, space = _estimator(_table(tmp_path))
    calls = _scripted(cv, [0.9, 0.95, 0.97, 0.98], seconds=1.0)
    cv.search_s = 1.5  # the second point is expected to take 2.2 x 1 s: past the search's end
    result = cv.evaluate(space.priors()[0], Fidelity(), seed=0)
    assert result.status == TrialStatus.OK and calls == [crossval.EPOCH_GRID[0]]
    assert cv.stop_at is not None and cv.stop_at - time.monotonic() < 1.5  # counted from the first candidate


def test_the_winner_is_the_best_cross_validated_accuracy_ties_to_the_lower_loss():
    space = spaces.get("mlp")
    a, b, c = space.priors()[:3]
    trial = lambda i, arch, acc, loss, ep: SimpleNamespace(  # noqa: E731
        id=i, arch=arch, metrics={"val_accuracy": acc, "val_loss": loss, "best_epochs": float(ep)})
    trials = [trial(1, a, 0.97, 0.10, 40), trial(2, b, 0.99, 0.08, 20), trial(3, c, 0.99, 0.05, 10)]
    study = SimpleNamespace(storage=SimpleNamespace(trials=lambda statuses: trials))
    choice, epochs = choose_by_cv(study)
    assert choice.arch == c and epochs == 10 and choice.score == 0.99
    choice, epochs = choose_by_cv(study, allowed=lambda arch: arch != c)
    assert choice.arch == b and epochs == 20
    assert choose_by_cv(SimpleNamespace(storage=SimpleNamespace(trials=lambda s: [])))[0].arch is None


def test_the_final_training_lasts_the_chosen_epochs_and_ends_early(tmp_path):
    path = _table(tmp_path)
    ds, space = data.load(path), spaces.get("mlp")
    deadline = Deadline(time.monotonic() - 2.0, 120.0)  # as if 2 s had gone to start-up (a CPU share needs > 1 s)
    summary = train_until_deadline(space, space.priors()[1], ds, TrainConfig(), deadline, tmp_path / "out",
                                   onnx=False, log=lambda m: None, epochs=3)
    assert summary["final_epochs"] == 3
    assert summary["final_train_seconds"] < 30 and deadline.spent() < 60  # the budget is a ceiling
    assert summary["training_conditions"]["cpu_share"] is not None  # a short training: the process's share


@pytest.mark.parametrize("precision", ["fp32", "bf16"])
def test_the_summary_says_which_precision_the_final_training_ran_in(tmp_path, precision):
    ds, space = data.load(_table(tmp_path)), spaces.get("mlp")
    summary = train_until_deadline(space, space.priors()[1], ds, TrainConfig(precision=precision),
                                   Deadline(time.monotonic(), 60.0), tmp_path / "out", onnx=False, log=lambda m: None,
                                   epochs=2)
    assert summary["training_conditions"]["final_precision"] == precision
    # a continued run reports its own choice; one not yet decided (too few steps) reports none
    decided = SimpleNamespace(precision=SimpleNamespace(fixed=True))
    assert _precision_used(decided, []) == "bf16"
    assert _precision_used(SimpleNamespace(precision=SimpleNamespace(fixed=None)), []) is None


@pytest.mark.slow
def test_auto_on_a_small_table_cross_validates_and_keeps_the_budget(tmp_path, monkeypatch):
    import nasforge

    monkeypatch.setattr(crossval, "EPOCH_GRID", (2, 4, 8, 16))
    path = _table(tmp_path, 200)
    summary = nasforge.auto(path, time_budget=30, out=tmp_path / "r", onnx=False, log=lambda m: None)
    assert summary["search"]["method"] == "cross-validation" and summary["search"]["trials"] >= 1
    cv = summary["cross_validation"]
    assert cv["folds"] == 5 and cv["final_epochs"] == cv["ranking"][0]["best_epochs"]
    assert summary["final_epochs"] == cv["final_epochs"]
    assert summary["ensemble_members"] == crossval.ENSEMBLE_MEMBERS  # < 1 s a copy: all fit in the budget
    assert summary["budget_kept"] and summary["total_seconds"] <= 30 * 1.01
