"""Hyperband (Li et al. 2018, JMLR) and BOHB (Falkner et al. 2018, ICML).

Hyperband runs brackets of successive halving that trade the number of
architectures against the resource each gets: bracket ``s`` starts
``ceil((s_max + 1) / (s + 1) * eta**s)`` architectures at ``max / eta**s``
and keeps the top ``1/eta`` of every rung, so one bracket explores widely on
cheap evaluations and another looks at a few in depth. Brackets are
synchronous inside (a rung is promoted when it is complete); while a rung
waits for results, asks start the next bracket, so parallel workers stay
busy, as in BOHB's parallel scheme.

BOHB (``sampler="tpe"``) replaces the random choice of new architectures by
a model: TPE (through Optuna, like the ``tpe`` strategy) fitted on the
results of the largest resource that has at least ``min_points`` of them;
``random_fraction`` of new architectures stay random (1/3 in the paper).
"""

from __future__ import annotations

import math

from ..core import Arch, DecisionSpace, Strategy, TrialRequest, UserInputError, check_choice, check_int
from ._common import RESOURCES, check_resources, register
from ._tpe import TPE

SAMPLERS = ("random", "tpe")


@register("hyperband")
class Hyperband(Strategy):
    """Brackets of successive halving over epochs, seconds or data subset."""

    name = "hyperband"

    def __init__(self, space, seed=0, resource: str = "epochs", min_resource: float = 1, max_resource: float = 27,
                 eta: int = 3, sampler: str = "random", random_fraction: float = 1 / 3, min_points: int | None = None):
        super().__init__(space, seed)
        n = self.name
        check_choice(n, "resource", resource, RESOURCES)
        check_resources(n, resource, min_resource, max_resource)
        check_int(n, "eta", eta, 2)
        check_choice(n, "sampler", sampler, SAMPLERS)
        fixed_decisions = isinstance(space, DecisionSpace)
        if sampler == "tpe" and not fixed_decisions:
            raise UserInputError(f"{n} with the tpe sampler needs a space of fixed decisions; "
                                 f"{space.name!r} is not one (use sampler='random')")
        self.resource, self.min_resource, self.max_resource, self.eta = resource, min_resource, max_resource, eta
        self.sampler, self.random_fraction = sampler, float(random_fraction)
        self.s_max = int(math.floor(math.log(max_resource / min_resource, eta) + 1e-9))
        self.min_points = min_points or (len(space.decisions) if fixed_decisions else 0) + 1
        self._histories: dict = {}  # resource -> the TPE model's Optuna study (derived, not in the state)
        self.brackets: list[dict] = []  # each: {"s": int, "rungs": [{"asked": [json], "results": [(json, score)]}]}

    def config(self):
        return {"resource": self.resource, "min_resource": self.min_resource, "max_resource": self.max_resource,
                "eta": self.eta, "sampler": self.sampler, "random_fraction": self.random_fraction,
                "min_points": self.min_points}

    # -- bracket arithmetic -----------------------------------------------------------

    def _size(self, s: int, rung: int) -> int:
        n0 = int(math.ceil((self.s_max + 1) / (s + 1) * self.eta ** s))
        return max(1, n0 // self.eta ** rung)

    def _resource(self, s: int, rung: int):
        value = self.max_resource * self.eta ** (rung - s)
        return max(1, int(round(value))) if self.resource == "epochs" else float(value)

    def _new_bracket(self) -> dict:
        s = self.s_max - len(self.brackets) % (self.s_max + 1)
        bracket = {"s": s, "rungs": [{"asked": [], "results": []} for _ in range(s + 1)]}
        self.brackets.append(bracket)
        return bracket

    def _next_in(self, b: int) -> TrialRequest | None:
        """The next trial of bracket ``b``, or None while it waits for results (or is done)."""
        bracket = self.brackets[b]
        s = bracket["s"]
        for k, rung in enumerate(bracket["rungs"]):
            size = self._size(s, k)
            if k > 0:  # promotable: the best successful results of the complete rung below
                below = [r for r in bracket["rungs"][k - 1]["results"] if r[1] > -math.inf]
                ranked = [a for a, _ in sorted(below, key=lambda r: -r[1])][:size]
                size = len(ranked)  # failures below shrink this rung instead of stalling it
            if len(rung["results"]) >= size:
                continue  # complete: look at the next rung
            if len(rung["asked"]) >= size:
                return None  # everything asked, results pending
            origin = "promoted"
            if k == 0:
                arch, origin = self._new_arch()
            else:
                arch = Arch.from_json(ranked[len(rung["asked"])])
            rung["asked"].append(arch.to_json())
            return TrialRequest(arch, {self.resource: self._resource(s, k)},
                                {"bracket": b, "rung": k, "origin": origin})
        return None

    # -- sampling ---------------------------------------------------------------------

    def _new_arch(self) -> tuple[Arch, str]:
        """A new architecture and where it came from ('model' or 'random')."""
        if self.sampler == "tpe" and self.rng.random() >= self.random_fraction:
            key, results = self._results_for_model()
            if results is not None:
                model = TPE(self.space, seed=int(self.rng.integers(2**31)), n_startup_trials=1)
                model.results, model.history = results, self._histories.get(key)
                model.seen = self.seen  # shared, so the model's pick counts as asked
                arch = model.ask().arch
                self._histories[key] = model.history  # its Optuna study, reused while results only grow
                return arch, "model"
        return self.fresh(lambda: self.space.sample(self.rng)), "random"

    def _results_for_model(self):
        """(resource, [(arch json, score)]) at the largest resource with at least ``min_points`` results."""
        by_resource: dict[float, list] = {}
        for bracket in self.brackets:
            for k, rung in enumerate(bracket["rungs"]):
                key = self._resource(bracket["s"], k)
                by_resource.setdefault(key, []).extend((a, s) for a, s in rung["results"] if s > -math.inf)
        for key in sorted(by_resource, reverse=True):
            if len(by_resource[key]) >= self.min_points:
                return key, by_resource[key]
        return None, None

    # -- ask / tell -------------------------------------------------------------------

    def ask(self):
        for b in range(len(self.brackets)):
            request = self._next_in(b)
            if request is not None:
                return request
        self._new_bracket()
        return self._next_in(len(self.brackets) - 1)

    def tell(self, request, result):
        score = self.score(result)
        rung = self.brackets[request.meta["bracket"]]["rungs"][request.meta["rung"]]
        rung["results"].append((request.arch.to_json(), -math.inf if score is None else score))

    def _state(self):
        return {"brackets": [{"s": b["s"], "rungs": [
            {"asked": r["asked"], "results": [[a, None if v == -math.inf else v] for a, v in r["results"]]}
            for r in b["rungs"]]} for b in self.brackets]}

    def _load_state(self, state):
        self.brackets = [{"s": b["s"], "rungs": [
            {"asked": list(r["asked"]), "results": [(a, -math.inf if v is None else v) for a, v in r["results"]]}
            for r in b["rungs"]]} for b in state["brackets"]]


@register("bohb")
class BOHB(Hyperband):
    """Hyperband with TPE-sampled new architectures (Falkner et al. 2018)."""

    name = "bohb"

    def __init__(self, space, seed=0, resource: str = "epochs", min_resource: float = 1, max_resource: float = 27,
                 eta: int = 3, sampler: str = "tpe", random_fraction: float = 1 / 3, min_points: int | None = None):
        super().__init__(space, seed, resource, min_resource, max_resource, eta, sampler, random_fraction, min_points)
