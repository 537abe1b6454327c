"""Was the machine free enough to train? ``auto`` compares how fast the final model trained with how
fast it trained when its speed was probed, and how much of the data it saw, and says so.

On a shared machine other processes take the cores: PyTorch's kernels then slow down several-fold
(measured ~10x while other jobs ran), the final training sees a fraction of an epoch, and the
test accuracy says more about the load than about the search. The budget is still kept (the
training runs on the clock, the wrap-up is measured); this verdict tells the user whether to trust
the result or rerun on a free machine.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Any

BUSY_RATIO = 0.5  # final training at < half the probed speed: the cores were taken by other work
OTHERS_SHARE = 0.5  # other processes' load (load average less this run's threads) >= half the CPUs: busy
FAIR_SHARE = 0.75  # ... unless this run still got >= 3/4 of its threads' CPU time (the others ran at a lower
# priority, e.g. under `nice`: the load average counts them, but they did not take this run's cores)
MIN_EPOCHS = 1.0  # a final training that does not see every sample once has not trained meaningfully


def process_cpu_seconds() -> float:
    """CPU seconds this process has used so far, all its threads together."""
    t = os.times()
    return t.user + t.system


def cpu_share(cpu_seconds: float, wall_seconds: float, threads: int) -> float | None:
    """The share of ``threads`` cores this process got over ``wall_seconds`` (1.0: all of them)."""
    return round(cpu_seconds / (wall_seconds * threads), 3) if wall_seconds > 1.0 and threads > 0 else None


def load_average() -> float | None:
    """The 1-minute load average (runnable processes, this one included), or None where unknown."""
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):
        return None


@dataclass
class TrainingConditions:
    """Speeds (samples per second) and load seen during ``auto``, and the verdict drawn from them."""

    cpus: int = field(default_factory=lambda: os.cpu_count() or 1)
    load_start: float | None = field(default_factory=load_average)
    load_end: float | None = None
    probe_samples_per_s: float | None = None  # the final model's speed, timed for a few steps before training
    search_samples_per_s: float | None = None  # its speed during the search (a continued winner)
    final_samples_per_s: float | None = None
    final_epochs: float | None = None
    threads: int = 1  # the final training's threads: its own share of the load average
    cpu_share: float | None = None  # CPU time the final training got / (its wall time x threads)
    final_precision: str | None = None  # "bf16" or "fp32": what precision="auto" chose on this machine

    def verdict(self) -> dict[str, Any]:
        """``busy`` (the final training ran at < BUSY_RATIO of the best speed measured before it, or the
        load average says other work took the cores and this run got < FAIR_SHARE of its threads' time),
        ``undertrained`` (< MIN_EPOCHS of final training) and one message per finding."""
        self.load_end = load_average() if self.load_end is None else self.load_end
        messages, ratio = [], None
        before = self.search_samples_per_s  # the same model in the same loop (the thread probe's plain
        # SGD steps run up to ~40x faster than the real loop's on tiny models: not comparable)
        if before and math.isfinite(before) and self.final_samples_per_s is not None:
            ratio = self.final_samples_per_s / before
        slowed = ratio is not None and ratio < BUSY_RATIO
        if slowed:
            messages.append(f"the machine was busy: the final training ran at {100 * ratio:.0f}% of the model's "
                            f"speed in the search ({self.final_samples_per_s:.0f} vs {before:.0f} samples/s)")
        loads = [x for x in (self.load_start, self.load_end) if x is not None]
        others = max(loads) - self.threads if loads else 0.0
        got_cores = self.cpu_share is not None and self.cpu_share >= FAIR_SHARE
        crowded = others >= OTHERS_SHARE * self.cpus and not got_cores
        if crowded:
            messages.append(f"the machine was busy: load average {max(loads):.1f} on {self.cpus} CPU(s), about "
                            f"{others:.1f} more runnable processes than this run's {self.threads} thread(s)")
        busy = slowed or crowded
        undertrained = self.final_epochs is not None and self.final_epochs < MIN_EPOCHS
        if undertrained:
            messages.append(f"the final training saw only {self.final_epochs:.2f} epochs of the data, too little "
                            "to train meaningfully")
        if busy or undertrained:
            messages.append("the test accuracy reflects the load more than the search: rerun on a free machine "
                            "or with a larger --time-budget")
        return {"busy": busy, "undertrained": undertrained, "speed_ratio": None if ratio is None else round(ratio, 3),
                "cpus": self.cpus, "load_average_start": self.load_start, "load_average_end": self.load_end,
                "probe_samples_per_s": _round(self.probe_samples_per_s),
                "search_samples_per_s": _round(self.search_samples_per_s),
                "final_samples_per_s": _round(self.final_samples_per_s), "cpu_share": self.cpu_share,
                "final_precision": self.final_precision, "messages": messages}


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 1)
