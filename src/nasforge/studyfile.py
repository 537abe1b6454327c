"""A study file's spec and the operations that only read or copy study files (open, select a
trial, merge), kept free of torch so that ``nasforge show`` and ``merge`` start in a fraction of
a second; :mod:`nasforge.api` builds studies from them."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from . import __version__
from .core import Fidelity, StudyError, TrialStatus, UserInputError, check_int
from .core import objectives as objective_registry
from .study import Storage, TrialRecord


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
    first_look_epochs: float = 0.0  # with continue_runs: a run's first trial trains until it saw this many epochs
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
            from . import proxies  # imports torch: only for specs that use a proxy

            proxies.REGISTRY.factory(self.proxy)
        if self.benchmark is not None:  # the benchmark fixes the space and the data
            from . import benchmarks  # imports torch (the spaces): only for benchmark specs

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
