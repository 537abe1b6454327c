"""Costs known before training: a study hands its estimator's costs to the strategies,
``mo-bo`` uses them (its expected hypervolume improvement against hand-computed cases,
exact resume, constraints screened before asking), and ``cost-random`` is the reference."""

import json

import numpy as np
import pytest

from nasforge import benchmarks, spaces, strategies
from nasforge.api import SearchSpec, open_study
from nasforge.core import TrialStatus
from nasforge.core.pareto import hypervolume
from nasforge.strategies._mo_bo import expected_hvi, hypervolume_improvement

from test_multiobjective import TwoObjectives, drive


def params_of(space):
    """The cost TwoObjectives reports, as a lookup that knows it before training (and nothing else)."""
    def lookup(arch, metrics):
        return {"params": float(np.sum(space.encode(arch))) * 1000} if "params" in metrics else {}
    return lookup


@pytest.fixture
def space():
    return spaces.get("macro-cnn")


@pytest.fixture(scope="module")
def table():
    return benchmarks.get("mnist1d-nb201")


def test_a_study_hands_its_estimators_costs_to_the_strategy(tmp_path, table):
    spec = SearchSpec(benchmark="mnist1d-nb201", strategy="mo-bo", epochs=12, seed=1,
                      objectives=["val_accuracy", "latency_ms"], strategy_options={"num_random": 30,
                                                                                   "num_mutations": 30})
    study = open_study(tmp_path / "s.db", spec)
    strategy = study.strategy
    assert strategy.uses_known_costs and strategy.known_objectives == ("latency_ms",)
    study.optimize(n_trials=14)
    assert study.finished_count() == 14  # lookups are not trials
    assert strategy.lookups > 14 * 10  # every candidate of every pool was looked up, for free
    origins = [t.request_meta.get("origin") for t in study.trials]
    assert "model" in origins
    study.storage.close()


def test_a_warm_start_passes_the_costs_on(space):
    inner = strategies.get("mo-bo", space, seed=0)
    wrapped = strategies.warm_start(inner, [space.sample(np.random.default_rng(3))])
    wrapped.set_objectives(["val_accuracy", "params"])
    wrapped.set_known_costs(params_of(space))
    assert wrapped.uses_known_costs and inner.known_objectives == ("params",)


def test_expected_hvi_against_hand_computed_cases():
    front, ref = np.array([[0.5, 0.5]]), np.array([1.0, 1.0])
    cost, mean, std = np.array([0.2, 0.7, 0.5]), np.array([0.6, 0.6, 0.3]), np.full(3, 1e-9)
    # cheaper than the front: [0.2, 0.5] x [0.6, 1] = 0.12; dominated: 0; same cost, better: [0.5, 1] x [0.3, 0.5]
    np.testing.assert_allclose(expected_hvi(front, ref, cost, mean, std), [0.12, 0.0, 0.1], atol=1e-9)
    np.testing.assert_allclose(hypervolume_improvement(front, ref, np.c_[cost, mean]), [0.12, 0.0, 0.1])


def test_expected_hvi_is_the_mean_improvement_over_normal_outcomes():
    """EHVI equals the improvement (computed by plain hypervolumes) integrated against the normal density."""
    front = np.array([[0.1, 0.8], [0.3, 0.5], [0.6, 0.2]])
    ref = np.array([1.0, 1.0])
    cost, mean, std = np.array([0.2, 0.45, 0.7]), np.array([0.7, 0.45, 0.2]), np.array([0.1, 0.2, 0.1])
    for i in range(3):
        y = np.linspace(mean[i] - 7 * std[i], mean[i] + 7 * std[i], 701)
        improvement = hypervolume_improvement(front, ref, np.c_[np.full(len(y), cost[i]), y])
        density = np.exp(-0.5 * ((y - mean[i]) / std[i]) ** 2) / (std[i] * np.sqrt(2 * np.pi))
        f = improvement * density
        integral = float(np.sum((f[1:] + f[:-1]) / 2 * np.diff(y)))  # the trapezoid rule
        assert integral > 1e-3
        assert expected_hvi(front, ref, cost[i:i + 1], mean[i:i + 1], std[i:i + 1])[0] == pytest.approx(integral,
                                                                                                        rel=1e-3)


def test_the_acquisition_prefers_the_candidate_that_extends_the_front():
    """A candidate cheaper than the whole front with a poor predicted accuracy beats one whose
    predicted accuracy is better but whose cost puts it behind a front point that already has more."""
    front = np.array([[0.3, 0.4], [0.6, 0.1]])  # (cost, -accuracy), scaled
    ref = np.array([1.0, 1.0])
    extends, dominated = expected_hvi(front, ref, np.array([0.1, 0.65]), np.array([0.8, 0.15]), np.full(2, 0.02))
    assert extends > 0.01 > dominated
    assert hypervolume(np.vstack([front, [0.1, 0.8]]), ref) > hypervolume(front, ref)


@pytest.mark.parametrize("name", ["mo-bo", "cost-random"])
def test_resume_with_known_costs_is_exact(name, space):
    def fresh(seed):
        s = strategies.get(name, space, seed=seed, num_random=30, **({"num_mutations": 30} if name == "mo-bo" else {}))
        s.set_objectives(["val_accuracy", "params"])
        s.set_known_costs(params_of(space))
        return s

    a = fresh(1)
    history = drive(a, TwoObjectives(space, fail_every=7), 18)
    state = json.loads(json.dumps(a.state_dict()))
    assert state["lookups"] > 18 and state["archive"]
    b = fresh(999)
    b.load_state_dict(state)
    b.remember(arch for arch, _ in history)
    assert drive(a, TwoObjectives(space), 8) == drive(b, TwoObjectives(space), 8)


def test_cost_random_spends_its_cheap_share_on_the_cheapest(space):
    weights = np.arange(1.0, len(space.encode(space.sample(np.random.default_rng(0)))) + 1)

    def lookup(arch, metrics):
        return {"params": float(space.encode(arch) @ weights)}

    s = strategies.get("cost-random", space, seed=0, cheap_share=1.0, num_random=50)
    s.set_objectives(["val_accuracy", "params"])
    s.set_known_costs(lookup)
    asked = [lookup(s.ask().arch, ["params"])["params"] for _ in range(15)]
    rng = np.random.default_rng(5)
    typical = [lookup(space.sample(rng), ["params"])["params"] for _ in range(2000)]
    assert max(asked) <= np.quantile(typical, 0.1)


def test_constraints_on_known_costs_are_screened_before_asking(tmp_path, table):
    constraints = ["latency_ms<=0.8", "params<=60000", "val_accuracy>=0.5"]
    spec = SearchSpec(benchmark="mnist1d-nb201", strategy="mo-bo", epochs=12, seed=2,
                      objectives=["val_accuracy", "latency_ms"], constraints=constraints,
                      strategy_options={"num_random": 30, "num_mutations": 30})
    study = open_study(tmp_path / "s.db", spec)
    study.optimize(n_trials=16)
    trials = study.trials
    ok = [t for t in trials if t.status == TrialStatus.OK]
    assert ok and not [t for t in trials if t.request_meta.get("rejected")]  # none asked that the study rejects
    for t in ok:
        assert t.metrics["latency_ms"] <= 0.8 and t.metrics["params"] <= 60000 and t.metrics["val_accuracy"] >= 0.5
    study.storage.close()


def test_without_a_lookup_mo_bo_models_every_objective(space):
    s = strategies.get("mo-bo", space, seed=0, num_random=40, num_mutations=40)
    s.set_objectives(["val_accuracy", "params"])
    asked = drive(s, TwoObjectives(space), 16)
    assert s.known_objectives == () and s.lookups == 0 and len({a for a, _ in asked}) == 16
    assert set(s.hyper) == {"val_accuracy", "params"}  # a surrogate per objective
