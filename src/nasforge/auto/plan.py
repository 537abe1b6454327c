"""How ``auto`` splits its budget: the checks of its arguments, the plan, and the deadline."""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..core import UserInputError, check_int
from ..estimation import AUGMENTATIONS

# Defaults chosen by measurement; see docs/auto.md for the experiments.
SEARCH_FRACTION = 0.35
RUNG0_SHARE = 1 / 10  # rung-0 training seconds as a share of the search time (rungs continue, see docs/auto.md)
# The search time of a 600 s budget, where RUNG0_SHARE was measured. Past it, rungs grow with the
# square root of the search time, so a longer budget buys more candidates as well as longer looks
# (at 1,800 s, linear rungs looked at the same 4 priors and 2 mutations for longer; docs/auto.md).
LONG_SEARCH_S = 210.0
ETA = 3
RUNGS = 2  # few, long looks: at 10-30 s of training the light and the full-resolution nets tie (docs/auto.md)
MIN_RUNG_SECONDS = 1.0
# A first look lasts until the candidate saw this many epochs (at most 2.5x its rung's seconds,
# estimation.FIRST_LOOK_STRETCH). On a 2-core bf16 CPU the 297k VGG prior read 0.845 after 20.5 s
# (0.34 epochs) against the 75k prior's 0.870 (0.76 epochs), and was never promoted; per epoch it is
# the better net (0.876 at 0.68 epochs), and the final training gives both ~10 epochs (docs/auto.md).
FIRST_LOOK_EPOCHS = 0.75
BUDGET_TOLERANCE = 1.01  # a run within 1 % of its budget kept it (issue 22)
WRAP_UP_GUESS = 10.0  # seconds kept aside for testing and exporting when splitting the budget
RUNG_MODES = ("subset", "time")
AUGMENT_MODES = ("auto", *AUGMENTATIONS)  # auto: chosen by mirror_test
SEARCHES = ("asha", "random")  # random: the single-fidelity ablation used by benchmarks/budgeted_search.py


@dataclass(frozen=True)
class AutoPlan:
    """How a budget is split: search seconds, the rung training times, the final training."""

    budget_s: float
    search_s: float
    rung_seconds: tuple[float, ...]
    available_s: float = 0.0  # search + final training seconds

    def to_dict(self) -> dict[str, Any]:
        return {"budget_s": self.budget_s, "search_s": self.search_s, "rung_seconds": list(self.rung_seconds),
                "available_s": self.available_s}


def make_plan(budget_s: float, available_s: float, search_fraction: float = SEARCH_FRACTION,
              rung0_share: float = RUNG0_SHARE) -> AutoPlan:
    """Split the ``available_s`` seconds left after loading the data between search and final training.
    Rung 0 trains ``rung0_share`` of the search time, or of ``sqrt(search_s * LONG_SEARCH_S)`` past
    ``LONG_SEARCH_S``: twice the search time then buys ~1.4x longer looks at ~1.4x more candidates."""
    search_s = max(0.0, search_fraction * available_s)
    scale_s = search_s if search_s <= LONG_SEARCH_S else math.sqrt(search_s * LONG_SEARCH_S)
    rung0 = round(max(MIN_RUNG_SECONDS, scale_s * rung0_share), 2)
    rungs = tuple(rung0 * ETA ** k for k in range(RUNGS))  # exact multiples: ASHA rebuilds them from rung 0
    return AutoPlan(budget_s, search_s, rungs, available_s)


def process_started_at() -> float | None:
    """When this process started, on the ``time.monotonic()`` clock (Linux: from ``/proc``), so a
    budget counts the interpreter's start and the imports before any of nasforge's code ran; None
    where the system does not say."""
    try:
        ticks = int(Path("/proc/self/stat").read_text().rsplit(")", 1)[1].split()[19])
        uptime = float(Path("/proc/uptime").read_text().split()[0])
        age = uptime - ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, AttributeError):
        return None
    return time.monotonic() - age if 0.0 <= age < 3600.0 else None


class Deadline:
    """Seconds left until a fixed moment on the monotonic clock."""

    def __init__(self, start: float, budget_s: float):
        self.start, self.budget_s = start, budget_s
        self.end = start + budget_s

    def left(self) -> float:
        return self.end - time.monotonic()

    def spent(self) -> float:
        return time.monotonic() - self.start


def check_arguments(time_budget, search_fraction, search: str, rungs: str, augment: str, ensemble: int = 1) -> None:
    """A UserInputError for the first argument of ``auto`` that cannot work."""
    if not (isinstance(time_budget, (int, float)) and math.isfinite(time_budget) and time_budget >= 10):
        raise UserInputError(f"--time-budget must be at least 10 seconds; got {time_budget!r}")
    if not (isinstance(search_fraction, (int, float)) and 0.0 <= search_fraction < 1.0):
        raise UserInputError(f"--search-fraction must be in [0, 1); got {search_fraction!r}")
    for name, value, known in (("search", search, SEARCHES), ("rungs", rungs, RUNG_MODES),
                               ("augment", augment, AUGMENT_MODES)):
        if value not in known:
            raise UserInputError(f"unknown {name} {value!r}; known: {', '.join(known)}")
    check_int(None, "ensemble", ensemble, low=1, kind="auto option")
