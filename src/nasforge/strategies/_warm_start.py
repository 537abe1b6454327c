"""A warm start for any strategy: given architectures (e.g. the best of many scored by a
zero-cost proxy) become its first trials, and it learns from their results as from its own."""

from __future__ import annotations

from ..core import Strategy, TrialRequest
from ._hyperband import Hyperband

ORIGIN = "warm-start"


class WarmStart(Strategy):
    """Asks ``initial`` architectures first, each once, then whatever ``inner`` asks.

    ``inner`` is told every result, the warm-start ones included (they enter an evolution's
    population, a predictor's training data, a local search's incumbent), except in Hyperband
    and BOHB, whose rungs only take architectures they started themselves. The state is the
    inner strategy's; which warm-start architectures were asked is the study's history
    (``remember``), so a resumed study asks none of them twice.
    """

    def __init__(self, inner: Strategy, initial: list):
        super().__init__(inner.space, inner.seed)
        self.inner = inner
        self.name, self.multi_objective = inner.name, inner.multi_objective
        self.uses_known_costs = inner.uses_known_costs
        self.objectives = inner.objectives
        self._set_initial(initial)

    def ask(self):
        arch = self._next_initial()
        if arch is None:
            return self.inner.ask()
        self.inner.seen.add(arch.digest)
        return TrialRequest(arch, meta={"origin": ORIGIN})

    def tell(self, request, result):
        if request.meta.get("origin") == ORIGIN and isinstance(self.inner, Hyperband):
            return
        self.inner.tell(request, result)

    def set_objectives(self, names) -> None:
        self.inner.set_objectives(names)
        self.objectives = self.inner.objectives

    def set_known_costs(self, lookup, constraints=()) -> None:
        super().set_known_costs(lookup, constraints)
        self.inner.set_known_costs(lookup, constraints)

    def score(self, result):
        return self.inner.score(result)

    def values(self, result):
        return self.inner.values(result)

    def config(self):
        return self.inner.config()

    def remember(self, archs) -> None:
        archs = list(archs)
        super().remember(archs)
        self.inner.remember(archs)

    def state_dict(self):
        return self.inner.state_dict()

    def load_state_dict(self, state):
        self.inner.load_state_dict(state)


def warm_start(strategy: Strategy, archs: list) -> Strategy:
    """``strategy`` asking ``archs`` (Arch, dict or JSON) first. A strategy with its own list of
    ``initial`` architectures (random, evolution, ASHA) takes them there, ahead of its own, so
    they run as its first trials (at ASHA's lowest rung) and replace its random ones; any
    other is wrapped in :class:`WarmStart`."""
    archs = [a.to_dict() if hasattr(a, "to_dict") else a for a in archs]
    if not archs:
        return strategy
    if isinstance(getattr(strategy, "initial", None), list):
        strategy._set_initial([*archs, *strategy.initial])
        return strategy
    return WarmStart(strategy, archs)


__all__ = ["ORIGIN", "WarmStart", "warm_start"]
