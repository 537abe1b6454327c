"""Local search: first-improvement hill climbing over the space's neighbours,
restarting from a random architecture at a local optimum. Simple, and on
NAS-Bench-201 famously hard to beat (White et al., "Local Search is State of
the Art for NAS Benchmarks", 2020)."""

from __future__ import annotations

from ..core import Arch, Strategy, TrialRequest
from ._common import register


@register("local")
class LocalSearch(Strategy):
    """Hill climbing: evaluate the incumbent's neighbours in random order and
    move to the first one that is better; restart at a local optimum."""

    name = "local"

    def __init__(self, space, seed=0):
        super().__init__(space, seed)
        self.incumbent: tuple[Arch, float] | None = None
        self.queue: list[Arch] = []

    def _refill(self) -> None:
        if self.incumbent is None:
            return
        fresh = [n for n in self.space.neighbors(self.incumbent[0]) if n.digest not in self.seen]
        order = self.rng.permutation(len(fresh))
        self.queue = [fresh[i] for i in order]

    def ask(self):
        if self.incumbent is not None and not self.queue:
            self.incumbent = None  # local optimum (or exhausted): restart
        if self.queue:
            arch = self.queue.pop(0)
            self.seen.add(arch.digest)
            return TrialRequest(arch, meta={"origin": "neighbor"})
        return TrialRequest(self.fresh(lambda: self.space.sample(self.rng)), meta={"origin": "restart"})

    def tell(self, request, result):
        score = self.score(result)
        if score is None:
            return
        if self.incumbent is None or score > self.incumbent[1]:
            self.incumbent = (request.arch, score)
            self._refill()

    def _state(self):
        return {"incumbent": None if self.incumbent is None else [self.incumbent[0].to_json(), self.incumbent[1]],
                "queue": [a.to_json() for a in self.queue]}

    def _load_state(self, state):
        inc = state["incumbent"]
        self.incumbent = None if inc is None else (Arch.from_json(inc[0]), inc[1])
        self.queue = [Arch.from_json(a) for a in state["queue"]]
