"""ParEGO-style multi-objective Bayesian optimisation (Knowles 2006, "ParEGO: a hybrid
algorithm with on-line landscape approximation for expensive multiobjective optimization
problems", IEEE TEVC): at every ask, a fresh random weight vector turns the objectives
into one augmented Chebyshev scalarisation, and ``gp-bo``'s Gaussian process proposes
the architecture that maximises expected improvement of that scalar.

Each objective (minimisation form) is scaled to [0, 1] by the smallest and largest
value observed so far; with weights ``w`` drawn uniformly from the simplex, an
architecture's scalar cost is ``max_i w_i f_i + rho * sum_i w_i f_i`` (``rho`` = 0.05,
Knowles' choice). Different weights aim at different parts of the front, so the
proposals spread along it. The candidates are mutations of the best architectures
under this ask's weights plus random samples, as in every predictor strategy.

State: the evaluated ``(decisions, values)`` pairs (at most ``max_data``), the ask
counter and the model seed; the weights come from the strategy's own generator.
"""

from __future__ import annotations

import numpy as np

from ..core import Arch, check_float
from ..core.pareto import non_dominated
from ._common import register
from ._gp_bo import GPBO


def chebyshev(values: np.ndarray, weights: np.ndarray, rho: float = 0.05) -> np.ndarray:
    """Augmented Chebyshev cost of each row of ``values`` (already scaled to [0, 1]); smaller is better."""
    weighted = values * weights
    return weighted.max(axis=1) + rho * weighted.sum(axis=1)


@register("parego")
class ParEGO(GPBO):
    """Random Chebyshev scalarisations of the objectives, each optimised by GP expected improvement."""

    name = "parego"
    multi_objective = True

    def __init__(self, space, seed=0, initial: int = 10, num_candidates: int = 150, top_k: int = 10,
                 random_fraction: float = 0.2, epsilon: float = 0.0, max_data: int = 400,
                 acquisition: str = "ei", beta: float = 2.0, xi: float = 0.0, rho: float = 0.05):
        super().__init__(space, seed, initial, num_candidates, top_k, random_fraction, epsilon, max_data,
                         acquisition, beta, xi)
        self.rho = check_float(self.name, "rho", rho, 0.0, 1.0)
        self.points: list[tuple[Arch, list[float]]] = []  # evaluated (arch, minimisation values)

    def config(self):
        return {**super().config(), "rho": self.rho}

    def scalarize(self, weights: np.ndarray) -> list[tuple[Arch, float]]:
        """The evaluated architectures with their score (higher is better) under ``weights``."""
        values = np.array([v for _, v in self.points])
        low, high = values.min(axis=0), values.max(axis=0)
        scaled = (values - low) / np.where(high > low, high - low, 1.0)
        cost = chebyshev(scaled, weights, self.rho)
        return [(a, -float(c)) for (a, _), c in zip(self.points, cost)]

    def ask(self):
        if self.points:
            weights = self.rng.dirichlet(np.ones(len(self.points[0][1])))
            self.data = self.scalarize(weights)
        return super().ask()

    def tell(self, request, result):
        self.pending.pop(request.arch.digest, None)
        values = self.values(result)
        if values is None:
            return
        self.points.append((request.arch, values))
        if len(self.points) > self.max_data:
            # forget the oldest observation off the current front: the front is what the search builds on
            front = set(non_dominated(np.array([v for _, v in self.points])))
            drop = next((i for i in range(len(self.points)) if i not in front), 0)
            del self.points[drop]
        self.data = [(a, 0.0) for a, _ in self.points]  # only the count matters until the next ask scalarises

    def _state(self):
        return {"asked": self.asked, "model_seed": self.model_seed,
                "points": [[dict(a.to_dict()["decisions"]), v] for a, v in self.points]}

    def _load_state(self, state):
        self.asked = state["asked"]
        self.model_seed = state["model_seed"]
        self.points = [(Arch(self.space.name, d), list(v)) for d, v in state["points"]]
        self.data = [(a, 0.0) for a, _ in self.points]
        self.pending = {}
