"""What a second of search means, given to a study rather than guessed from its estimator.

A real training run spends wall-clock time; a tabular benchmark answers
instantly but says how long the training *would* have taken, so its study
runs on simulated time (the sum of the recorded training costs).
"""

from __future__ import annotations

import abc
import time


class Clock(abc.ABC):
    """Seconds of search so far, continuing from what earlier runs of a study spent."""

    simulated: bool = False

    def __init__(self):
        self.origin = 0.0

    def start(self, origin: float) -> None:
        """Begin counting at ``origin`` seconds (what earlier runs of the study spent)."""
        self.origin = origin

    @abc.abstractmethod
    def advance(self, cost_s: float) -> None:
        """A trial that cost ``cost_s`` seconds finished."""

    @abc.abstractmethod
    def now(self) -> float:
        """Seconds of search spent, ``origin`` included."""


class WallClock(Clock):
    """Real elapsed time: trials' own costs do not add to it (they are already in it)."""

    def __init__(self):
        super().__init__()
        self._t0 = time.monotonic()

    def start(self, origin: float) -> None:
        super().start(origin)
        self._t0 = time.monotonic()

    def advance(self, cost_s: float) -> None:
        pass

    def now(self) -> float:
        return self.origin + time.monotonic() - self._t0


class SimulatedClock(Clock):
    """Time as the sum of the trials' recorded costs (tabular benchmarks)."""

    simulated = True

    def __init__(self):
        super().__init__()
        self.spent = 0.0

    def start(self, origin: float) -> None:
        super().start(origin)
        self.spent = 0.0

    def advance(self, cost_s: float) -> None:
        self.spent += cost_s

    def now(self) -> float:
        return self.origin + self.spent
