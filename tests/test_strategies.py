"""Contract tests over every registered strategy, plus behaviour that could fail."""

import json

import numpy as np
import pytest

from nasforge import spaces, strategies
from nasforge.core import Fidelity, UnknownNameError, UserInputError

from synthetic import MatchTarget


@pytest.fixture
def space():
    return spaces.get("macro-cnn")


def drive(strategy, estimator, n, with_fidelity=False):
    out = []
    for _ in range(n):
        req = strategy.ask()
        res = estimator.evaluate(req.arch, Fidelity(), 0)
        strategy.tell(req, res)
        out.append((req.arch, json.dumps(req.fidelity, sort_keys=True)) if with_fidelity
                   else (req.arch, res.metrics.get("val_accuracy")))
    return out


@pytest.mark.parametrize("name", strategies.names())
def test_asks_are_valid_and_state_round_trips_exactly(name, space):
    est = MatchTarget(space, fail_every=7)
    a = strategies.get(name, space, seed=1)
    history = drive(a, est, 25)
    state = json.loads(json.dumps(a.state_dict()))
    text = json.dumps(state)
    assert not any(arch.digest in text for arch, _ in history)  # the history lives in the study, not the state
    b = strategies.get(name, space, seed=12345)
    b.load_state_dict(state)
    b.remember(arch for arch, _ in history)
    est_a, est_b = MatchTarget(space), MatchTarget(space)
    assert [x for x, _ in drive(a, est_a, 15)] == [x for x, _ in drive(b, est_b, 15)]


@pytest.mark.parametrize("name", strategies.names())
def test_no_repeats_and_seeded(name, space):
    """No architecture is asked twice at the same fidelity (multi-fidelity methods
    re-ask an architecture at a higher one)."""
    est = MatchTarget(space)
    asked = drive(strategies.get(name, space, seed=3), est, 60, with_fidelity=True)
    assert len(set(asked)) == len(asked)
    archs = [a for a, _ in asked]
    for a in archs[:5]:
        space.validate(a)
    again = [a for a, _ in drive(strategies.get(name, space, seed=3), MatchTarget(space), 60)]
    assert archs == again


def test_evolution_population_ages_out_the_oldest(space):
    evo = strategies.get("evolution", space, seed=0, population_size=5, tournament_size=2)
    told = drive(evo, MatchTarget(space), 12)
    assert [a for a, _ in evo.population] == [a for a, _ in told[-5:]]
    best_first = max(told[:7], key=lambda t: t[1])[0]
    assert best_first not in [a for a, _ in evo.population]  # aging, not elitism


def test_full_tournament_mutates_the_best(space):
    evo = strategies.get("evolution", space, seed=0, population_size=6, tournament_size=6, crossover_rate=0.0)
    drive(evo, MatchTarget(space), 6)
    best = max(evo.population, key=lambda m: m[1])[0]
    child = evo.ask().arch
    assert sum(child[k] != best[k] for k in best.decisions) == 1


def test_evolution_beats_random_search_on_a_structured_objective(space):
    def best_after(name, seed):
        return max(s for _, s in drive(strategies.get(name, space, seed=seed), MatchTarget(space, noise=0.02), 80))

    evo = np.mean([best_after("evolution", s) for s in range(8)])
    rnd = np.mean([best_after("random", s) for s in range(8)])
    assert evo > rnd + 0.05, (evo, rnd)


def test_tpe_beats_random_search_on_a_structured_objective(space):
    def best_after(name, seed):
        return max(s for _, s in drive(strategies.get(name, space, seed=seed), MatchTarget(space, noise=0.02), 40))

    tpe = np.mean([best_after("tpe", s) for s in range(4)])
    rnd = np.mean([best_after("random", s) for s in range(4)])
    assert tpe > rnd + 0.03, (tpe, rnd)


@pytest.mark.parametrize("name", ["tpe", "bohb"])
def test_optuna_study_kept_between_asks_asks_what_a_rebuilt_one_would(name, space):
    """tpe and bohb keep their Optuna study and add only new results; forgetting it before
    every ask (as a resumed study does once) must not change a single proposal."""
    options = {"min_resource": 1, "max_resource": 9, "random_fraction": 0.0} if name == "bohb" else {}
    kept, rebuilt = strategies.get(name, space, seed=5, **options), strategies.get(name, space, seed=5, **options)
    est_kept, est_rebuilt = MatchTarget(space, fail_every=9), MatchTarget(space, fail_every=9)
    for _ in range(50):
        rebuilt.history = None
        rebuilt._histories = {}
        a, b = kept.ask(), rebuilt.ask()
        assert (a.arch, a.fidelity) == (b.arch, b.fidelity)
        kept.tell(a, est_kept.evaluate(a.arch, Fidelity(), 0))
        rebuilt.tell(b, est_rebuilt.evaluate(b.arch, Fidelity(), 0))
    models = kept.history if name == "tpe" else next(iter(kept._histories.values()))
    assert models is not None and len(models.added) >= 10  # the kept study was really used


def test_strategy_errors(space):
    with pytest.raises(UnknownNameError, match=r"known: .*evolution, .*local, .*random, reinforce.*Did you mean 'evolution'"):
        strategies.get("evolutoin", space)
    with pytest.raises(UserInputError, match="unknown option.*population_size"):
        strategies.get("evolution", space, pop=3)
    with pytest.raises(UserInputError, match="tournament_size"):
        strategies.get("evolution", space, population_size=3, tournament_size=5)
    with pytest.raises(UserInputError, match="crossover_rate"):
        strategies.get("evolution", space, crossover_rate=2)


@pytest.mark.parametrize("name", strategies.names())
def test_each_strategy_is_registered_under_its_own_name(name):
    assert strategies.REGISTRY.factory(name).name == name


@pytest.mark.parametrize("name, option, value, message", [
    ("evolution", "population_size", 1, "an int >= 2"), ("evolution", "crossover_rate", -0.5, "a number in [0, 1]"),
    ("asha", "resource", "flops", "one of 'epochs', 'seconds', 'subset'"), ("asha", "eta", 1, "a number > 1"),
    ("asha", "sampler", "tpe", "one of 'random', 'evolution'"), ("asha", "min_resource", 0, "a number > 0"),
    ("asha", "max_resource", 0.5, "a number >= 1"), ("asha", "tournament_size", 0, "an int >= 1"),
    ("asha", "random_fraction", 1.5, "a number in [0, 1]"), ("asha", "seconds_per_unit", -1, "a number > 0"),
    ("hyperband", "eta", 1.5, "an int >= 2"), ("hyperband", "resource", "flops", "one of"),
    ("hyperband", "sampler", "evolution", "one of 'random', 'tpe'"), ("bohb", "min_resource", -1, "a number > 0"),
    ("reinforce", "learning_rate", 0, "a number in (0, 10]"), ("reinforce", "baseline_decay", 2, "[0, 1]"),
    ("reinforce", "entropy_weight", "x", "a number in [0, 10]"), ("tpe", "n_startup_trials", 0, "an int >= 1"),
])
def test_bad_options_are_named_in_one_message_style(name, option, value, message, space):
    with pytest.raises(UserInputError, match=rf"The '{option}' parameter of {name} must be .*Got .* instead"
                       ) as error:
        strategies.get(name, space, **{option: value})
    assert message in str(error.value)


def test_multi_fidelity_resources_are_checked_together(space):
    with pytest.raises(UserInputError, match=r"'max_resource' parameter of asha must be a number in \[0.1, 1\]"):
        strategies.get("asha", space, resource="subset", min_resource=0.1, max_resource=2)
    with pytest.raises(UserInputError, match="'seconds_per_unit' parameter of asha needs resource='subset'"):
        strategies.get("asha", space, seconds_per_unit=10)
    with pytest.raises(UserInputError, match="'tournament_size' parameter of evolution must be <= population_size"):
        strategies.get("evolution", space, population_size=3, tournament_size=4)


def test_decision_models_refuse_spaces_without_fixed_decisions():
    free = spaces.DefineByRunSpace(lambda hp: None, name="x")
    for name, options in (("tpe", {}), ("hyperband", {"sampler": "tpe"}), ("bohb", {})):
        with pytest.raises(UserInputError, match="fixed decisions"):
            strategies.get(name, free, **options)


def test_local_search_climbs_to_the_optimum_of_a_separable_objective():
    nb = spaces.get("nb201")  # all decisions categorical: every wrong edge is fixable in one step
    history = drive(strategies.get("local", nb, seed=0), MatchTarget(nb), 300)
    scores = [s for _, s in history]
    first_hit = scores.index(1.0)  # raises if the optimum was never found
    assert first_hit <= 1 + 6 * 24  # from the first sample, <= 6 improving moves of <= 24 neighbours each


class TinySpace(spaces.DecisionSpace):
    """4 decisions x 3 choices = 81 architectures."""

    name = "tiny"

    def __init__(self):
        super().__init__([spaces.Decision(f"d{i}", ("a", "b", "c")) for i in range(4)])

    def build(self, arch, input_shape, num_classes, width_multiplier=1.0):
        raise NotImplementedError


def test_reinforce_policy_concentrates_on_the_optimum():
    space = TinySpace()
    est = MatchTarget(space)
    target = [d.index(est.target[d.name]) for d in space.decisions]
    agent = strategies.get("reinforce", space, seed=0, learning_rate=0.1)
    before = np.prod([p[c] for p, c in zip(agent.probabilities(target), target)])
    drive(agent, est, 300)
    after = np.prod([p[c] for p, c in zip(agent.probabilities(target), target)])
    assert before == pytest.approx(1 / 81)
    assert after > 0.5, after


def test_reinforce_temperature_flattens_the_policy():
    space = TinySpace()
    est = MatchTarget(space)
    agent = strategies.get("reinforce", space, seed=0, learning_rate=0.1)
    drive(agent, est, 150)
    hot = strategies.get("reinforce", space, seed=0, learning_rate=0.1, temperature=5.0)
    hot.load_state_dict(agent.state_dict())
    peak = lambda a: max(p.max() for p in a.probabilities([0, 0, 0, 0]))
    assert peak(hot) < peak(agent)
    with pytest.raises(UserInputError, match="temperature"):
        strategies.get("reinforce", space, temperature=0)
    with pytest.raises(UserInputError, match="fixed decisions"):
        strategies.get("reinforce", spaces.DefineByRunSpace(lambda hp: None, name="x"))
