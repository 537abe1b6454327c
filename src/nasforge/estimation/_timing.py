"""The latency timing protocol: warm-up, then rounds of timed runs, reduced to one repeatable number.

Why rounds and a minimum (measured on the 2-core EPYC KVM guest, docs/results/hardware.md,
2026-12-01 evening): the slowdowns on this machine are not independent run-to-run noise but
*phases* that last seconds and slow every network at once by 1.05-1.85x (the other core's work
competing for cache and memory; they show in the thread's CPU time as much as in wall time,
so the CPU clock does not remove them). A median of consecutive runs reports whichever phase the
measurement fell in, so two passes over the same networks disagreed by more than 10% for 60% of
them. Spreading the timed runs over rounds (interleaved across networks, or separated by a pause)
and keeping the fastest round's minimum finds the undisturbed latency in each pass: two passes
then agreed within 10% for all 40 networks of a development set. The median of the round minima,
the other candidate, agreed for only 32-52%: it still follows the phase. Timed runs cannot be
faster than the work they time, so a low estimator has no lucky-outlier problem to guard against.

``statistic`` keeps the older estimators available: ``"median"`` (median of all timed runs, the
protocol before 2026-12-01 with ``rounds=1``) and ``"round-min-median"`` (median of per-round minima).
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

from ..core import check_choice, check_float, check_int

STATISTICS = ("min", "round-min-median", "median")


@dataclass(frozen=True)
class TimingProtocol:
    """``warmup`` untimed calls, then ``rounds`` rounds of ``runs`` timed calls each, ``gap_s`` seconds
    apart (several callables are interleaved: each round times every one of them in turn);
    ``statistic`` reduces one callable's rounds to its latency."""

    rounds: int = 10
    runs: int = 5
    warmup: int = 5
    statistic: str = "min"
    gap_s: float = 0.0

    def __post_init__(self):
        check_int(None, "rounds", self.rounds, low=1, kind="measurement option")
        check_int(None, "runs", self.runs, low=1, kind="measurement option")
        check_int(None, "warmup", self.warmup, low=0, kind="measurement option")
        check_choice(None, "statistic", self.statistic, STATISTICS, kind="measurement option")
        check_float(None, "gap_s", self.gap_s, low=0, kind="measurement option")

    @classmethod
    def from_repeats(cls, repeats: int, rounds: int = 10, warmup: int = 5, statistic: str = "min",
                     gap_s: float = 0.0) -> TimingProtocol:
        """``repeats`` timed calls in all, split into ``rounds`` rounds (fewer if there are fewer calls)."""
        check_int(None, "repeats", repeats, low=1, kind="measurement option")
        check_int(None, "rounds", rounds, low=1, kind="measurement option")
        rounds = min(rounds, repeats)
        return cls(rounds, math.ceil(repeats / rounds), warmup, statistic, gap_s)

    @property
    def repeats(self) -> int:
        return self.rounds * self.runs

    def describe(self) -> str:
        """One line for a measurement record, e.g. ``min of 10 rounds x 5 runs after 5 warm-up``."""
        gap = f", {self.gap_s:g} s apart" if self.gap_s else ""
        return f"{self.statistic} of {self.rounds} rounds x {self.runs} runs{gap} after {self.warmup} warm-up"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def reduce_rounds(rounds_s: Sequence[Sequence[float]], statistic: str = "min") -> float:
    """One callable's latency from its timed rounds (seconds in, seconds out):

    ``"min"``: the fastest run of all rounds; ``"round-min-median"``: the median of the per-round
    minima; ``"median"``: the median of all runs, rounds ignored."""
    check_choice(None, "statistic", statistic, STATISTICS, kind="measurement option")
    if not rounds_s or not all(rounds_s):
        raise ValueError("reduce_rounds needs at least one timed run in every round")
    if statistic == "min":
        return min(min(r) for r in rounds_s)
    if statistic == "round-min-median":
        return statistics.median(min(r) for r in rounds_s)
    return statistics.median(t for r in rounds_s for t in r)


def round_minima_spread(rounds_s: Sequence[Sequence[float]]) -> float:
    """Inter-quartile range of the per-round minima (how much the machine's state moved during the
    measurement; 0 with a single round)."""
    minima = sorted(min(r) for r in rounds_s)
    if len(minima) < 2:
        return 0.0
    q = statistics.quantiles(minima, n=4)
    return q[2] - q[0]


def time_rounds(calls: Sequence[Callable[[], Any]], protocol: TimingProtocol,
                sleep: Callable[[float], None] = time.sleep) -> tuple[list, list]:
    """Time every callable by ``protocol``, interleaved round by round, by the wall clock and by this
    thread's CPU clock: ``(wall, cpu)``, each ``[callable][round][run]`` in seconds. The garbage
    collector is off while timing (a collection inside a timed call is not the model's latency)."""
    for call in calls:
        for _ in range(protocol.warmup):
            call()
    wall = [[] for _ in calls]
    cpu = [[] for _ in calls]
    was_enabled = gc.isenabled()
    try:
        for r in range(protocol.rounds):
            if r and protocol.gap_s:
                sleep(protocol.gap_s)
            gc.disable()
            for i, call in enumerate(calls):
                w, c = [], []
                for _ in range(protocol.runs):
                    start, start_cpu = time.perf_counter(), time.thread_time()
                    call()
                    c.append(time.thread_time() - start_cpu)
                    w.append(time.perf_counter() - start)
                wall[i].append(w)
                cpu[i].append(c)
            if was_enabled:
                gc.enable()
    finally:
        if was_enabled:
            gc.enable()
    return wall, cpu
