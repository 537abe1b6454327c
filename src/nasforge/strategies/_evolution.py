"""Regularized (aging) evolution, Real et al. 2019 ("Regularized Evolution for
Image Classifier Architecture Search", AAAI): tournament selection from a
population where the *oldest* member dies each generation."""

from __future__ import annotations

from collections import deque

from ..core import Arch, Strategy, TrialRequest, UserInputError, check_float, check_int
from ._common import evolved_child, register


@register("evolution")
class RegularizedEvolution(Strategy):
    """Aging evolution with tournament selection, mutation and crossover.

    The first ``population_size`` trials are random. Afterwards each child
    comes from the best of ``tournament_size`` random members (exploitation
    grows with the tournament size); with probability ``crossover_rate`` it
    is the crossover of two such winners, otherwise a mutation of one.
    Every told result joins the population and the oldest member leaves.
    ``initial`` architectures (e.g. the best of a proxy warm start) are asked
    first, each once, in place of random members.
    """

    name = "evolution"

    def __init__(self, space, seed=0, population_size: int = 10, tournament_size: int = 3,
                 crossover_rate: float = 0.25, initial: list | None = None):
        super().__init__(space, seed)
        self.population_size = check_int(self.name, "population_size", population_size, 2)
        self.tournament_size = check_int(self.name, "tournament_size", tournament_size, 1)
        if tournament_size > population_size:
            raise UserInputError(f"The 'tournament_size' parameter of evolution must be <= population_size "
                                 f"({population_size}). Got {tournament_size!r} instead.")
        self.crossover_rate = check_float(self.name, "crossover_rate", crossover_rate, 0.0, 1.0)
        self.population: deque[tuple[Arch, float]] = deque()
        self.asked = 0
        self._set_initial(initial)

    def config(self):
        return {"population_size": self.population_size, "tournament_size": self.tournament_size,
                "crossover_rate": self.crossover_rate, **({"initial": self.initial} if self.initial else {})}

    def _tournament(self) -> Arch:
        picks = self.rng.choice(len(self.population), size=self.tournament_size, replace=False)
        return max((self.population[i] for i in picks), key=lambda member: member[1])[0]

    def _child(self) -> Arch:
        return evolved_child(self, self._tournament)

    def ask(self):
        self.asked += 1
        initial = self._next_initial()
        if initial is not None:
            return TrialRequest(initial, meta={"origin": "initial"})
        if len(self.population) < self.tournament_size or self.asked <= self.population_size:
            return TrialRequest(self.fresh(lambda: self.space.sample(self.rng)), meta={"origin": "random"})
        return TrialRequest(self.fresh(self._child), meta={"origin": "evolved"})

    def tell(self, request, result):
        score = self.score(result)
        if score is None:
            return
        self.population.append((request.arch, score))
        while len(self.population) > self.population_size:
            self.population.popleft()  # aging: the oldest dies, not the worst

    def _state(self):
        return {"asked": self.asked, "population": [[a.to_json(), s] for a, s in self.population]}

    def _load_state(self, state):
        self.asked = state["asked"]
        self.population = deque((Arch.from_json(a), s) for a, s in state["population"])
