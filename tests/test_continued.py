"""Successive halving without restarts: continued trainings, the late-decay schedule,
and the estimator that continues a promoted candidate."""

import pytest
import torch
from torch import nn

from nasforge import Arch, spaces
from nasforge.api import SearchSpec, open_study
from nasforge.core import Fidelity, UserInputError
from nasforge.estimation import (FIRST_LOOK_STRETCH, TrainConfig, TrainingEstimator, TrainingRun, decay_lr,
                                stable_lr)
from nasforge.estimation._continued import WARMUP_STEPS, RunCache, stretch_pays


def tiny_cnn():
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(8, 10))


def training_loss(model, data) -> float:
    model.eval()
    with torch.no_grad():
        loss = nn.functional.cross_entropy(model(data.x_train), data.y_train).item()
    model.train()
    return loss


def test_schedules_warm_up_hold_and_decay_to_zero_at_the_end():
    assert stable_lr(0.0, 0) == pytest.approx(1 / WARMUP_STEPS)
    assert stable_lr(1e6, WARMUP_STEPS) == 1.0  # constant: any run can be continued
    f = decay_lr(60.0, 100.0)
    assert f(10.0, 10_000) == f(60.0, 10_000) == 1.0
    values = [f(t, 10_000) for t in (60, 70, 80, 90, 99.9, 100, 120)]
    assert values == sorted(values, reverse=True) and values[-1] == 0.0 and values[-2] == 0.0
    assert f(80.0, 10_000) == pytest.approx(0.5)


def test_a_run_continues_where_it_stopped(digits):
    torch.manual_seed(0)
    run = TrainingRun(tiny_cnn(), TrainConfig(lr=1e-2), seed=0)
    run.run(digits.x_train, digits.y_train, 0.5)
    steps, seconds, weights = run.step, run.seconds, run.model[0].weight.detach().clone()
    first = training_loss(run.model, digits)
    assert steps > 0 and seconds >= 0.5
    run.run(digits.x_train, digits.y_train, 0.5)
    assert run.step > steps and run.seconds >= seconds + 0.5
    assert not torch.equal(weights, run.model[0].weight)
    # the loss on the whole training set goes on falling instead of starting over (not the mean of
    # this call's batches: on a loaded machine half a second can be a handful of noisy batches)
    assert training_loss(run.model, digits) < first
    # more data (validation joins for the final phase) is used from the next batch on
    x = torch.cat([digits.x_train, digits.x_val])
    y = torch.cat([digits.y_train, digits.y_val])
    run.run(x, y, 0.2)
    assert len(run._order) == len(y)
    model = run.finish()
    assert model[0].weight.is_contiguous() and all(p.dtype == torch.float32 for p in model.parameters())


def test_estimator_continues_a_promoted_arch_and_restarts_otherwise(digits):
    space = spaces.get("macro-cnn")
    est = TrainingEstimator(space, digits, continue_runs=True, measure_latency=False)
    arch = space.priors()[2]
    first = est.evaluate(arch, Fidelity(epochs=1000, seconds=0.6), seed=0)
    promoted = est.evaluate(arch, Fidelity(epochs=1000, seconds=1.8), seed=1)
    assert first.ok and promoted.ok, (first.error, promoted.error)
    # the promotion trains only the missing 1.2 s, and its run has 1.8 s behind it in all
    assert promoted.metrics["train_seconds"] < 1.6
    assert promoted.curve[-1]["train_seconds_total"] >= 1.8
    assert promoted.curve[-1]["epoch"] > first.curve[-1]["epoch"]
    assert est.run_for(arch, Fidelity(epochs=1000, seconds=1.8)).target_seconds == 1.8
    # asking for no more than the run has trained starts a new run
    again = est.evaluate(arch, Fidelity(epochs=1000, seconds=0.6), seed=2)
    assert again.curve[-1]["train_seconds_total"] < 1.2
    # without the option every trial starts from scratch
    plain = TrainingEstimator(space, digits, measure_latency=False)
    plain.evaluate(arch, Fidelity(epochs=1000, seconds=0.6), seed=0)
    assert plain.evaluate(arch, Fidelity(epochs=1000, seconds=1.2), seed=1).metrics["train_seconds"] >= 1.2


def test_run_cache_keeps_the_most_recent_runs():
    cache = RunCache(capacity=2)
    for key in "abc":
        cache.put(key, key)
    assert cache.get("a") is None and cache.get("b") == "b"
    cache.put("d", "d")  # b was used last, so c goes
    assert cache.get("c") is None and cache.get("b") == "b"


def test_asha_study_with_continued_runs_stores_every_rung(tmp_path):
    spec = SearchSpec(space="macro-cnn", dataset="digits", strategy="asha", epochs=1000, continue_runs=True,
                      strategy_options={"resource": "seconds", "min_resource": 0.3, "max_resource": 2.7, "eta": 3})
    study = open_study(tmp_path / "s.db", spec)
    study.optimize(n_trials=14)
    promoted = [t for t in study.trials if t.fidelity["seconds"] > 0.3 and t.status == "ok"]
    assert promoted, "ASHA promoted nothing in 14 trials"
    # a promoted trial trained only the seconds its lower rung had not
    assert all(t.metrics["train_seconds"] < 0.8 * t.fidelity["seconds"] for t in promoted)
    assert open_study(tmp_path / "s.db").estimator.continue_runs  # kept in the study's spec


@pytest.mark.slow  # ~15 s: a benchmark script's smoke run
def test_fidelity_ranking_benchmark_runs_on_digits(tmp_path):
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).parents[1] / "benchmarks" / "fidelity_ranking.py"
    out = tmp_path / "r.json"
    proc = subprocess.run([sys.executable, str(script), "--dataset", "digits", "--final-seconds", "1.5", "--looks",
                           "0.3", "0.8", "--samples", "1", "--threads", "1", "--out", str(out)],
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = json.loads(out.read_text())["rows"]
    assert len(rows) == 5 and all(len(r["looks"]) == 2 and 0.0 <= r["test_accuracy"] <= 1.0 for r in rows)
    assert "| 0.8 |" in proc.stdout and "Spearman" in proc.stdout


def test_cli_search_continue_runs_records_only_the_extra_seconds(tmp_path):
    from conftest import run_cli

    from nasforge import open_study

    proc = run_cli("search", "--dataset", "digits", "--strategy", "asha", "--seconds", "0.3", "--continue-runs",
                   "--strategy-option", "resource=seconds", "--strategy-option", "min_resource=0.3",
                   "--strategy-option", "max_resource=2.7", "--trials", "12", "--study", tmp_path / "s.db",
                   "--quiet", timeout=300)
    assert proc.returncode == 0, proc.stderr
    study = open_study(tmp_path / "s.db")
    assert study.estimator.continue_runs
    promoted = [t for t in study.trials if t.status == "ok" and t.fidelity["seconds"] > 0.3]
    assert promoted and all(t.metrics["train_seconds"] < 0.8 * t.fidelity["seconds"] for t in promoted)


def test_a_run_goes_on_past_its_seconds_until_it_saw_the_samples_asked_when_its_speed_gets_it_there(digits):
    torch.manual_seed(0)
    n = len(digits.y_train)
    run = TrainingRun(tiny_cnn(), TrainConfig(lr=1e-2), seed=0)
    run.run(digits.x_train, digits.y_train, 1e-4, min_samples=2 * n, max_seconds=120.0)
    assert run.samples >= 2 * n  # two epochs, far more than 0.1 ms of training gives
    hopeless = TrainingRun(tiny_cnn(), TrainConfig(lr=1e-2), seed=0)
    hopeless.run(digits.x_train, digits.y_train, 0.05, min_samples=10 ** 9, max_seconds=5.0)
    assert 0.05 <= hopeless.seconds < 2.5  # 10^9 samples will not fit in 5 s: it stops at its seconds


def test_a_stretch_pays_only_when_the_speed_so_far_gets_at_least_half_the_samples_within_the_longest():
    # 20 s spent on 30k samples: 45k take 30 s in all
    assert stretch_pays(20.0, 30_000, 45_000, longest=51.0)
    # the 308k prior in fp32 (0.56 of 0.75 epochs by 51 s) keeps its stretch
    assert stretch_pays(20.5, 13_400, 45_000, longest=51.3)
    # a 90k dilated-conv mutation (Fashion-MNIST, fp32): 0.17 epochs in 51.6 s, so at 20.5 s it stops
    assert not stretch_pays(20.5, 4_000, 45_000, longest=51.3)
    assert not stretch_pays(20.0, 45_000, 45_000, longest=51.0)  # got there
    assert not stretch_pays(51.0, 40_000, 45_000, longest=51.0)  # out of time
    assert not stretch_pays(0.5, 0, 45_000, longest=51.0)  # no step yet: nothing to project from


def test_a_first_look_is_stretched_to_an_epoch_share_and_its_promotion_trains_to_the_rung_total(digits, monkeypatch):
    space = spaces.get("macro-cnn")
    with pytest.raises(UserInputError, match="first_look_epochs"):
        TrainingEstimator(space, digits, continue_runs=True, first_look_epochs=-1.0)
    slow = space.priors()[0]
    est = TrainingEstimator(space, digits, continue_runs=True, measure_latency=False, first_look_epochs=10.0)
    # the 308k ResNet at 4x width (16x the work) sees far less than half of ten epochs in
    # FIRST_LOOK_STRETCH x 0.2 s: no stretch
    first = est.evaluate(slow, Fidelity(epochs=1000, seconds=0.2, width_multiplier=4.0), seed=0)
    assert first.ok and first.curve[-1]["epoch"] < 10
    assert 0.2 <= first.curve[-1]["train_seconds_total"] < FIRST_LOOK_STRETCH * 0.2
    # with room to stretch (the bound lifted) the first look trains its ten epochs
    monkeypatch.setattr("nasforge.estimation._estimator.FIRST_LOOK_STRETCH", 1000.0)
    first = est.evaluate(slow, Fidelity(epochs=1000, seconds=0.2), seed=1)
    trained = first.curve[-1]["train_seconds_total"]
    assert first.ok and first.curve[-1]["epoch"] >= 10 and trained > 0.2
    # its promotion to 0.3 s more than it trained adds those 0.3 s, not the rung's 0.3 + trained - 0.2
    promoted = est.evaluate(slow, Fidelity(epochs=1000, seconds=trained + 0.3), seed=1)
    assert promoted.ok and promoted.curve[-1]["epoch"] > first.curve[-1]["epoch"]
    assert promoted.curve[-1]["train_seconds_total"] >= trained + 0.3
    assert promoted.metrics["train_seconds"] < trained
    # only a run's first look is stretched, and only with the option
    plain = TrainingEstimator(space, digits, continue_runs=True, measure_latency=False)
    assert plain.evaluate(slow, Fidelity(epochs=1000, seconds=0.2), seed=0).curve[-1]["train_seconds_total"] < 0.45


def test_a_spec_passes_its_first_look_epochs_to_the_estimator_and_older_specs_read_zero():
    from nasforge.api import estimator_from_spec

    spec = SearchSpec(space="macro-cnn", dataset="digits", strategy="asha", continue_runs=True, first_look_epochs=0.75)
    assert estimator_from_spec(spec.to_dict()).first_look_epochs == 0.75
    old = {k: v for k, v in spec.to_dict().items() if k != "first_look_epochs"}  # a study file from before
    assert SearchSpec.from_dict(old).first_look_epochs == 0.0
