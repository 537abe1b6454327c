"""Learning-curve extrapolation: how accurate will a candidate be after much longer training?

Successive halving compares candidates after equal, short trainings, which
favours networks that learn fast early: at 21 and 62 s of training a 75k
net leads the 297k hand CNN on Fashion-MNIST (0.898 / 0.924 vs 0.880 /
0.920), yet after the ~440 s the final training gives, the larger net is
better (docs/auto.md). Validation error under a fixed learning-rate
schedule falls roughly as a power of training time (Domhan et al. 2015 use
power laws among their curve families; Hestness et al. 2017 for data and
model size), so two looks of the same candidate give its exponent, and the
exponent decides who leads later.
"""

from __future__ import annotations

import math

MAX_EXPONENT = 1.0  # error at most halves per doubling of training time: steeper is look-to-look noise


def power_law_exponent(looks: list[tuple[float, float]]) -> float:
    """``alpha`` of ``error ~ seconds ** -alpha`` through the first and last of ``looks``
    (``(training seconds, accuracy)`` in time order), clipped to ``[0, MAX_EXPONENT]``."""
    (t0, a0), (t1, a1) = looks[0], looks[-1]
    e0, e1 = max(1.0 - a0, 1e-6), max(1.0 - a1, 1e-6)
    if t1 <= t0 or e1 >= e0:
        return 0.0
    return min(MAX_EXPONENT, math.log(e0 / e1) / math.log(t1 / t0))


def extrapolate_accuracy(looks: list[tuple[float, float]], seconds: float) -> float:
    """Accuracy expected after ``seconds`` of training from ``looks`` (``(seconds, accuracy)`` in
    time order): the last look itself with one look or at its own time, else the power law
    through the first and last look carried on to ``seconds``."""
    t1, a1 = looks[-1]
    if len(looks) < 2 or seconds <= t1:
        return a1
    return 1.0 - (1.0 - a1) * (seconds / t1) ** -power_law_exponent(looks)
