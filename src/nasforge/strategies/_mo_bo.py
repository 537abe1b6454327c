"""Multi-objective Bayesian optimisation that knows the costs before training (``mo-bo``).

Accuracy needs a training; latency, parameters and FLOPs do not (a table's record, a
latency predictor, the built model). So every candidate's cost objectives are looked up
exactly and for free (:class:`~._known_costs.CostAwareStrategy`), a surrogate from
:mod:`nasforge.predictors` predicts only what training reveals, and each training is spent
on the candidate whose result is expected to add the most hypervolume to the current front.

Each ask (after ``initial`` random trials, and except for an ``explore`` share of random
ones):

1. **Pool**: ``num_mutations`` mutations (one or two steps) of the current front's members,
   ``num_random`` random samples, and the archive of the cheapest candidates looked up so
   far and not asked; candidates asked before or breaking a constraint on a known cost are
   dropped. Every candidate's known costs are looked up (cached; not evaluations).
2. **Surrogate**: one predictor (default ``gp``) per objective not known before training,
   fitted to the evaluated architectures' encodings. The front is the evaluated points with
   those objectives at the surrogate's fitted mean (denoised: a lucky run does not set the
   bar), plus the pending architectures at their predicted mean ("kriging believer").
3. **Acquisition**: with one known and one unknown objective (accuracy x latency), the
   exact *expected hypervolume improvement* (EHVI) under the surrogate's normal: with the
   cost ``c`` fixed, the improvement of a point at height ``y`` is the integral over
   heights ``v > y`` of the uncovered width ``max(0, m(v) - c)``, ``m(v)`` the smallest
   cost of a front point at height ``<= v``; so EHVI = sum over the front's steps of
   ``width x s [G(z_hi) - G(z_lo)]`` with ``G(z) = z Phi(z) + phi(z)`` (closed form). In
   any other case, the hypervolume improvement of the optimistic point (unknown objectives
   at mean - ``beta`` x std, known ones exact). The reference point is, per objective, the
   worst value among the evaluated points (and, for known costs, the pool) plus 10% of its
   range. If no candidate can improve the front, the most uncertain one is asked.

Without a cost lookup (a strategy driven by hand, or nothing known before training) every
objective gets a surrogate: the same method, minus the free information.

State: the evaluated ``(decisions, values)`` (at most ``max_data``), the ask counter, the
model seed, the GP's hyperparameters and when they were chosen, the archive and the count
of lookups. Pending requests live only in memory (re-asked after a kill anyway).
"""

from __future__ import annotations

import numpy as np

from ..core import Arch, TrialRequest, UserInputError, check_choice, check_float, check_int
from ..core.pareto import hypervolume, non_dominated
from ..predictors import GaussianProcess, normal_cdf, normal_pdf, single_threaded_blas
from ..predictors import get as get_predictor
from ..predictors import names as predictor_names
from ._common import register
from ._known_costs import CostAwareStrategy


def expected_hvi(front: np.ndarray, reference, cost: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """Expected hypervolume improvement over a 2-D ``front`` (minimisation form; column 0 known
    exactly, column 1 uncertain) of candidates at known ``cost`` whose other objective is normal
    with ``mean`` and ``std``; bounded by ``reference``. With std -> 0, the plain improvement."""
    rx, ry = float(reference[0]), float(reference[1])
    f = np.asarray(front, dtype=np.float64).reshape(-1, 2)
    f = f[(f[:, 0] < rx) & (f[:, 1] < ry)]
    if len(f):
        f = f[non_dominated(f)]
        f = f[np.argsort(f[:, 1], kind="stable")]  # heights up, costs down
    tops = np.concatenate([f[:, 1], [ry]])  # the upper end of each step; the first starts at -inf
    widths = np.concatenate([[rx], f[:, 0]])  # m(v) on each step
    s = np.maximum(np.asarray(std, dtype=np.float64), 1e-12)[:, None]
    z = (tops[None, :] - np.asarray(mean, dtype=np.float64)[:, None]) / s
    g = z * normal_cdf(z) + normal_pdf(z)
    mass = s * (g - np.concatenate([np.zeros((len(g), 1)), g[:, :-1]], axis=1))
    uncovered = np.maximum(widths[None, :] - np.asarray(cost, dtype=np.float64)[:, None], 0.0)
    return np.maximum((uncovered * mass).sum(axis=1), 0.0)


def hypervolume_improvement(front: np.ndarray, reference, points: np.ndarray) -> np.ndarray:
    """How much hypervolume each row of ``points`` would add to ``front`` (any number of objectives)."""
    ref = np.asarray(reference, dtype=np.float64)
    front = np.asarray(front, dtype=np.float64).reshape(-1, len(ref))
    front = front[np.all(front < ref, axis=1)]
    front = front[non_dominated(front)] if len(front) else front  # once, not in every hypervolume below
    base = hypervolume(front, ref)
    out = np.zeros(len(points))
    for i, p in enumerate(np.asarray(points, dtype=np.float64)):
        if np.all(p < ref) and not np.any(np.all(front <= p, axis=1)):
            out[i] = hypervolume(np.vstack([front, p[None, :]]), ref) - base
    return out


@register("mo-bo")
class MOBO(CostAwareStrategy):
    """Multi-objective BO: exact known costs, a surrogate for the rest, expected hypervolume improvement.

    Options: ``initial`` random trials; ``num_random`` random samples and ``num_mutations``
    mutations of the front per pool, plus an ``archive`` of the cheapest unasked candidates
    per known objective; ``explore``: share of random trials after the start; ``predictor``:
    a registered predictor (``gp``, ``mlp-ensemble``, ``gbt``) for the objectives training
    reveals; ``refit_every``: the GP's hyperparameters are chosen again after this many new
    results (in between, only its weights are refitted); ``beta``: optimism of the
    acquisition when it is not the exact EHVI; ``max_data``: observations kept;
    ``cost_features``: give the surrogate the known costs as extra input columns;
    ``skip_repeats``: never ask a candidate whose known costs all equal an asked one's;
    ``reference``: the acquisition's reference point, ``'observed'`` (the worst evaluated
    value of each objective plus 10% of its range) or ``'front'`` (the current front's own
    worst plus 10%: only improvements near the front count).
    """

    name = "mo-bo"
    multi_objective = True

    def __init__(self, space, seed=0, initial: int = 10, num_random: int = 100, num_mutations: int = 100,
                 archive: int = 20, explore: float = 0.1, predictor: str = "gp", refit_every: int = 5,
                 beta: float = 1.0, max_data: int = 300, cost_features: bool = True, skip_repeats: bool = True,
                 reference: str = "observed"):
        super().__init__(space, seed, archive, skip_repeats)
        n = self.name
        self.initial = check_int(n, "initial", initial, 2)
        self.num_random = check_int(n, "num_random", num_random, 0)
        self.num_mutations = check_int(n, "num_mutations", num_mutations, 0)
        if self.num_random + self.num_mutations == 0:
            raise UserInputError(f"The 'num_random' and 'num_mutations' parameters of {n} must not both be 0 "
                                 "(the pool would be empty).")
        self.explore = check_float(n, "explore", explore, 0.0, 1.0)
        self.predictor = check_choice(n, "predictor", predictor, tuple(predictor_names()))
        self.refit_every = check_int(n, "refit_every", refit_every, 1)
        self.beta = check_float(n, "beta", beta, 0.0, 100.0)
        self.max_data = check_int(n, "max_data", max_data, 2 * self.initial)
        self.cost_features = bool(cost_features)
        self.reference = check_choice(n, "reference", reference, ("observed", "front"))
        self.points: list[tuple[Arch, list[float]]] = []  # evaluated (arch, minimisation values)
        self.asked = 0
        self.model_seed = int(seed)
        self.hyper: dict[str, list[float]] = {}  # objective -> the GP's [lengthscale, noise ratio]
        self.hyper_at = -1  # number of points when they were chosen
        self.pending: dict[str, Arch] = {}
        self._codes: dict[Arch, np.ndarray] = {}

    def config(self):
        return {"initial": self.initial, "num_random": self.num_random, "num_mutations": self.num_mutations,
                "archive": self.archive_size, "explore": self.explore, "predictor": self.predictor,
                "refit_every": self.refit_every, "beta": self.beta, "max_data": self.max_data,
                "cost_features": self.cost_features, "skip_repeats": self.skip_repeats,
                "reference": self.reference}

    # -- ask / tell ---------------------------------------------------------------------------------

    def ask(self):
        self.asked += 1
        if len(self.points) + len(self.pending) < self.initial or len(self.points) < 2:
            arch, origin = self.sample_allowed(), "random"
        elif self.explore > 0 and self.rng.random() < self.explore:
            arch, origin = self.sample_allowed(), "explore"
        else:
            pool = self.candidate_pool()
            if pool:
                with single_threaded_blas():
                    arch = pool[self.choose(pool)]
                self.mark_asked(arch)
                origin = "model"
            else:
                arch, origin = self.sample_allowed(), "random"
        self.pending[arch.digest] = arch
        return TrialRequest(arch, meta={"origin": origin})

    def tell(self, request, result):
        self.pending.pop(request.arch.digest, None)
        values = self.values(result)
        if values is None or not np.all(np.isfinite(values)):
            return
        self.points.append((request.arch, [float(v) for v in values]))
        if len(self.points) > self.max_data:
            # forget the oldest observation off the current front: the front is what the search builds on
            front = set(non_dominated(np.array([v for _, v in self.points])))
            del self.points[next((i for i in range(len(self.points)) if i not in front), 0)]

    # -- the pool -----------------------------------------------------------------------------------

    def candidate_pool(self) -> list[Arch]:
        """Mutations of the front, random samples and the archive; unasked, allowed, costs known."""
        values = np.array([v for _, v in self.points])
        parents = [self.points[i][0] for i in non_dominated(values)]
        pool: dict[Arch, None] = {}
        for i in range(self.num_mutations):
            child = self.space.mutate(parents[i % len(parents)], self.rng)
            if self.rng.random() < 0.25:
                child = self.space.mutate(child, self.rng)
            pool[child] = None
        for _ in range(self.num_random):
            pool[self.space.sample(self.rng)] = None
        fresh = [a for a in pool if self.unasked(a) and self.allowed(a)]
        self.update_archive(fresh)
        fresh += [a for a in self.archive if a not in pool]  # the archive is unasked and allowed
        if self.known_objectives:
            fresh = [a for a in fresh if self.known_values(a) is not None]
        return fresh

    # -- the surrogate and the acquisition ------------------------------------------------------------

    def encode(self, archs: list[Arch]) -> np.ndarray:
        rows = []
        for a in archs:
            code = self._codes.get(a)
            if code is None:
                code = np.asarray(self.space.encode(a), dtype=np.float64)
                if self.cost_features and self.known_objectives:
                    code = np.concatenate([code, np.abs(self.known_values(a))])
                self._codes[a] = code
            rows.append(code)
        if len(self._codes) > 50_000:
            self._codes.clear()
        return np.stack(rows)

    def model_rng(self) -> np.random.Generator:
        """This ask's generator for a model fit, fixed by (model seed, data size, asks)."""
        return np.random.default_rng([self.model_seed, len(self.points), self.asked])

    def fit(self, objective: str, x: np.ndarray, y: np.ndarray):
        """The surrogate of one objective; a GP reuses its hyperparameters between refits."""
        features = len(self.known_objectives) if self.cost_features else 0
        if self.predictor != "gp":
            return get_predictor(self.predictor, seed=self.model_rng(), features=features).fit(x, y)
        if objective in self.hyper and len(self.points) - self.hyper_at < self.refit_every:
            return GaussianProcess(*self.hyper[objective], features=features).fit(x, y)
        gp = GaussianProcess(features=features).fit(x, y)
        self.hyper[objective] = [float(gp.lengthscale_), float(gp.noise_ratio_)]
        return gp

    def predict(self, pool: list[Arch]) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """(front points, pool means, pool stds, pending points): known objectives exact, the
        others from their surrogates (the front's at the fitted mean)."""
        known = self.known_objectives
        archs = [a for a, _ in self.points]
        front = np.array([v for _, v in self.points], dtype=np.float64)
        pending = list(self.pending.values())
        pend = np.zeros((len(pending), len(self.objectives)))
        mean = np.zeros((len(pool), len(self.objectives)))
        std = np.zeros_like(mean)
        for j, name in enumerate(self.objectives):
            if name in known:
                k = known.index(name)
                mean[:, j] = [self.known_values(a)[k] for a in pool]
                pend[:, j] = [self.known_values(a)[k] for a in pending]
                continue
            x = self.encode(archs)
            model = self.fit(name, x, front[:, j])
            front[:, j] = model.predict(x)[0]
            mean[:, j], std[:, j] = model.predict(self.encode(pool))
            if pending:
                pend[:, j] = model.predict(self.encode(pending))[0]
        if any(n not in known for n in self.objectives) and len(self.points) - self.hyper_at >= self.refit_every:
            self.hyper_at = len(self.points)
        return front, mean, std, pend

    def choose(self, pool: list[Arch]) -> int:
        """The index of the candidate to ask: the highest acquisition (see the module docstring)."""
        front, mean, std, pending = self.predict(pool)
        observed = np.array([v for _, v in self.points])
        known = [j for j, n in enumerate(self.objectives) if n in self.known_objectives]
        unknown = [j for j in range(len(self.objectives)) if j not in known]
        worst, best = observed.max(axis=0), observed.min(axis=0)
        for j in known:  # known costs: the whole range looked up, so an expensive candidate can still count
            worst[j], best[j] = max(worst[j], mean[:, j].max()), min(best[j], mean[:, j].min())
        span = np.where(worst > best, worst - best, 1.0)
        reference = worst + 0.1 * span
        if self.reference == "front":  # only the region near the current front counts
            nadir = front[non_dominated(front)].max(axis=0)
            reference = np.minimum(reference, nadir + 0.1 * span)
        front = np.vstack([front, pending])
        if len(known) == 1 and len(unknown) == 1:
            k, u = known[0], unknown[0]
            scores = expected_hvi(front[:, [k, u]] / span[[k, u]], reference[[k, u]] / span[[k, u]],
                                  mean[:, k] / span[k], mean[:, u] / span[u], std[:, u] / span[u])
        else:
            optimistic = mean - self.beta * std
            scores = hypervolume_improvement(front / span, reference / span, optimistic / span)
        if scores.max() > 0:
            return int(np.argmax(scores))
        uncertainty = (std / span).sum(axis=1)
        if uncertainty.max() > 0:
            return int(np.argmax(uncertainty))
        return int(self.rng.integers(len(pool)))

    # -- state --------------------------------------------------------------------------------------

    def _state(self):
        return {"asked": self.asked, "model_seed": self.model_seed, "hyper": self.hyper, "hyper_at": self.hyper_at,
                "points": [[dict(a.to_dict()["decisions"]), v] for a, v in self.points], **self._cost_state()}

    def _load_state(self, state):
        self.asked = state["asked"]
        self.model_seed = state["model_seed"]
        self.hyper = {k: list(v) for k, v in state["hyper"].items()}
        self.hyper_at = state["hyper_at"]
        self.points = [(Arch(self.space.name, d), list(v)) for d, v in state["points"]]
        self.pending = {}
        self._load_cost_state(state)


__all__ = ["MOBO", "expected_hvi", "hypervolume_improvement"]
