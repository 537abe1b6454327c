"""Asynchronous successive halving (ASHA; Li et al. 2020, "A System for Massively
Parallel Hyperparameter Tuning", MLSys) over a training resource, with a
random or evolutionary sampler for new architectures.

Rung ``k`` trains for ``min_resource * eta**k`` units of the resource
(epochs, or seconds for a time-equalised fidelity) up to ``max_resource``.
Whenever asked, the highest rung with an architecture in its top ``1/eta``
that was not promoted yet promotes it one rung up; otherwise a new
architecture starts in rung 0. Promotions are decided at ask time, so
parallel workers never promote the same architecture twice.

``initial`` architectures (e.g. a space's ``priors()``: known-good
designs) enter rung 0 before any sampled one. With ``sampler="evolution"``
new architectures are mutations of tournament
winners among recent rung-0 results (as regularized evolution does, but on
cheap evaluations); ``random_fraction`` of them stay random for exploration.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from ..core import Arch, Strategy, TrialRequest, UserInputError, check_choice, check_float, check_int
from ._common import RESOURCES, check_resources, register

SAMPLERS = ("random", "evolution")


def rung_resources(min_resource: float, max_resource: float, eta: float) -> list[float]:
    """The resource of each rung: min, min*eta, ... capped at (and ending with) max."""
    levels, r = [], float(min_resource)
    while r < max_resource * (1 - 1e-9):
        levels.append(r)
        r *= eta
    levels.append(float(max_resource))
    return levels


@dataclass(frozen=True)
class Standing:
    """Where an ASHA search stands, for a caller choosing its winner (see :meth:`ASHA.standing`)."""

    resource: str
    levels: tuple[float, ...]  # each rung's resource: epochs, seconds or a data share
    seconds: tuple[float, ...]  # each rung's training seconds (the levels themselves unless subsets are timed)
    rung: int | None = None  # the highest rung with a successful result; None before any
    best: Arch | None = None  # that rung's best architecture
    best_score: float | None = None
    looks: dict[str, list[tuple[float, float]]] = field(default_factory=dict)  # that rung's successful
    # candidates (arch JSON, in the order they finished) -> (seconds, score) at each rung each reached


@register("asha")
class ASHA(Strategy):
    """Successive halving without synchronisation barriers, over epochs, seconds or data subset."""

    name = "asha"

    def __init__(self, space, seed=0, resource: str = "epochs", min_resource: float = 1, max_resource: float = 9,
                 eta: float = 3, sampler: str = "random", population_size: int = 20, tournament_size: int = 5,
                 random_fraction: float = 0.2, initial: list | None = None, seconds_per_unit: float | None = None):
        super().__init__(space, seed)
        n = self.name
        check_choice(n, "resource", resource, RESOURCES)
        check_choice(n, "sampler", sampler, SAMPLERS)
        check_resources(n, resource, min_resource, max_resource)
        if seconds_per_unit is not None:
            check_float(n, "seconds_per_unit", seconds_per_unit, 0.0, open_low=True)
            if resource != "subset":
                raise UserInputError(f"The 'seconds_per_unit' parameter of asha needs resource='subset'. "
                                     f"Got resource={resource!r} instead.")
        check_float(n, "eta", eta, 1.0, open_low=True)
        check_int(n, "population_size", population_size, 2)
        check_int(n, "tournament_size", tournament_size, 1)
        check_float(n, "random_fraction", random_fraction, 0.0, 1.0)
        self.resource, self.sampler = resource, sampler
        self.min_resource, self.max_resource, self.eta = min_resource, max_resource, eta
        self.population_size, self.tournament_size = population_size, tournament_size
        self.random_fraction = float(random_fraction)
        self.seconds_per_unit = seconds_per_unit
        self._set_initial(initial)
        self.levels = rung_resources(min_resource, max_resource, eta)
        self.rungs: list[list[tuple[str, float]]] = [[] for _ in self.levels]  # (arch json, score) per rung
        self.promoted: list[set[str]] = [set() for _ in self.levels]  # arch json promoted out of each rung

    def config(self):
        return {"resource": self.resource, "min_resource": self.min_resource, "max_resource": self.max_resource,
                "eta": self.eta, "sampler": self.sampler, "population_size": self.population_size,
                "tournament_size": self.tournament_size, "random_fraction": self.random_fraction,
                "initial": self.initial, "seconds_per_unit": self.seconds_per_unit}

    def _fidelity(self, rung: int) -> dict:
        value = self.levels[rung]
        if self.resource == "epochs":
            value = max(1, int(round(value)))
        if self.seconds_per_unit is not None:  # a data subset trained for proportional time
            return {"subset": value, "seconds": round(value * self.seconds_per_unit, 3)}
        return {self.resource: value}

    def _promotable(self, rung: int) -> str | None:
        results = self.rungs[rung]
        k = math.floor(len(results) / self.eta)
        ok = [r for r in results if r[1] > -math.inf]  # a failed trial is never promoted
        for arch_json, _ in sorted(ok, key=lambda r: -r[1])[:k]:
            if arch_json not in self.promoted[rung]:
                return arch_json
        return None

    def _new_arch(self) -> Arch:
        population = self.rungs[0][-self.population_size:]
        if (self.sampler == "random" or len(population) < max(self.tournament_size, 2)
                or self.rng.random() < self.random_fraction):
            return self.fresh(lambda: self.space.sample(self.rng))

        def child():
            picks = self.rng.choice(len(population), size=min(self.tournament_size, len(population)), replace=False)
            parent = max((population[i] for i in picks), key=lambda r: r[1])[0]
            return self.space.mutate(Arch.from_json(parent), self.rng)

        return self.fresh(child)

    def ask(self):
        for rung in range(len(self.levels) - 2, -1, -1):
            arch_json = self._promotable(rung)
            if arch_json is not None:
                self.promoted[rung].add(arch_json)
                return TrialRequest(Arch.from_json(arch_json), self._fidelity(rung + 1),
                                    {"rung": rung + 1, "origin": "promoted"})
        initial = self._next_initial()
        if initial is not None:
            return TrialRequest(initial, self._fidelity(0), {"rung": 0, "origin": "initial"})
        return TrialRequest(self._new_arch(), self._fidelity(0), {"rung": 0, "origin": self.sampler})

    def tell(self, request, result):
        rung = int(request.meta.get("rung", 0))
        score = self.score(result)
        self.rungs[rung].append((request.arch.to_json(), -math.inf if score is None else score))

    def top_rung(self) -> int | None:
        """The highest rung with a successful result, or None before any."""
        for rung in range(len(self.levels) - 1, -1, -1):
            if any(score > -math.inf for _, score in self.rungs[rung]):
                return rung
        return None

    def best_at_top(self) -> tuple[Arch, float, int] | None:
        """The best architecture of the highest rung with a successful result: (arch, score, rung)."""
        rung = self.top_rung()
        if rung is None:
            return None
        arch_json, score = max(self.rungs[rung], key=lambda r: r[1])
        return Arch.from_json(arch_json), score, rung

    def standing(self) -> Standing:
        """The rungs' resources and seconds, and the finalists: the highest rung with a successful
        result, its best candidate, and each of its candidates' looks (the scores it had at every
        rung on its way up), from which a caller can extrapolate who leads after longer training."""
        seconds = tuple(self.levels)
        if self.seconds_per_unit is not None:
            seconds = tuple(round(level * self.seconds_per_unit, 3) for level in self.levels)
        top = self.best_at_top()
        if top is None:
            return Standing(self.resource, tuple(self.levels), seconds)
        arch, score, rung = top
        scores = [dict((a, s) for a, s in self.rungs[r] if s > -math.inf) for r in range(rung + 1)]
        looks = {a: [(seconds[r], scores[r][a]) for r in range(rung + 1) if a in scores[r]] for a in scores[rung]}
        return Standing(self.resource, tuple(self.levels), seconds, rung, arch, score, looks)

    def _state(self):
        return {"rungs": [[[a, s if s > -math.inf else None] for a, s in rung] for rung in self.rungs],
                "promoted": [sorted(p) for p in self.promoted]}

    def _load_state(self, state):
        self.rungs = [[(a, -math.inf if s is None else s) for a, s in rung] for rung in state["rungs"]]
        self.promoted = [set(p) for p in state["promoted"]]
