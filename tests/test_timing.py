"""The latency timing protocol: estimators on synthetic timings, rounds, interleaving, the record."""

import numpy as np
import pytest
import torch
from torch import nn

from nasforge.core import UserInputError
from nasforge.estimation import (MeasureConfig, TimingProtocol, measure_costs, measure_latencies, measure_latency,
                                 reduce_rounds)
from nasforge.estimation._timing import round_minima_spread, time_rounds

# two passes over the same network on a machine with slow phases: the minimum finds the same value,
# the median follows the phase (pass 1 mostly fast, pass 2 mostly slow)
PASS_1 = [[1.02, 1.00, 1.05], [1.01, 1.03, 1.00], [1.60, 1.55, 1.58], [1.04, 1.00, 1.02]]
PASS_2 = [[1.62, 1.57, 1.60], [1.55, 1.59, 1.61], [1.00, 1.03, 1.01], [1.58, 1.56, 1.60]]


def test_minimum_is_the_fastest_run_of_all_rounds():
    assert reduce_rounds(PASS_1, "min") == 1.00
    assert reduce_rounds(PASS_2, "min") == 1.00


def test_median_of_round_minima_by_hand():
    # round minima 1.00, 1.00, 1.55, 1.00 -> median 1.00; pass 2: 1.57, 1.55, 1.00, 1.56 -> median 1.555
    assert reduce_rounds(PASS_1, "round-min-median") == pytest.approx(1.00)
    assert reduce_rounds(PASS_2, "round-min-median") == pytest.approx(1.555)


def test_median_of_all_runs_ignores_rounds():
    flat = sorted(t for r in PASS_1 for t in r)
    assert reduce_rounds(PASS_1, "median") == pytest.approx((flat[5] + flat[6]) / 2)
    assert reduce_rounds([[3.0, 1.0, 2.0]], "median") == 2.0


def test_round_spread_is_the_iqr_of_round_minima():
    assert round_minima_spread([[5.0, 1.0]]) == 0.0
    minima = [1.0, 2.0, 3.0, 4.0, 5.0]
    q = np.quantile(minima, [0.25, 0.75], method="weibull")  # statistics.quantiles' default ("exclusive")
    assert round_minima_spread([[m, m + 1] for m in minima]) == pytest.approx(q[1] - q[0])


def test_bad_statistic_and_empty_rounds_are_errors():
    with pytest.raises(UserInputError, match="statistic.*min"):
        reduce_rounds(PASS_1, "mean")
    with pytest.raises(ValueError, match="every round"):
        reduce_rounds([[1.0], []])


def test_protocol_from_repeats_splits_into_rounds():
    p = TimingProtocol.from_repeats(50)
    assert (p.rounds, p.runs, p.repeats, p.statistic) == (10, 5, 50, "min")
    assert TimingProtocol.from_repeats(3).rounds == 3  # fewer runs than rounds: one run per round
    assert TimingProtocol.from_repeats(31, rounds=10).runs == 4  # rounded up
    assert p.describe() == "min of 10 rounds x 5 runs after 5 warm-up"
    assert "0.5 s apart" in TimingProtocol(gap_s=0.5).describe()
    with pytest.raises(UserInputError, match="rounds"):
        TimingProtocol(rounds=0)


def test_time_rounds_interleaves_callables_round_by_round():
    order = []
    calls = [lambda: order.append("a"), lambda: order.append("b")]
    pauses = []
    wall, cpu = time_rounds(calls, TimingProtocol(rounds=3, runs=2, warmup=1, gap_s=0.25), sleep=pauses.append)
    assert order == ["a", "b"] + ["a", "a", "b", "b"] * 3  # warm-up, then each round times both in turn
    assert pauses == [0.25, 0.25]  # between rounds, not before the first
    assert len(wall) == len(cpu) == 2 and all(len(w) == 3 and all(len(r) == 2 for r in w) for w in wall)


def test_garbage_collector_is_off_only_while_timing():
    import gc

    seen = []
    time_rounds([lambda: seen.append(gc.isenabled())], TimingProtocol(rounds=2, runs=1, warmup=1))
    assert seen == [True, False, False] and gc.isenabled()


def tiny():
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(1, 4, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 8 * 8, 10))


def test_measure_latency_reports_the_protocol_and_its_estimate():
    stats = measure_latency(tiny(), (1, 8, 8), repeats=12, rounds=4, warmup=1)
    assert stats.repeats == 12 and stats.latency_ms == stats.min_ms  # default statistic: the fastest run
    assert stats.protocol == "min of 4 rounds x 3 runs after 1 warm-up, wall clock"
    old = measure_latency(tiny(), (1, 8, 8), repeats=5, rounds=1, warmup=0, statistic="median")
    assert old.latency_ms == old.median_ms and old.protocol.startswith("median of 1 rounds x 5 runs")
    with pytest.raises(UserInputError, match="statistic"):
        measure_latency(tiny(), (1, 8, 8), statistic="mean")


def test_measure_latencies_gives_one_record_per_model():
    small, big = tiny(), nn.Sequential(*[nn.Conv2d(1, 1, 3, padding=1) for _ in range(40)])
    stats = measure_latencies([small, big], [(1, 8, 8), (1, 32, 32)], repeats=6, rounds=3, warmup=1)
    assert [s.input_shape for s in stats] == [(1, 8, 8), (1, 32, 32)]
    assert stats[1].latency_ms > stats[0].latency_ms  # 40 convolutions on 16x more pixels
    with pytest.raises(UserInputError, match="as many input shapes"):
        measure_latencies([small, big], [(1, 8, 8)], repeats=2)


def test_trial_record_names_the_protocol():
    metrics = measure_costs(tiny(), (1, 8, 8), MeasureConfig(repeats=6, rounds=2, warmup=0))
    assert metrics["latency_protocol"] == "min of 2 rounds x 3 runs after 0 warm-up, wall clock"
    assert metrics["latency_ms"] == metrics["latency_ms_min"] <= metrics["latency_ms_median"]
    old = measure_costs(tiny(), (1, 8, 8), MeasureConfig(repeats=4, rounds=1, warmup=0, statistic="median"))
    assert old["latency_ms"] == old["latency_ms_median"] and old["latency_protocol"].startswith("median")
    with pytest.raises(UserInputError, match="statistic"):
        MeasureConfig(statistic="p10")
