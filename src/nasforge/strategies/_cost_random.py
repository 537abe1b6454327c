"""Random search that also uses the costs known before training (``cost-random``): the
reference a cost-aware strategy must beat, so that a gain is not only the free lookup.

Each ask looks up the known costs of ``num_random`` random samples (free, not
evaluations) into the archive of the cheapest unasked candidates. With probability
``cheap_share`` it then asks the archive's cheapest candidate in one known objective
(picked at random when several are known), which finds the cheap end of the front, where
the cheapest architecture always lies; otherwise a uniform random sample. Every
candidate breaking a constraint on a known cost is skipped, and so (``skip_repeats``) is one
whose known costs all equal an asked one's (most likely the same network in another encoding). Without a cost lookup it is
plain random search.
"""

from __future__ import annotations

from ..core import TrialRequest, check_float, check_int
from ._common import register
from ._known_costs import CostAwareStrategy


@register("cost-random")
class CostRandomSearch(CostAwareStrategy):
    """Random search, a ``cheap_share`` of whose trials go to the cheapest candidates looked up."""

    name = "cost-random"
    multi_objective = True

    def __init__(self, space, seed=0, cheap_share: float = 0.2, num_random: int = 200, archive: int = 20,
                 skip_repeats: bool = True):
        super().__init__(space, seed, archive, skip_repeats)
        self.cheap_share = check_float(self.name, "cheap_share", cheap_share, 0.0, 1.0)
        self.num_random = check_int(self.name, "num_random", num_random, 0)

    def config(self):
        return {"cheap_share": self.cheap_share, "num_random": self.num_random, "archive": self.archive_size,
                "skip_repeats": self.skip_repeats}

    def ask(self):
        known = self.known_objectives
        if known:
            self.update_archive([self.space.sample(self.rng) for _ in range(self.num_random)])
            if self.rng.random() < self.cheap_share:
                arch = self.cheapest_unasked(int(self.rng.integers(len(known))))
                if arch is not None:
                    self.mark_asked(arch)
                    return TrialRequest(arch, meta={"origin": "cheapest"})
        return TrialRequest(self.sample_allowed(), meta={"origin": "random"})

    def tell(self, request, result):
        pass

    def _state(self):
        return self._cost_state()

    def _load_state(self, state):
        self._load_cost_state(state)


__all__ = ["CostRandomSearch"]
