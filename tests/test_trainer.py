import math

import pytest
import torch
from torch import nn

from nasforge import Arch, spaces
from nasforge.core import Fidelity, UserInputError
from nasforge.estimation import TrainConfig, TrainingEstimator, count_flops, count_params, measure_latency_ms, subset_indices

GOOD_ARCH = {"stem": 16, "s0.op": "conv3x3", "s0.blocks": 1, "s0.width": 16, "s0.down": False,
             "s0.residual": False, "s1.op": "conv3x3", "s1.blocks": 1, "s1.width": 32, "s1.down": True,
             "s1.residual": True, "s2.op": "sep3x3", "s2.blocks": 1, "s2.width": 48, "s2.down": True,
             "s2.residual": False}


@pytest.fixture(scope="module")
def estimator(digits):
    return TrainingEstimator(spaces.get("macro-cnn"), digits)


def test_training_learns_and_reports_metrics(estimator):
    arch = Arch("macro-cnn", GOOD_ARCH)
    result = estimator.evaluate(arch, Fidelity(epochs=4), seed=0)
    assert result.ok, result.error
    m = result.metrics
    assert m["val_accuracy"] > 0.85  # chance is 0.1
    assert [p["epoch"] for p in result.curve] == [1, 2, 3, 4]
    assert result.curve[-1]["train_loss"] < result.curve[0]["train_loss"]
    assert m["params"] == count_params(estimator.space.build(arch, (1, 8, 8), 10))
    assert m["flops"] > 0 and m["latency_ms"] > 0 and m["train_seconds"] > 0
    assert result.fidelity == {"epochs": 4, "subset": 1.0, "width_multiplier": 1.0}


def test_same_seed_same_result_other_seed_differs(estimator):
    arch = Arch("macro-cnn", GOOD_ARCH)
    a = estimator.evaluate(arch, Fidelity(epochs=1), seed=3)
    b = estimator.evaluate(arch, Fidelity(epochs=1), seed=3)
    c = estimator.evaluate(arch, Fidelity(epochs=1), seed=4)
    strip = lambda r: [{k: v for k, v in p.items() if k != "epoch_seconds"} for p in r.curve]
    assert strip(a) == strip(b) and a.metrics["val_accuracy"] == b.metrics["val_accuracy"]
    assert strip(a) != strip(c)


def test_global_torch_rng_is_untouched(estimator):
    torch.manual_seed(11)
    expected = torch.rand(1)
    torch.manual_seed(11)
    estimator.evaluate(Arch("macro-cnn", GOOD_ARCH), Fidelity(epochs=1, subset=0.1), seed=0)
    assert torch.equal(torch.rand(1), expected)


def test_fidelity_knobs(estimator):
    arch = Arch("macro-cnn", GOOD_ARCH)
    small = estimator.evaluate(arch, Fidelity(epochs=1, subset=0.25, width_multiplier=0.5), seed=0)
    full = estimator.evaluate(arch, Fidelity(epochs=1), seed=0)
    assert small.metrics["params"] < 0.5 * full.metrics["params"]
    assert small.metrics["train_seconds"] < full.metrics["train_seconds"]
    idx = subset_indices(1000, 0.1)
    assert len(idx) == 100 and torch.equal(idx, subset_indices(1000, 0.1))


@pytest.mark.parametrize("kwargs,match", [({"epochs": 0}, "epochs"), ({"subset": 1.5}, "subset"),
                                          ({"subset": 0}, "subset"), ({"width_multiplier": -1}, "width_multiplier")])
def test_bad_fidelity(kwargs, match):
    with pytest.raises(UserInputError, match=match):
        Fidelity(**kwargs)


def test_diverging_training_is_a_failed_result_not_a_crash(digits):
    est = TrainingEstimator(spaces.get("macro-cnn"), digits, TrainConfig(lr=1e12, optimizer="sgd"))
    result = est.evaluate(Arch("macro-cnn", GOOD_ARCH), Fidelity(epochs=1), seed=0)
    assert result.status == "failed"
    assert "training loss became" in result.error and "Traceback" in result.error


def test_invalid_arch_is_a_failed_result(estimator):
    result = estimator.evaluate(Arch("macro-cnn", {**GOOD_ARCH, "stem": 7}), Fidelity(epochs=1), seed=0)
    assert result.status == "failed" and "'stem': 7 is not allowed" in result.error


def test_space_chosen_learning_rate_is_used(digits, mlp_space):
    est = TrainingEstimator(mlp_space, digits)
    low = Arch(mlp_space.name, {"num_layers": 1, "units_0": 64, "learning_rate": 1e-4})
    high = low.replace(learning_rate=1e-2)
    r_low, r_high = (est.evaluate(a, Fidelity(epochs=2), seed=0) for a in (low, high))
    assert r_high.metrics["val_accuracy"] > r_low.metrics["val_accuracy"] + 0.1


def test_flop_counter_matches_hand_count():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.Flatten(), nn.Linear(4 * 8 * 8, 10))
    conv = 2 * 4 * 1 * 9 * 8 * 8
    linear = 2 * 256 * 10
    assert count_flops(model, (1, 8, 8)) == conv + linear
    assert measure_latency_ms(model, (1, 8, 8), repeats=5) > 0
    assert math.isfinite(measure_latency_ms(model, (1, 8, 8), repeats=5))


def _tiny_cnn():
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.BatchNorm2d(8), nn.ReLU(), nn.AdaptiveAvgPool2d(1),
                         nn.Flatten(), nn.Linear(8, 10))


def test_unknown_precision_is_a_clear_error():
    with pytest.raises(UserInputError, match="precision"):
        TrainConfig(precision="fp16")


def test_precision_chooser_fixed_modes_and_reproducible_auto(monkeypatch):
    from nasforge.estimation import _precision

    cpu = torch.device("cpu")
    monkeypatch.setattr(_precision, "bf16_is_native", lambda device: True)
    assert not any(_precision.PrecisionChooser("fp32", cpu, timed=True).use_bf16(s) for s in range(20))
    assert all(_precision.PrecisionChooser("bf16", cpu, timed=False).use_bf16(s) for s in range(20))
    # without a time limit, auto stays in fp32 so that epoch-based training is reproducible
    assert not any(_precision.PrecisionChooser("auto", cpu, timed=False).use_bf16(s) for s in range(20))
    monkeypatch.setattr(_precision, "bf16_is_native", lambda device: False)
    assert not any(_precision.PrecisionChooser("auto", cpu, timed=True).use_bf16(s) for s in range(20))


@pytest.mark.parametrize("bf16_faster", [True, False])
def test_auto_precision_keeps_the_faster_after_probing_both(monkeypatch, bf16_faster):
    from nasforge.estimation import _precision

    monkeypatch.setattr(_precision, "bf16_is_native", lambda device: True)
    chooser = _precision.PrecisionChooser("auto", torch.device("cpu"), timed=True)
    probe = 2 + 2 * _precision.PROBE_STEPS
    used = []
    for step in range(probe + 10):
        bf16 = chooser.use_bf16(step)
        used.append(bf16)
        chooser.record(step, bf16, (0.01 if bf16_faster else 0.05) if bf16 else 0.03)
    assert used[:probe].count(True) == used[:probe].count(False) == 1 + _precision.PROBE_STEPS
    assert all(b == bf16_faster for b in used[probe:])


def test_bf16_training_learns_and_leaves_an_fp32_contiguous_model(digits):
    from nasforge.estimation import evaluate_model, train_model

    torch.manual_seed(0)
    model = _tiny_cnn()
    curve = train_model(model, digits.x_train, digits.y_train, 3, TrainConfig(precision="bf16", lr=1e-2), 0)
    assert curve[-1]["bf16"] == 1.0 and curve[-1]["train_loss"] < curve[0]["train_loss"]
    assert all(p.dtype == torch.float32 for p in model.parameters())
    assert model[0].weight.is_contiguous()  # channels-last during training only
    assert evaluate_model(model, digits.x_val, digits.y_val)[0] > 0.3  # chance is 0.1
