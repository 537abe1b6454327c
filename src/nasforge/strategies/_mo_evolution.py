"""Multi-objective regularized evolution: aging evolution (Real et al. 2019) whose
tournament compares members by Pareto rank, as in Syne Tune's MO regularized evolution.

The first ``population_size`` trials are random. Afterwards each child comes
from the best of ``tournament_size`` random members of the population, "best"
meaning the lowest non-dominated front of the population (ties: the larger
crowding distance, so the front spreads out); with probability
``crossover_rate`` it is the crossover of two such winners, else a mutation
of one. Every successful result joins the population and the oldest member
leaves, as in single-objective aging evolution.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from ..core import Arch, Strategy, TrialRequest, UserInputError, check_float, check_int
from ..core.pareto import rank_and_crowding
from ._common import evolved_child, register


@register("mo-evolution")
class MORegularizedEvolution(Strategy):
    """Aging evolution with a Pareto-rank tournament over the study's objectives."""

    name = "mo-evolution"
    multi_objective = True

    def __init__(self, space, seed=0, population_size: int = 20, tournament_size: int = 5,
                 crossover_rate: float = 0.25):
        super().__init__(space, seed)
        self.population_size = check_int(self.name, "population_size", population_size, 2)
        self.tournament_size = check_int(self.name, "tournament_size", tournament_size, 1)
        if tournament_size > population_size:
            raise UserInputError(f"The 'tournament_size' parameter of {self.name} must be <= population_size "
                                 f"({population_size}). Got {tournament_size!r} instead.")
        self.crossover_rate = check_float(self.name, "crossover_rate", crossover_rate, 0.0, 1.0)
        self.population: deque[tuple[str, list[float]]] = deque()
        self.asked = 0
        self._ranking = None

    def config(self):
        return {"population_size": self.population_size, "tournament_size": self.tournament_size,
                "crossover_rate": self.crossover_rate}

    def _tournament(self) -> Arch:
        if self._ranking is None:
            self._ranking = rank_and_crowding(np.array([v for _, v in self.population]))
        rank, crowd = self._ranking
        picks = self.rng.choice(len(self.population), size=self.tournament_size, replace=False)
        best = min(picks, key=lambda i: (rank[i], -crowd[i], i))
        return Arch.from_json(self.population[best][0])

    def _child(self) -> Arch:
        return evolved_child(self, self._tournament)

    def ask(self):
        self.asked += 1
        if len(self.population) < self.tournament_size or self.asked <= self.population_size:
            return TrialRequest(self.fresh(lambda: self.space.sample(self.rng)), meta={"origin": "random"})
        return TrialRequest(self.fresh(self._child), meta={"origin": "evolved"})

    def tell(self, request, result):
        values = self.values(result)
        if values is None:
            return
        self.population.append((request.arch.to_json(), values))
        while len(self.population) > self.population_size:
            self.population.popleft()
        self._ranking = None

    def _state(self):
        return {"asked": self.asked, "population": [[a, v] for a, v in self.population]}

    def _load_state(self, state):
        self.asked = state["asked"]
        self.population = deque((a, list(v)) for a, v in state["population"])
        self._ranking = None
