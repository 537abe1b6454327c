"""The Python API behind the CLI: create or resume a study from names and options.

>>> import nasforge
>>> study = nasforge.search(space="macro-cnn", dataset="digits", strategy="evolution",
...                         trials=4, epochs=1, study="runs/digits.db")  # doctest: +SKIP
>>> study.best().metrics["val_accuracy"]  # doctest: +SKIP
"""

from __future__ import annotations

import functools
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__, benchmarks, data, proxies, spaces, strategies
from .core import Clock, NasforgeError, SimulatedClock, StudyError, StudyExistsError, UserInputError, WallClock
from .estimation import MeasureConfig, TrainConfig, TrainingEstimator
from .study import Storage, Study, check_feasible
from .studyfile import SearchSpec, merge_studies, open_storage, select_trial  # noqa: F401 - the API's names


def estimator_from_spec(spec: dict[str, Any]):
    """The estimator a spec describes; picklable by reference, so worker processes build their own."""
    spec = SearchSpec.from_dict(spec)
    if spec.benchmark is not None:
        return benchmarks.get(spec.benchmark, continue_runs=spec.continue_runs)
    space = spaces.get(spec.space, **spec.space_options)
    dataset = data.load(spec.dataset, val_fraction=spec.val_fraction)
    train_config = TrainConfig.from_options(spec.train_options)
    return TrainingEstimator(space, dataset, train_config, val_samples=spec.val_samples,
                             continue_runs=spec.continue_runs, measure=MeasureConfig.from_options(spec.measure_options),
                             first_look_epochs=spec.first_look_epochs)


def _check_chosen_training(estimator, seed: int) -> None:
    """Training settings an architecture chooses (a space file's ``training:``, a define-by-run
    ``hp.training(...)``) that cannot train fail here, before any study file or trial, instead of
    failing every trial; checked on one sampled architecture. An error of the space itself while
    sampling is left to the study, which meets it at its first ask."""
    if not isinstance(estimator, TrainingEstimator):
        return
    space = estimator.space
    try:
        settings = space.training_config(space.sample(np.random.default_rng(seed)))
    except NasforgeError:
        return
    try:
        replace(estimator.train_config, **settings)
    except UserInputError as exc:
        raise UserInputError(f"space {space.name!r} chooses training settings that cannot work: {exc}") from None


def _clock(spec: SearchSpec) -> Clock:
    """Tabular benchmarks count the training time they record; real training counts the wall clock."""
    return SimulatedClock() if spec.benchmark is not None else WallClock()


def pruner_from_spec(spec: SearchSpec):
    """The pruner ``spec`` asks for (``--prune``), or None; a bad name or threshold fails here."""
    if spec.prune is None:
        return None
    from .estimation import make_pruner

    return make_pruner(spec.prune, threshold=spec.prune_threshold, predictor=spec.prune_predictor)


def _components(spec: SearchSpec):
    """The fidelity, estimator (space, data), strategy and pruner a spec names, and how its constraints
    were found satisfiable (one line; empty without constraints); raises on any bad part."""
    pruner = pruner_from_spec(spec)  # cheap checks first
    fidelity = spec.fidelity
    estimator = estimator_from_spec(spec.to_dict())
    _check_chosen_training(estimator, spec.seed)
    strategy = strategies.get(spec.strategy, estimator.space, seed=spec.seed, **spec.strategy_options)
    strategy.set_objectives(spec.objectives)
    feasibility = check_feasible(estimator, spec.constraint_list, spec.seed)  # a constraint nothing meets fails here
    return fidelity, estimator, strategy, pruner, feasibility


def proxy_data(spec: SearchSpec, estimator) -> data.Dataset:
    """The data a proxy warm start reads a batch of: the study's, or the data a benchmark's table
    was trained on."""
    if spec.benchmark is None:
        return estimator.dataset
    setting = estimator.data_setting
    if setting is None:
        raise UserInputError(f"benchmark {spec.benchmark!r} records no data set nasforge can load, so its "
                             "architectures cannot be scored by a proxy (a benchmark whose table nasforge "
                             "trained itself can, e.g. mnist1d-nb201)")
    return data.load(setting["dataset"], val_fraction=setting["val_fraction"])


def proxy_warm_start(spec: SearchSpec, estimator, on_scored=None) -> tuple[dict[str, Any], list[tuple]]:
    """Score ``spec.proxy_warm_start`` sampled architectures with ``spec.proxy`` (nothing trained):
    what the study records (the ``proxy_top`` best, first trials of the search, and the seconds
    spent) and the rows of scores to store."""
    best, screening = proxies.warm_start(estimator.space, proxy_data(spec, estimator), spec.proxy_warm_start,
                                         spec.proxy, spec.proxy_top, spec.seed, on_scored=on_scored)
    meta = {"proxy": spec.proxy, "scored": len(screening.rows), "seconds": screening.seconds,
            "batch_size": proxies.DEFAULT_BATCH, "archs": [a.to_json() for a in best]}
    rows = [(r.arch, spec.proxy, r.scores[spec.proxy], r.seconds[spec.proxy]) for r in screening.rows]
    return meta, rows


def build_study(storage: Storage, spec: SearchSpec, components=None) -> Study:
    """The study of ``spec`` on ``storage`` (``components``: those of ``spec`` if already built); a
    proxy warm start recorded in the study asks its architectures first."""
    fidelity, estimator, strategy, pruner, feasibility = components or _components(spec)
    strategy = strategies.warm_start(strategy, storage.meta().get("proxy_warm_start", {}).get("archs", []))
    study = Study(storage, strategy, estimator, fidelity, spec.seed, clock=_clock(spec), pruner=pruner,
                  constraints=spec.constraint_list)
    study.feasibility = feasibility
    return study


# what a study's trials mean: never changed on resume, even when changes are allowed
FIXED_ON_RESUME = ("space", "space_options", "dataset", "benchmark", "val_fraction", "proxy_warm_start", "proxy",
                   "proxy_top")


def _claim(storage: Storage) -> None:
    """Become the study's one writer before loading any data, or close it and say who writes it."""
    try:
        storage.claim()
    except StudyError:
        storage.close()
        raise


def _continue_with_changes(storage: Storage, path: Path, stored: SearchSpec, spec: SearchSpec, diff: list[str],
                           allow_changes: bool):
    """Record ``spec``'s changes to a resumed study (refusing those not allowed); the new components.

    A new strategy, seed or objective list starts from a fresh strategy state
    that does not ask again what the old one asked."""
    changed = [k for k, (a, b) in ((k, (stored.to_dict()[k], spec.to_dict()[k])) for k in stored.to_dict()) if a != b]
    fixed = [k for k in changed if k in FIXED_ON_RESUME]
    if not allow_changes or fixed:
        storage.close()
        hint = (f"{', '.join(fixed)} cannot change in an existing study" if allow_changes else
                "rerun with the study's settings to resume it, choose a new --study path, or pass "
                "--allow-changes to continue it with the new strategy, fidelity or training settings")
        raise StudyError(f"study {str(path)!r} was created with other settings ({'; '.join(diff)}); {hint}")
    try:
        components = _components(spec)  # a change that cannot run is refused before it is recorded
    except NasforgeError:
        storage.close()
        raise
    _claim(storage)
    meta = storage.meta()
    update = {"spec": spec.to_dict(),
              "spec_history": meta.get("spec_history", []) + [{"at": time.time(), "changes": diff}]}
    if {"strategy", "strategy_options", "seed", "objectives"} & set(changed):
        update["strategy_state"] = None  # another strategy cannot use the old one's state,
        update["state_at_ask_after"] = storage.last_trial_id()  # nor run again what the old one asked
    storage.set_meta(update)
    return components


def open_study(path: str | Path, spec: SearchSpec | None = None, allow_changes: bool = False,
               on_scored=None) -> Study:
    """Resume the study at ``path`` (checking it matches ``spec``), or create it from ``spec``.

    With ``allow_changes``, a resumed study may continue with another strategy,
    seed, fidelity or training settings (not another space, data set or
    split); the change is recorded in the study's ``spec_history`` and a new
    strategy starts from a fresh state (it still skips every architecture
    already evaluated).

    A new study with ``spec.proxy_warm_start`` first scores that many sampled
    architectures with ``spec.proxy`` (``on_scored`` is called after each, for
    progress): the scores go into the study, its best ones become the first
    trials, and the seconds spent count as search time already elapsed.
    """
    path = Path(path)
    if path.exists():
        storage, stored = open_storage(path)
        components = None
        if spec is not None and (diff := stored.differences(spec)):
            components = _continue_with_changes(storage, path, stored, spec, diff, allow_changes)
            stored = spec
        _claim(storage)
        return build_study(storage, stored, components)
    if spec is None:
        raise StudyError(f"study file {str(path)!r} does not exist")
    # build everything first: a bad option or a missing data set fails before any file is created
    components = _components(spec)
    meta: dict[str, Any] = {"spec": spec.to_dict(), "nasforge_version": __version__}
    rows = []
    if spec.proxy_warm_start:
        warm, rows = proxy_warm_start(spec, components[1], on_scored)
        meta.update(proxy_warm_start=warm, elapsed_s=warm["seconds"])
    try:
        storage = Storage.create(path, meta)
    except StudyExistsError:  # another process created it meanwhile: resume it (or be refused as second writer)
        return open_study(path, spec, allow_changes)
    if rows:
        storage.add_proxy_scores(rows, spec.seed, meta["proxy_warm_start"]["batch_size"])
    return build_study(storage, spec, components)


def search(study: str | Path, trials: int | None = None, time_budget: float | None = None,
           reporter=None, **spec: Any) -> Study:
    """Create (or resume) the study at ``study`` and run it until a budget is spent."""
    resolved = SearchSpec(**spec) if spec else None
    if resolved is None and not Path(study).exists():
        resolved = SearchSpec()
    s = open_study(study, resolved)
    # workers (define-by-run spaces run there) build their own estimator from the stored spec,
    # as `nasforge search` does: the estimator itself holds the data set and may not pickle
    factory = functools.partial(estimator_from_spec, s.storage.meta()["spec"])
    s.optimize(n_trials=trials, time_budget=time_budget, reporter=reporter, estimator_factory=factory)
    return s


