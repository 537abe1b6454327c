"""``tpe``: Optuna's Tree-structured Parzen Estimator (Bergstra et al. 2011) behind
nasforge's ask/tell, for spaces made of fixed decisions (macro-cnn, nb201, ...).

Optuna's sampler state cannot be stored as JSON, so each ask draws a fresh
sampler seeded from the strategy's RNG over an Optuna study holding the
results told so far: a resumed study, which rebuilds that Optuna study from
its stored results, asks exactly what an uninterrupted one would. Between
asks the Optuna study is kept and only new results are added (adding a
result costs ~0.5 ms, so rebuilding per ask made long searches quadratic).
Needs the optional extra: ``pip install 'nasforge[optuna]'``.
"""

from __future__ import annotations

from ..core import Arch, DecisionSpace, Strategy, TrialRequest, UserInputError, check_int, require
from ._common import register


@register("tpe")
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
        if not isinstance(space, DecisionSpace):
            raise UserInputError(f"tpe needs a space of fixed decisions; {space.name!r} is not one "
                                 "(use evolution, random, local or reinforce)")
        check_int(self.name, "n_startup_trials", n_startup_trials, 1)
        self.optuna = require("optuna", "optuna")
        self.n_startup_trials, self.multivariate, self.n_ei_candidates = n_startup_trials, multivariate, n_ei_candidates
        self.results: list[tuple[str, float | None]] = []  # (arch json, score or None if failed)
        self.history: OptunaHistory | None = None  # the Optuna study of ``results``; derived, not in the state
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
        if self.history is None:
            self.history = OptunaHistory(self)
        study = self.history.sync(self.results)
        # TPE's inferred search space is cached per sampler and recomputing it walks every trial;
        # hand the previous sampler's cache on (an Optuna internal: skipped if it changes)
        if hasattr(study.sampler, "_search_space") and hasattr(sampler, "_search_space"):
            sampler._search_space = study.sampler._search_space
        study.sampler = sampler
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


class OptunaHistory:
    """An Optuna study kept in step with a list of (arch json, score) results.

    :meth:`sync` adds only the results not added yet, and rebuilds when the list
    is not an extension of what was added. Trials asked for earlier proposals are
    closed as failed, which TPE ignores, so the study matches one rebuilt from
    the results alone.
    """

    def __init__(self, tpe: TPE):
        self.tpe = tpe
        self.study = None
        self.added: list[tuple[str, float | None]] = []

    def sync(self, results):
        optuna = self.tpe.optuna
        state = optuna.trial.TrialState
        if self.study is None or self.added != results[:len(self.added)]:
            self.study, self.added = optuna.create_study(direction="maximize"), []
        for trial in self.study.get_trials(deepcopy=False, states=(state.RUNNING,)):
            self.study.tell(trial.number, state=state.FAIL)
        for arch_json, score in results[len(self.added):]:
            arch = Arch.from_json(arch_json)
            params = {d.name: d.index(arch[d.name]) for d in self.tpe.space.decisions}
            self.study.add_trial(optuna.trial.create_trial(
                params=params, distributions=self.tpe.distributions, value=score,
                state=state.COMPLETE if score is not None else state.FAIL))
        self.added = list(results)
        return self.study
