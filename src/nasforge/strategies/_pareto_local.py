"""Pareto local search (Paquete, Chiarandini & Stützle 2004, "Pareto local optimum sets in
the biobjective traveling salesman problem"): the multi-objective form of local search,
which White et al. (2021, "Exploring the loss landscape in neural architecture search")
found hard to beat on NAS benchmarks in the single-objective case.

The first ``initial`` trials are random. Afterwards every ask takes a member of the
current front (the non-dominated architectures told so far, on the study's objectives),
chosen at random among those with a neighbour not yet asked, and proposes one of those
neighbours (the space's ``neighbors``: every architecture one decision away). A told
result that no front member dominates joins the front and evicts the members it
dominates. When every front member's neighbourhood has been asked, a random architecture
restarts the search.

State: the front (at most ``max_front`` members; beyond that the most crowded leave);
which neighbours were asked is the study's history (``remember``), not the state.
"""

from __future__ import annotations

import numpy as np

from ..core import Arch, Strategy, TrialRequest, check_int
from ..core.pareto import crowding_distance, dominates
from ._common import register


@register("mo-local")
class ParetoLocalSearch(Strategy):
    """Pareto local search: explore the neighbours of the current front."""

    name = "mo-local"
    multi_objective = True

    def __init__(self, space, seed=0, initial: int = 10, max_front: int = 100):
        super().__init__(space, seed)
        self.initial = check_int(self.name, "initial", initial, 1)
        self.max_front = check_int(self.name, "max_front", max_front, 2)
        self.front: list[tuple[str, list[float]]] = []
        self.asked = 0

    def config(self):
        return {"initial": self.initial, "max_front": self.max_front}

    def _neighbour(self) -> Arch | None:
        for i in self.rng.permutation(len(self.front)):
            options = [n for n in self.space.neighbors(Arch.from_json(self.front[i][0])) if n.digest not in self.seen]
            if options:
                choice = options[int(self.rng.integers(len(options)))]
                self.seen.add(choice.digest)
                return choice
        return None

    def ask(self):
        self.asked += 1
        if self.asked > self.initial and self.front:
            arch = self._neighbour()
            if arch is not None:
                return TrialRequest(arch, meta={"origin": "neighbour"})
        return TrialRequest(self.fresh(lambda: self.space.sample(self.rng)), meta={"origin": "random"})

    def tell(self, request, result):
        values = self.values(result)
        if values is None or any(dominates(v, values) for _, v in self.front):
            return
        self.front = [(a, v) for a, v in self.front if not dominates(values, v)]
        self.front.append((request.arch.to_json(), values))
        if len(self.front) > self.max_front:
            crowd = crowding_distance(np.array([v for _, v in self.front]))
            del self.front[int(np.argmin(crowd))]

    def _state(self):
        return {"asked": self.asked, "front": [[a, v] for a, v in self.front]}

    def _load_state(self, state):
        self.asked = state["asked"]
        self.front = [(a, list(v)) for a, v in state["front"]]
