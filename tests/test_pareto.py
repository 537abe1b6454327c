"""Pareto utilities and objectives against hand-computed cases (core, no torch)."""

import itertools

import numpy as np
import pytest

from nasforge.core import UnknownNameError, UserInputError, objectives
from nasforge.core.objectives import Constraint
from nasforge.core.pareto import (crowding_distance, dominates, hypervolume, hypervolume_history, non_dominated,
                                  non_dominated_sort, normalize, rank_and_crowding, reference_point, select_best)

# minimisation form: (1,5), (2,3), (4,1) are non-dominated; (3,4) is dominated by (2,3); (5,5) by all
POINTS = np.array([[1, 5], [2, 3], [3, 4], [4, 1], [5, 5]], dtype=float)


def inclusion_exclusion(points, ref):
    """Exact hypervolume of a few points by inclusion-exclusion over every subset (independent of the code)."""
    total = 0.0
    for r in range(1, len(points) + 1):
        for subset in itertools.combinations(range(len(points)), r):
            corner = points[list(subset)].max(axis=0)
            total += (-1) ** (r + 1) * np.prod(np.clip(ref - corner, 0, None))
    return total


def test_non_dominated_sort_by_hand():
    assert non_dominated_sort(POINTS) == [[0, 1, 3], [2], [4]]
    assert non_dominated(POINTS) == [0, 1, 3]
    assert dominates([2, 3], [3, 4]) and not dominates([1, 5], [2, 3]) and not dominates([1, 1], [1, 1])


def test_equal_points_share_a_front():
    assert non_dominated_sort([[1, 1], [1, 1], [2, 2]]) == [[0, 1], [2]]


def test_crowding_distance_by_hand():
    front = POINTS[[0, 1, 3]]  # (1,5) (2,3) (4,1): the middle one's neighbours span the whole front
    d = crowding_distance(front)
    assert np.isinf(d[0]) and np.isinf(d[2])
    assert d[1] == pytest.approx((4 - 1) / 3 + (5 - 1) / 4)
    d4 = crowding_distance([[0, 4], [1, 2], [3, 1], [4, 0]])
    assert d4[1] == pytest.approx(3 / 4 + 3 / 4) and d4[2] == pytest.approx(3 / 4 + 2 / 4)


def test_rank_and_selection_keep_fronts_then_spread():
    rank, crowd = rank_and_crowding(POINTS)
    assert rank.tolist() == [0, 0, 1, 0, 2]
    assert sorted(select_best(POINTS, 3)) == [0, 1, 3]
    # four on one front, keep 3: the boundary points (infinite crowding) stay, then the less crowded inner one
    line = np.array([[0, 10], [1, 9], [5, 5], [10, 0]], dtype=float)
    assert sorted(select_best(line, 3)) == [0, 2, 3]


def test_hypervolume_by_hand():
    assert hypervolume(POINTS, [6, 6]) == pytest.approx(5 + 8 + 4)  # slabs of (1,5), (2,3), (4,1)
    assert hypervolume([[1, 1, 1]], [2, 2, 2]) == pytest.approx(1)
    assert hypervolume([[0, 1, 1], [1, 0, 1]], [2, 2, 2]) == pytest.approx(2 + 2 - 1)
    assert hypervolume([[3, 3]], [2, 2]) == 0.0  # beyond the reference: nothing
    assert hypervolume(np.zeros((0, 2)), [1, 1]) == 0.0


@pytest.mark.parametrize("m", [2, 3, 4])
def test_hypervolume_matches_inclusion_exclusion(m):
    rng = np.random.default_rng(m)
    for _ in range(5):
        points = rng.random((9, m))
        ref = np.full(m, 1.1)
        assert hypervolume(points, ref) == pytest.approx(inclusion_exclusion(points, ref), rel=1e-10)


def test_hypervolume_history_grows_to_the_final_volume():
    rng = np.random.default_rng(0)
    points = rng.random((40, 3))
    history = hypervolume_history(points, [1, 1, 1])
    assert np.all(np.diff(history) >= -1e-12)
    assert history[-1] == pytest.approx(hypervolume(points, [1, 1, 1]))
    assert history[9] == pytest.approx(hypervolume(points[:10], [1, 1, 1]))


def test_reference_point_and_normalisation():
    assert reference_point(POINTS).tolist() == pytest.approx([5 + 0.4, 5 + 0.4])
    scaled = normalize(POINTS, best=[1, 1], worst=[5, 5])
    assert scaled.min() == 0 and scaled.max() == 1


def test_objectives_have_directions_and_orient_values():
    assert objectives.get("val_accuracy").direction == "maximize"
    assert objectives.get("latency_ms").direction == "minimize"
    assert objectives.oriented({"val_accuracy": 0.9, "params": 10}, ["val_accuracy", "params"]) == [-0.9, 10.0]
    assert objectives.oriented({"val_accuracy": 0.9}, ["val_error"]) == [pytest.approx(0.1)]
    assert objectives.oriented({"val_accuracy": 0.9}, ["val_accuracy", "params"]) is None
    for name in ("val_accuracy", "val_error", "test_accuracy", "params", "flops", "latency_ms", "size_bytes",
                 "peak_memory_mb", "energy_j"):
        assert name in objectives.names()
    with pytest.raises(UnknownNameError, match="latency_ms"):
        objectives.get("latency")
    with pytest.raises(UserInputError, match="differ"):
        objectives.check_objectives(["params", "params"])


def test_constraints_parse_check_and_explain():
    c = Constraint.parse(" latency_ms <= 2.5 ")
    assert (c.metric, c.op, c.bound) == ("latency_ms", "<=", 2.5) and str(c) == "latency_ms<=2.5"
    assert Constraint.parse(str(c)) == c
    assert c.satisfied({"latency_ms": 2.5}) and not c.satisfied({"latency_ms": 2.6})
    assert c.satisfied({}) is None  # not checkable yet
    assert "latency_ms=3 breaks latency_ms<=2.5" == c.violation({"latency_ms": 3})
    assert Constraint.parse("val_accuracy>0.9").satisfied({"val_accuracy": 0.95})
    assert Constraint.parse("params<=1e5").bound == 100000
    for bad in ("latency_ms=2", "latency_ms<=fast", "<=2"):
        with pytest.raises(UserInputError, match="METRIC<=NUMBER"):
            Constraint.parse(bad)
    with pytest.raises(UnknownNameError):
        Constraint.parse("speed<=2")
