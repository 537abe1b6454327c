"""Multi-objective ASHA (Schmucker et al. 2021, "Multi-objective Asynchronous Successive
Halving", arXiv:2106.12639): asynchronous successive halving whose promotions rank a
rung's results by Pareto dominance instead of one score.

How partial results are compared: only results *of the same rung* are ranked
against each other, so every architecture in the comparison was trained with
the same resource (epochs, seconds or data share). Their objective values are
those measured at that rung: validation accuracy after the rung's training,
and costs (parameters, FLOPs, latency) that do not depend on training. A
rung's results are ordered as NSGA-II orders a population: by non-dominated
front, then by descending crowding distance inside a front (ties by arrival),
and the first ``floor(n / eta)`` of that order may be promoted, exactly where
ASHA would take the top ``1/eta`` by score. So a cheap, slightly less
accurate network survives next to an accurate, expensive one. New
architectures are random samples (``initial`` ones first).
"""

from __future__ import annotations

import math

import numpy as np

from ..core.pareto import rank_and_crowding
from ._asha import ASHA
from ._common import register


@register("mo-asha")
class MOASHA(ASHA):
    """ASHA whose rungs promote by non-dominated rank and crowding distance over the study's objectives."""

    name = "mo-asha"
    multi_objective = True

    def __init__(self, space, seed=0, resource: str = "epochs", min_resource: float = 1, max_resource: float = 9,
                 eta: float = 3, initial: list | None = None, seconds_per_unit: float | None = None):
        super().__init__(space, seed, resource, min_resource, max_resource, eta, "random", initial=initial,
                         seconds_per_unit=seconds_per_unit)
        self.rung_values: list[dict[str, list[float]]] = [{} for _ in self.levels]  # arch json -> values
        self._orders: dict[int, list[str]] = {}  # rung -> its measured results in promotion order (derived)

    def config(self):
        return {"resource": self.resource, "min_resource": self.min_resource, "max_resource": self.max_resource,
                "eta": self.eta, "initial": self.initial, "seconds_per_unit": self.seconds_per_unit}

    def _promotable(self, rung: int):
        results = self.rungs[rung]
        k = math.floor(len(results) / self.eta)
        if k == 0:
            return None
        for arch_json in self._order(rung)[:k]:
            if arch_json not in self.promoted[rung]:
                return arch_json
        return None

    def _order(self, rung: int) -> list[str]:
        """The rung's successful results by (front, descending crowding, arrival); failures never promote.
        Cached until the rung gets a new result."""
        if rung not in self._orders:
            measured = [a for a, _ in self.rungs[rung] if a in self.rung_values[rung]]
            order: list[str] = []
            if measured:
                rank, crowd = rank_and_crowding(np.array([self.rung_values[rung][a] for a in measured]))
                order = [measured[i] for i in sorted(range(len(measured)), key=lambda i: (rank[i], -crowd[i], i))]
            self._orders[rung] = order
        return self._orders[rung]

    def tell(self, request, result):
        super().tell(request, result)  # the first objective's score: for standing() and best_at_top()
        values = self.values(result)
        rung = int(request.meta.get("rung", 0))
        if values is not None:
            self.rung_values[rung][request.arch.to_json()] = values
        self._orders.pop(rung, None)

    def _state(self):
        return {**super()._state(), "rung_values": [[[a, v] for a, v in r.items()] for r in self.rung_values]}

    def _load_state(self, state):
        super()._load_state(state)
        self.rung_values = [{a: list(v) for a, v in r} for r in state["rung_values"]]
        self._orders = {}
