"""What the model-based strategies (``bananas``, ``gp-bo``) share: :class:`PredictorStrategy`
(the evaluated data, the candidate pool, pending-aware proposals and the resumable state).
Their surrogates are the shared predictors of :mod:`nasforge.predictors`.
"""

from __future__ import annotations

import abc

import numpy as np

from ..core import Arch, Strategy, TrialRequest, check_float, check_int
from ..predictors import single_threaded_blas


class PredictorStrategy(Strategy):
    """Model-based search over any space through ``encode``/``sample``/``mutate``.

    Subclasses implement :meth:`acquisition`: given the evaluated data and a
    candidate pool, one score per candidate (higher = propose first).

    State: the evaluated ``(decisions, score)`` pairs (at most ``max_data``; a
    surrogate needs its training data, and replaying it from the study would
    tie resume to the study's result format), the ask counter and the model
    seed. Pending requests (asked, not yet told) live only in memory: after
    a kill they are re-asked anyway.
    """

    name = ""

    def __init__(self, space, seed=0, initial: int = 10, num_candidates: int = 150, top_k: int = 10,
                 random_fraction: float = 0.2, epsilon: float = 0.0, max_data: int = 400):
        super().__init__(space, seed)
        n = self.name
        self.initial = check_int(n, "initial", initial, 2)
        self.num_candidates = check_int(n, "num_candidates", num_candidates, 1)
        self.top_k = check_int(n, "top_k", top_k, 1)
        self.random_fraction = check_float(n, "random_fraction", random_fraction, 0.0, 1.0)
        self.epsilon = check_float(n, "epsilon", epsilon, 0.0, 1.0)
        self.max_data = check_int(n, "max_data", max_data, 2 * self.top_k)
        self.data: list[tuple[Arch, float]] = []
        self.asked = 0
        self.model_seed = int(seed)  # in the state: a study resumed with another strategy seed keeps it
        self.pending: dict[str, Arch] = {}
        self._codes: dict[str, np.ndarray] = {}  # digest -> encoding, a cache rebuilt on demand

    def config(self):
        return {"initial": self.initial, "num_candidates": self.num_candidates, "top_k": self.top_k,
                "random_fraction": self.random_fraction, "epsilon": self.epsilon, "max_data": self.max_data}

    # -- encodings ------------------------------------------------------------------------------

    def featurize(self, arch: Arch) -> np.ndarray:
        """The vector the surrogate sees (the space's ``encode`` unless overridden)."""
        return np.asarray(self.space.encode(arch), dtype=np.float64)

    def encode_all(self, archs: list[Arch]) -> np.ndarray:
        rows = []
        for a in archs:
            code = self._codes.get(a.digest)
            if code is None:
                code = self._codes[a.digest] = self.featurize(a)
            rows.append(code)
        if len(self._codes) > 20 * self.max_data:  # keep the cache bounded too
            self._codes.clear()
        return np.stack(rows)

    def model_rng(self) -> np.random.Generator:
        """A generator for this ask's model fit, fixed by (model seed, data size, asks): the fit
        does not consume the strategy's own stream, so caching or refitting changes nothing."""
        return np.random.default_rng([self.model_seed, len(self.data), self.asked])

    # -- ask / tell -----------------------------------------------------------------------------

    def _random(self) -> Arch:
        return self.fresh(lambda: self.space.sample(self.rng))

    def _pool(self) -> list[Arch]:
        """Mutations (one or two steps) of the ``top_k`` best evaluated architectures, plus
        random samples; without repeats and without anything already asked."""
        ranked = sorted(range(len(self.data)), key=lambda i: -self.data[i][1])[: self.top_k]
        parents = [self.data[i][0] for i in ranked]
        n_random = round(self.num_candidates * self.random_fraction)
        pool: dict[str, Arch] = {}
        for i in range(self.num_candidates - n_random):
            child = self.space.mutate(parents[i % len(parents)], self.rng)
            if self.rng.random() < 0.25:
                child = self.space.mutate(child, self.rng)
            pool.setdefault(child.digest, child)
        for _ in range(n_random):
            child = self.space.sample(self.rng)
            pool.setdefault(child.digest, child)
        return [a for d, a in pool.items() if d not in self.seen]

    def ask(self):
        self.asked += 1
        explore = self.epsilon > 0 and self.rng.random() < self.epsilon
        if len(self.data) + len(self.pending) < self.initial or len(self.data) < 2 or explore:
            arch, origin = self._random(), "random"
        else:
            pool = self._pool()
            if pool:
                with single_threaded_blas():
                    scores = np.asarray(self.acquisition(pool), dtype=np.float64)
                arch = pool[int(np.argmax(scores))]
                self.seen.add(arch.digest)
                origin = "model"
            else:
                arch, origin = self._random(), "random"
        self.pending[arch.digest] = arch
        return TrialRequest(arch, meta={"origin": origin})

    def tell(self, request, result):
        self.pending.pop(request.arch.digest, None)
        score = self.score(result)
        if score is None or not np.isfinite(score):
            return
        self.data.append((request.arch, score))
        if len(self.data) > self.max_data:
            # forget the oldest observation outside the best half: the surrogate matters most near the top
            keep = set(sorted(range(len(self.data)), key=lambda i: -self.data[i][1])[: self.max_data // 2])
            del self.data[next(i for i in range(len(self.data)) if i not in keep)]

    @abc.abstractmethod
    def acquisition(self, pool: list[Arch]) -> np.ndarray:
        """One score per candidate in ``pool``; the highest is proposed."""

    # -- state ----------------------------------------------------------------------------------

    def _state(self):
        return {"asked": self.asked, "model_seed": self.model_seed,
                "data": [[dict(a.to_dict()["decisions"]), s] for a, s in self.data]}

    def _load_state(self, state):
        self.asked = state["asked"]
        self.model_seed = state["model_seed"]
        self.data = [(Arch(self.space.name, d), float(s)) for d, s in state["data"]]
        self.pending = {}
