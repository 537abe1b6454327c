import math
import types

import pytest

from nasforge import spaces, strategies
from nasforge.auto import choose, extrapolated_ranking
from nasforge.auto.select import measured_looks
from nasforge.estimation import extrapolate_accuracy, power_law_exponent


def test_power_law_through_two_looks_is_exact_on_power_law_curves_and_clipped_elsewhere():
    curve = lambda t: 1.0 - 0.5 * t ** -0.4  # noqa: E731
    looks = [(20.0, curve(20.0)), (60.0, curve(60.0))]
    assert power_law_exponent(looks) == pytest.approx(0.4)
    assert extrapolate_accuracy(looks, 500.0) == pytest.approx(curve(500.0))
    assert extrapolate_accuracy(looks, 30.0) == looks[-1][1]  # never before the last look
    assert extrapolate_accuracy(looks[-1:], 500.0) == looks[-1][1]  # one look: nothing to carry on
    assert power_law_exponent([(20.0, 0.9), (60.0, 0.85)]) == 0.0  # got worse: no further gain assumed
    assert power_law_exponent([(20.0, 0.5), (60.0, 0.999)]) == 1.0  # implausibly steep: clipped


def test_a_slow_starter_that_learns_faster_wins_only_when_the_final_training_is_long():
    # Fashion-MNIST, 600 s budget: a 75k net leads the 297k hand CNN after 21 and 62 s of training
    small, big = [(20.5, 0.898), (61.6, 0.924)], [(20.5, 0.880), (61.6, 0.9195)]
    assert extrapolate_accuracy(big, 440.0) > extrapolate_accuracy(small, 440.0)
    assert extrapolate_accuracy(big, 70.0) < extrapolate_accuracy(small, 70.0)


def test_ranking_uses_each_top_rung_candidates_own_looks():
    space = spaces.get("macro-cnn")
    small, big, dropped = space.priors()[3], space.priors()[1], space.priors()[2]
    asha = strategies.get("asha", space, seed=0, resource="seconds", min_resource=20.5, max_resource=61.6, eta=4)
    assert asha.levels == [20.5, 61.6]  # two rungs
    asha.rungs = [[(small.to_json(), 0.898), (big.to_json(), 0.880), (dropped.to_json(), 0.86)],
                  [(small.to_json(), 0.924), (big.to_json(), 0.9195)]]
    looks = asha.standing().looks  # the top rung's candidates only, each with its own looks
    assert list(looks) == [small.to_json(), big.to_json()]
    long = extrapolated_ranking(looks, 440.0)
    assert [r["arch"] for r in long] == [big.to_json(), small.to_json()]
    assert long[0]["looks"] == [(20.5, 0.880), (61.6, 0.9195)]
    assert math.isclose(long[0]["exponent"], math.log(0.12 / 0.0805) / math.log(61.6 / 20.5), abs_tol=1e-4)
    assert [r["arch"] for r in extrapolated_ranking(looks, 61.6)] == [small.to_json(), big.to_json()]


def test_the_winner_is_extrapolated_from_the_rung_it_reached_plus_the_final_training():
    space = spaces.get("macro-cnn")
    small, big = space.priors()[3], space.priors()[1]
    # three rungs (20.5, 61.5, 184.5 s), but the search ended before anything reached the last
    asha = strategies.get("asha", space, seed=0, resource="seconds", min_resource=20.5, max_resource=184.5, eta=3)
    asha.rungs = [[(small.to_json(), 0.898), (big.to_json(), 0.880)],
                  [(small.to_json(), 0.924), (big.to_json(), 0.9195)], []]
    study = types.SimpleNamespace(strategy=asha, storage=types.SimpleNamespace(trials=lambda statuses: []))
    assert asha.top_rung() == 1
    assert asha.levels == [20.5, 61.5, 184.5]
    choice = choose(study, "asha", final_s=378.5)
    assert choice.seconds == 61.5 and choice.horizon_s == pytest.approx(440.0)
    assert choice.arch == big and choice.score == 0.9195  # the steeper curve, with its own last look
    assert [row["arch"] for row in choice.extrapolation] == [big.to_json(), small.to_json()]
    asha.rungs = [[], [], []]
    assert asha.top_rung() is None and choose(study, "asha", 100.0).arch is None


def test_a_stretched_first_look_is_extrapolated_from_the_seconds_it_trained():
    space = spaces.get("macro-cnn")
    small, big = space.priors()[3], space.priors()[1]
    asha = strategies.get("asha", space, seed=0, resource="seconds", min_resource=20.5, max_resource=61.5, eta=3)
    asha.rungs = [[(small.to_json(), 0.870), (big.to_json(), 0.876)], [(small.to_json(), 0.9065), (big.to_json(), 0.8965)]]

    def trial(arch, seconds, trained):
        return types.SimpleNamespace(arch=arch, fidelity={"epochs": 1000, "seconds": seconds},
                                     curve=[{"train_seconds_total": trained}])

    stored = [trial(small, 20.5, 20.6), trial(big, 20.5, 41.2), trial(small, 61.5, 61.6), trial(big, 61.5, 61.8)]
    study = types.SimpleNamespace(strategy=asha, storage=types.SimpleNamespace(trials=lambda statuses: stored))
    looks = measured_looks(study, asha.standing().looks)
    assert looks == {small.to_json(): [(20.6, 0.870), (61.6, 0.9065)], big.to_json(): [(41.2, 0.876), (61.8, 0.8965)]}
    # the big net gained 0.021 in 20.6 s, the small one 0.0365 in 41 s: the big net's curve is the steeper
    choice = choose(study, "asha", final_s=378.5)
    assert choice.arch == big and choice.extrapolation[0]["looks"] == [(41.2, 0.876), (61.8, 0.8965)]
    # read at the rungs' nominal seconds, the small net would have won
    assert extrapolated_ranking(asha.standing().looks, 440.0)[0]["arch"] == small.to_json()
