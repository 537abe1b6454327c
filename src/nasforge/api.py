"""The Python API behind the CLI: create or resume a study from names and options.

>>> import nasforge
>>> study = nasforge.search(space="macro-cnn", dataset="digits", strategy="evolution",
...                         trials=4, epochs=1, study="runs/digits.db")  # doctest: +SKIP
>>> study.best().metrics["val_accuracy"]  # doctest: +SKIP
"""

from __future__ import annotations

import functools

import json
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import __version__, benchmarks, data, proxies, spaces, strategies
from .core import objectives as objective_registry
from .core import (Clock, Fidelity, NasforgeError, SimulatedClock, StudyError, StudyExistsError, TrialStatus,
                   UserInputError, WallClock, check_int)
from .estimation import MeasureConfig, TrainConfig, TrainingEstimator
from .study import Storage, Study, TrialRecord, check_feasible


@dataclass(frozen=True)
class SearchSpec:
    """Everything that defines a study; a resumed study must match it."""

    space: str = "macro-cnn"
    dataset: str = "fashion-mnist"
    strategy: str = "evolution"
    seed: int = 0
    epochs: int = 2
    subset: float = 1.0
    width_multiplier: float = 1.0
    seconds: float | None = None
    space_options: dict[str, Any] = field(default_factory=dict)
    strategy_options: dict[str, Any] = field(default_factory=dict)
    train_options: dict[str, Any] = field(default_factory=dict)
    measure_options: dict[str, Any] = field(default_factory=dict)  # see estimation.MeasureConfig
    val_fraction: float = 0.1
    val_samples: int | None = None
    benchmark: str | None = None
    continue_runs: bool = False
    prune: str | None = None  # a registered pruner ("predictive"), or None
    prune_threshold: float = 0.05
    prune_predictor: str = "pfn"
    proxy_warm_start: int = 0  # score this many sampled architectures with `proxy`; the `proxy_top` best run first
    proxy: str = "synflow"
    proxy_top: int = 10
    objectives: list[str] = field(default_factory=lambda: ["val_accuracy"])  # names with directions; first = main
    constraints: list[str] = field(default_factory=list)  # "latency_ms<=2.0", ...

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> SearchSpec:
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known})

    @property
    def constraint_list(self) -> tuple[objective_registry.Constraint, ...]:
        return objective_registry.parse_constraints(self.constraints)

    @property
    def fidelity(self) -> Fidelity:
        return Fidelity(self.epochs, self.subset, self.width_multiplier, self.seconds)

    def __post_init__(self):
        object.__setattr__(self, "objectives", list(objective_registry.check_objectives(self.objectives)))
        object.__setattr__(self, "constraints", [str(c) for c in objective_registry.parse_constraints(self.constraints)])
        check_int("the proxy warm start", "proxy_warm_start", self.proxy_warm_start, 0)
        check_int("the proxy warm start", "proxy_top", self.proxy_top, 1)
        if self.proxy_warm_start:
            proxies.REGISTRY.factory(self.proxy)
        if self.benchmark is not None:  # the benchmark fixes the space and the data
            object.__setattr__(self, "space", benchmarks.space_name(self.benchmark))
            object.__setattr__(self, "dataset", self.benchmark)

    def differences(self, other: SearchSpec) -> list[str]:
        a, b = self.to_dict(), other.to_dict()
        return [f"{k}: study has {a[k]!r}, this run asks for {b[k]!r}" for k in a if a[k] != b[k]]


def open_storage(path: str | Path) -> tuple[Storage, SearchSpec]:
    """Open an existing study file and read its spec."""
    storage = Storage.open(path)
    meta = storage.meta()
    if "spec" not in meta:
        raise StudyError(f"{str(path)!r} has no search specification; it was not written by `nasforge search`")
    return storage, SearchSpec.from_dict(meta["spec"])


def estimator_from_spec(spec: dict[str, Any]):
    """The estimator a spec describes; picklable by reference, so worker processes build their own."""
    spec = SearchSpec.from_dict(spec)
    if spec.benchmark is not None:
        return benchmarks.get(spec.benchmark, continue_runs=spec.continue_runs)
    space = spaces.get(spec.space, **spec.space_options)
    dataset = data.load(spec.dataset, val_fraction=spec.val_fraction)
    train_config = TrainConfig.from_options(spec.train_options)
    return TrainingEstimator(space, dataset, train_config, val_samples=spec.val_samples,
                             continue_runs=spec.continue_runs, measure=MeasureConfig.from_options(spec.measure_options))


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


def select_trial(storage: Storage, which: str | int) -> TrialRecord:
    """A trial by id, or ``"best"`` (highest objective among successful trials)."""
    if str(which) == "best":
        best = storage.best()
        if best is None:
            raise StudyError(f"study {str(storage.path)!r} has no successful trial yet")
        return best
    try:
        trial_id = int(which)
    except ValueError:
        raise UserInputError(f"--trial must be 'best' or a trial id; got {which!r}") from None
    return storage.trial(trial_id)


MERGE_MUST_MATCH = ("space", "space_options", "dataset", "benchmark", "epochs", "subset", "width_multiplier",
                    "seconds", "val_fraction")


def _trial_key(t: TrialRecord) -> str:
    """What makes two stored trials the same evaluation (a trial copied twice, or a study merged twice)."""
    return json.dumps([t.arch.to_json(), t.fidelity, t.seed, t.status, t.metrics, t.error], sort_keys=True)


def merge_studies(target: str | Path, sources: list[str | Path]) -> int:
    """Copy the finished trials of ``sources`` into a new study at ``target``.

    The sources must share the space, data and fidelity (their strategies and
    seeds may differ: e.g. the same search run on several machines). Each
    copied trial remembers its origin in ``request_meta["merged_from"]``.
    A trial already copied (the same source given twice, or a study that is
    itself a merge of another source) is copied once. Returns the number of
    trials copied.
    """
    if not sources:
        raise UserInputError("merge needs at least one source study")
    opened = [open_storage(s) for s in sources]
    first = opened[0][1].to_dict()
    for (_, spec), path in zip(opened[1:], sources[1:]):
        other = spec.to_dict()
        diff = [f"{k}: {first[k]!r} vs {other[k]!r}" for k in MERGE_MUST_MATCH if first[k] != other[k]]
        if diff:
            raise StudyError(f"cannot merge {str(path)!r} with {str(sources[0])!r}: {'; '.join(diff)}")
    storage = Storage.create(target, {"spec": first, "nasforge_version": __version__,
                                      "merged_from": [str(s) for s in sources]})
    copied, seen = 0, set()
    for (source, _), path in zip(opened, sources):
        for t in source.trials((TrialStatus.OK, TrialStatus.FAILED)):
            key = _trial_key(t)
            if key in seen:
                continue
            seen.add(key)
            meta = {**t.request_meta, "merged_from": {"study": str(path), "trial_id": t.id}}
            new_id = storage.start_trial(copied, t.arch, t.fidelity, t.seed, meta)
            storage.finish_trial(new_id, t.status, t.metrics, t.curve, t.objective, t.error, t.duration_s or 0.0, {})
            copied += 1
        source.close()
    storage.close()
    return copied
