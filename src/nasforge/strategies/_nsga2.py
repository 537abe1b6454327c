"""NSGA-II, Deb et al. 2002 ("A fast and elitist multiobjective genetic algorithm:
NSGA-II", IEEE TEVC), asked one architecture at a time.

The first ``population_size`` trials are random. Afterwards each child is
bred from binary-tournament winners of the current population (lower front
wins, then the larger crowding distance): with probability
``crossover_rate`` the crossover of two winners, else one winner, then
mutated. Every ``population_size`` successful results form a generation of
offspring; the next population is the best ``population_size`` of parents
plus offspring by non-dominated sorting, the last front cut by crowding
distance (elitism). Asks never wait for a generation to finish, so parallel
workers stay busy (children are bred from the latest complete population).
"""

from __future__ import annotations

import numpy as np

from ..core import Arch, Strategy, TrialRequest, check_float, check_int
from ..core.pareto import rank_and_crowding, select_best
from ._common import register


@register("nsga2")
class NSGA2(Strategy):
    """NSGA-II: non-dominated sorting and crowding distance over the study's objectives."""

    name = "nsga2"
    multi_objective = True

    def __init__(self, space, seed=0, population_size: int = 20, tournament_size: int = 2,
                 crossover_rate: float = 0.5):
        super().__init__(space, seed)
        self.population_size = check_int(self.name, "population_size", population_size, 2)
        self.tournament_size = check_int(self.name, "tournament_size", tournament_size, 1, population_size)
        self.crossover_rate = check_float(self.name, "crossover_rate", crossover_rate, 0.0, 1.0)
        self.population: list[tuple[str, list[float]]] = []  # survivors: (arch json, minimisation values)
        self.offspring: list[tuple[str, list[float]]] = []  # results of the generation being filled
        self.asked = 0
        self._ranking = None  # (rank, crowding) of the population, derived

    def config(self):
        return {"population_size": self.population_size, "tournament_size": self.tournament_size,
                "crossover_rate": self.crossover_rate}

    def _ranks(self):
        if self._ranking is None:
            self._ranking = rank_and_crowding(np.array([v for _, v in self.population]))
        return self._ranking

    def _tournament(self) -> Arch:
        rank, crowd = self._ranks()
        picks = self.rng.choice(len(self.population), size=min(self.tournament_size, len(self.population)),
                                replace=False)
        best = min(picks, key=lambda i: (rank[i], -crowd[i], i))
        return Arch.from_json(self.population[best][0])

    def _child(self) -> Arch:
        parent = self._tournament()
        if self.rng.random() < self.crossover_rate:
            parent = self.space.crossover(parent, self._tournament(), self.rng)
        return self.space.mutate(parent, self.rng)

    def ask(self):
        self.asked += 1
        if not self.population:
            return TrialRequest(self.fresh(lambda: self.space.sample(self.rng)), meta={"origin": "random"})
        return TrialRequest(self.fresh(self._child), meta={"origin": "evolved"})

    def tell(self, request, result):
        values = self.values(result)
        if values is None:
            return
        self.offspring.append((request.arch.to_json(), values))
        if len(self.offspring) >= self.population_size:
            merged = self.population + self.offspring
            keep = select_best(np.array([v for _, v in merged]), self.population_size)
            self.population = [merged[i] for i in sorted(keep)]
            self.offspring = []
            self._ranking = None

    def _state(self):
        return {"asked": self.asked, "population": [[a, v] for a, v in self.population],
                "offspring": [[a, v] for a, v in self.offspring]}

    def _load_state(self, state):
        self.asked = state["asked"]
        self.population = [(a, list(v)) for a, v in state["population"]]
        self.offspring = [(a, list(v)) for a, v in state["offspring"]]
        self._ranking = None
