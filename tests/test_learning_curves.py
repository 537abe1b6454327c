"""Learning-curve predictors (parametric ensemble, LC-PFN, baselines) and the predictive pruner."""

import functools
import math

import numpy as np
import pytest

from nasforge import benchmarks
from nasforge.core import Fidelity, TrialPruned, TrialStatus, UnknownNameError, UserInputError
from nasforge.estimation import (Forecast, LastValue, ParametricEnsemble, PredictivePruner, TwoPointPowerLaw,
                                 curve_predictor, sample_curves)
from nasforge.estimation._curve_models import FAMILIES, _asym, fit_family
from nasforge.study import Storage, Study


@pytest.fixture(scope="module")
def table():
    return benchmarks.get("mnist1d-nb201")


def test_parametric_fit_recovers_a_known_asymptote():
    t = np.arange(1, 21, dtype=float)
    curve = 0.91 - 0.6 * t ** -0.8  # pow3 with asymptote 0.91
    pow3 = next(f for f in FAMILIES if f.name == "pow3")
    theta = fit_family(pow3, curve[None, :], iters=100)
    assert abs(float(_asym(theta)[0, 0]) - 0.91) < 0.01
    far = ParametricEnsemble(families=("pow3",)).predict(curve[None, :], 2000)
    assert abs(float(far.mean[0]) - 0.91) < 0.01


def test_forecast_normal_mixture_matches_the_normal_tail():
    f = Forecast.normal_mixture(np.array([[0.6]]), np.array([[0.1]]))
    assert abs(float(f.mean[0]) - 0.6) < 1e-3
    assert abs(float(f.prob_above(0.7)[0]) - (1 - 0.5 * (1 + math.erf(1 / math.sqrt(2))))) < 2e-3
    assert abs(float(f.quantile(0.5)[0]) - 0.6) < 2e-3


def test_baselines():
    curves = np.array([[0.2, 0.5, 0.7]])
    assert LastValue().predict(curves, 12).mean[0] == pytest.approx(0.7)
    law = TwoPointPowerLaw().predict(curves, 12).mean[0]  # error 0.8 -> 0.3 in 3 epochs goes on falling
    assert 0.7 < law < 1.0


@pytest.mark.parametrize("name,seen,low", [("pfn", 3, 0.8), ("pfn", 6, 0.8), ("parametric", 6, 0.6)])
def test_predictive_intervals_cover_held_out_synthetic_curves(name, seen, low):
    curves = sample_curves(np.random.default_rng(424242), 300, 12)  # not the PFN's training seed
    forecast = curve_predictor(name).predict(curves[:, :seen], 12)
    final = curves[:, -1]
    inside = (final >= forecast.quantile(0.05)) & (final <= forecast.quantile(0.95))
    assert low <= inside.mean() <= 0.99  # a 90% interval: near 90%, neither useless nor overconfident
    last_error = np.abs(curves[:, seen - 1] - final).mean()
    assert np.abs(forecast.mean - final).mean() < last_error  # better than the last value seen


HOPELESS = [0.11, 0.10, 0.12, 0.11, 0.11, 0.12, 0.11, 0.11]  # a network that never learns
PROMISING = [0.30, 0.62, 0.80, 0.90, 0.94, 0.955, 0.96, 0.965]


@pytest.mark.parametrize("predictor", ["pfn", "parametric"])
def test_pruner_stops_a_hopeless_trial_and_keeps_a_promising_one(predictor):
    pruner = PredictivePruner(threshold=0.05, predictor=predictor)
    watch = pruner.watch(horizon=12, incumbent=0.95)
    with pytest.raises(TrialPruned, match="incumbent 0.9500"):
        for value in HOPELESS:
            watch({"epoch": len(watch.seen) + 1, "val_accuracy": value})
    keep = pruner.watch(horizon=12, incumbent=0.95)
    for value in PROMISING:
        keep({"epoch": len(keep.seen) + 1, "val_accuracy": value})
    assert len(keep.seen) == len(PROMISING)


def test_pruner_never_stops_without_an_incumbent_or_at_the_last_epoch():
    watch = PredictivePruner(predictor="last").watch(horizon=3, incumbent=None)
    for value in HOPELESS:
        watch({"val_accuracy": value})
    last = PredictivePruner(predictor="last").watch(horizon=1, incumbent=0.99)
    last({"val_accuracy": 0.1})  # the only epoch is the last one: nothing to save


def test_pruner_checks_its_arguments():
    with pytest.raises(UserInputError, match="threshold"):
        PredictivePruner(threshold=1.5)
    with pytest.raises(UnknownNameError, match="parametric"):
        PredictivePruner(predictor="parametrik")


def _study(path, table, pruner, seed=0):
    from nasforge import strategies
    from nasforge.core import SimulatedClock

    storage = Storage.open(path) if path.exists() else Storage.create(path, {})
    strategy = strategies.get("random", table.space, seed=seed)
    return Study(storage, strategy, table.fresh(), Fidelity(epochs=12), seed, clock=SimulatedClock(), pruner=pruner)


def test_pruned_trials_are_stored_charged_their_epochs_and_resume(tmp_path, table):
    pruner = PredictivePruner(threshold=0.05, predictor="last")  # last value below the best: stop
    path = tmp_path / "s.db"
    study = _study(path, table, pruner)
    study.optimize(n_trials=15)
    trials = study.trials
    pruned = [t for t in trials if t.status == TrialStatus.PRUNED]
    assert pruned and any(t.status == TrialStatus.OK for t in trials)
    for t in pruned:
        assert t.error.startswith("pruned: after epoch") and t.objective is None
        epochs = len(t.curve)
        assert epochs < 12 and t.metrics["pruned_at_epoch"] == epochs
        runs = table.table[table.key(t.arch)]["train_seconds"]  # charged only the epochs it ran
        assert any(abs(t.duration_s - s * epochs / 12) < 1e-9 for s in runs)
    elapsed = study.elapsed()
    assert elapsed == pytest.approx(sum(t.duration_s for t in trials))
    study.storage.close()
    again = _study(path, table, pruner)  # resume: the incumbent comes back from the file
    assert again.finished_count() == 15 and again._incumbent == max(t.metrics["val_accuracy"] for t in trials
                                                                    if t.status == TrialStatus.OK)
    again.optimize(n_trials=25)
    assert len(again.trials) == 25 and again.elapsed() > elapsed
    assert len({t.arch for t in again.trials}) == 25  # no architecture asked twice across the resume


def test_pruned_search_is_deterministic(tmp_path, table):
    def run(name):
        study = _study(tmp_path / name, table, PredictivePruner(threshold=0.05, predictor="pfn"), seed=3)
        study.optimize(n_trials=12)
        return [(t.arch.to_json(), t.status, t.duration_s, t.error) for t in study.trials]

    first = run("a.db")
    assert first == run("b.db")
    assert any(status == TrialStatus.PRUNED for _, status, _, _ in first)


def test_worker_pool_trials_are_pruned_in_the_workers(tmp_path, table):
    study = _study(tmp_path / "pool.db", table, PredictivePruner(threshold=0.05, predictor="last"))
    study.optimize(n_trials=10, workers=2, estimator_factory=functools.partial(benchmarks.get, "mnist1d-nb201"))
    statuses = [t.status for t in study.trials]
    assert TrialStatus.PRUNED in statuses and TrialStatus.OK in statuses
    assert all(len(t.curve) < 12 for t in study.trials if t.status == TrialStatus.PRUNED)


def test_cli_search_with_pruning(tmp_path, capsys):
    from nasforge import cli

    base = ["search", "--study", str(tmp_path / "cli.db"), "--benchmark", "mnist1d-nb201", "--strategy", "random",
            "--epochs", "12", "--trials", "12", "--quiet"]
    assert cli.main([*base, "--prune", "predictive", "--prune-predictor", "last"]) == 0
    study = Storage.open(tmp_path / "cli.db")
    assert TrialStatus.PRUNED in {t.status for t in study.trials()}
    assert study.meta()["spec"]["prune_predictor"] == "last"  # kept for resume
    study.close()
    bad = [*base[:2], str(tmp_path / "bad.db"), *base[3:]]
    assert cli.main([*bad, "--prune", "predictive", "--prune-threshold", "2"]) != 0
    assert "threshold" in capsys.readouterr().err and not (tmp_path / "bad.db").exists()
    assert cli.main([*bad, "--prune-threshold", "0.1"]) != 0
    assert "need --prune predictive" in capsys.readouterr().err


def test_pfn_training_is_deterministic():
    import torch

    from nasforge.estimation._lc_pfn import train_pfn

    a, b = train_pfn(steps=3, batch=16, seed=1), train_pfn(steps=3, batch=16, seed=1)
    assert all(torch.equal(x, y) for x, y in zip(a.state_dict().values(), b.state_dict().values()))
