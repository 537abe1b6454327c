"""``tpe``: Optuna's Tree-structured Parzen Estimator (Bergstra et al. 2011) behind
nasforge's ask/tell, for spaces made of fixed decisions (macro-cnn, nb201, ...).

Optuna's sampler state cannot be stored as JSON, so every ask rebuilds an
Optuna study from the results told so far, with a sampler seeded by the
study seed and the number of results: a resumed study therefore asks exactly
what an uninterrupted one would. Rebuilding costs milliseconds per hundred
results. Needs the optional extra: ``pip install 'nasforge[optuna]'``.
"""

from __future__ import annotations

from ..arch import Arch
from ..errors import UserInputError, require
from ._base import Strategy, TrialRequest


class TPE(Strategy):
    """TPE over the space's decisions; ``n_startup_trials`` random trials first.

    Exploration: more start-up trials, or ``multivariate=False`` (independent
    per-decision densities) explore more; ``gamma`` is the share of results
    TPE treats as good (Optuna's default rule when None).
    """

    name = "tpe"

    def __init__(self, space, seed=0, n_startup_trials: int = 10, multivariate: bool = True,
                 n_ei_candidates: int = 24):
        super().__init__(space, seed)
        if not hasattr(space, "decisions"):
            raise UserInputError(f"tpe needs a space of fixed decisions; {space.name!r} is not one "
                                 "(use evolution, random, local or reinforce)")
        if not isinstance(n_startup_trials, int) or n_startup_trials < 1:
            raise UserInputError(f"The 'n_startup_trials' parameter of tpe must be an int >= 1. "
                                 f"Got {n_startup_trials!r} instead.")
        self.optuna = require("optuna", "optuna")
        self.n_startup_trials, self.multivariate, self.n_ei_candidates = n_startup_trials, multivariate, n_ei_candidates
        self.results: list[tuple[str, float | None]] = []  # (arch json, score or None if failed)
        # Optuna's categorical choices must be plain scalars: index the choices instead
        self.distributions = {d.name: self.optuna.distributions.CategoricalDistribution(list(range(len(d.choices))))
                              for d in space.decisions}

    def config(self):
        return {"n_startup_trials": self.n_startup_trials, "multivariate": self.multivariate,
                "n_ei_candidates": self.n_ei_candidates}

    def _study(self):
        optuna = self.optuna
        optuna.logging.set_verbosity(optuna.logging.WARNING)
        seed = int(self.rng.integers(2**31))  # the strategy's RNG is in its state, so resumes repeat exactly
        sampler = optuna.samplers.TPESampler(seed=seed, n_startup_trials=self.n_startup_trials,
                                             multivariate=self.multivariate, n_ei_candidates=self.n_ei_candidates)
        study = optuna.create_study(direction="maximize", sampler=sampler)
        state = optuna.trial.TrialState
        for arch_json, score in self.results:
            arch = Arch.from_json(arch_json)
            params = {d.name: d.index(arch[d.name]) for d in self.space.decisions}
            study.add_trial(optuna.trial.create_trial(
                params=params, distributions=self.distributions, value=score,
                state=state.COMPLETE if score is not None else state.FAIL))
        return study

    def ask(self):
        study = self._study()

        def propose():
            trial = study.ask(self.distributions)
            return Arch(self.space.name, {d.name: d.choices[trial.params[d.name]] for d in self.space.decisions})

        return TrialRequest(self.fresh(propose), meta={"origin": "tpe"})

    def tell(self, request, result):
        self.results.append((request.arch.to_json(), self.score(result)))

    def _state(self):
        return {"results": [list(r) for r in self.results]}

    def _load_state(self, state):
        self.results = [(a, s) for a, s in state["results"]]
