"""``auto``'s search: the study it runs (ASHA over time or data subsets, or the random
ablation), resuming a matching study, and the search itself on the faster thread count."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .. import data, spaces
from ..api import SearchSpec, open_study
from ..core import StudyError, UserInputError
from ..estimation import FIRST_LOOK_STRETCH
from ..data._base import looks_tabular
from ..study import Reporter, Study
from .crossval import is_small_table
from .plan import ETA, FIRST_LOOK_EPOCHS, RUNGS, AutoPlan
from .threads import fastest_thread_count, using_threads

SEARCH_VAL_SAMPLES = 2000  # trials are scored on this fixed share of validation data (see docs/auto.md)
MIN_SUBSET_SAMPLES = 500  # the smallest training subset a rung uses (fewer makes rankings noise)


AUTO_SPACE = "auto"  # the space chosen from the data: default_space()


def _npz_looks_tabular(path: str) -> bool:
    """Whether an ``.npz`` data set's samples are table rows: 2-D ``x`` (read only then) whose column
    spreads differ as table columns do. Unreadable files say False (the loader reports them)."""
    try:
        with np.load(path, allow_pickle=False) as f:
            key = next((k for k in ("x", "x_train") if k in f.files), None)
            if key is None:
                return False
            with f.zip.open(f"{key}.npy") as member:  # the header says the shape without reading the data
                major, _ = np.lib.format.read_magic(member)
                read_header = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
                shape = read_header(member)[0]
            return len(shape) == 2 and looks_tabular(f[key])
    except Exception:  # noqa: BLE001 - any unreadable file: not decided here
        return False


def default_space(dataset: str) -> str:
    """The space family for the data: ``mlp`` for a table (an ``.npz`` whose columns look like
    separate features, see :func:`nasforge.data` ``looks_tabular``), ``macro-cnn`` (2-D convolutions for
    images, 1-D for sequences) for everything else."""
    return "mlp" if dataset.endswith(".npz") and _npz_looks_tabular(dataset) else "macro-cnn"


RECIPES = ("fixed", "search")


def recipe_space(space: str, space_options: dict[str, Any], dataset: str) -> tuple[str, dict[str, Any]]:
    """The ``recipe`` space over ``space`` (its default options; no augmentation for tables)."""
    if space_options:
        raise UserInputError("--recipe search uses the base space's default options; drop --space-option "
                             f"{sorted(space_options)} or use --recipe fixed")
    options: dict[str, Any] = {"base": space}
    if space == "mlp":
        options["augment"] = ["none"]  # table columns are never shifted or mirrored
    return "recipe", options


def cross_validates(dataset: str, space: str, space_options: dict[str, Any], search: str) -> bool:
    """Whether ``auto`` ranks candidates by cross-validation: the default search (``asha``) of the
    MLP family (or the recipe space over it) on a table of at most ``SMALL_TABLE_ROWS``
    train+validation rows (see ``crossval.py``)."""
    mlp = space == "mlp" or (space == "recipe" and (space_options or {}).get("base") == "mlp")
    if search != "asha" or not mlp or not dataset.endswith(".npz") or not _npz_looks_tabular(dataset):
        return False
    return is_small_table(data.load(dataset))


def search_spec(dataset: str, space: str, space_options: dict[str, Any], seed: int, search: str, rungs: str,
                plan: AutoPlan, resuming: bool, train_options: dict[str, Any] | None = None,
                cross_validation: bool = False) -> SearchSpec:
    """The study's spec: ASHA whose rungs train for the plan's seconds (promotions continue their
    training), ASHA over data subsets, or random candidates trained for the middle rung's time;
    with ``cross_validation``, the priors then random candidates, each scored by ``crossval.py``'s
    estimator (the spec's training settings are its).
    A resumed study keeps its stored spec, so the subset rungs are not worked out (nor the data
    loaded for them) then."""
    priors = [a.to_dict() for a in spaces.get(space, **space_options).priors()]
    common = {"space": space, "dataset": dataset, "seed": seed, "epochs": 1000, "space_options": space_options,
              "val_samples": SEARCH_VAL_SAMPLES, "train_options": dict(train_options or {})}
    if cross_validation:
        return SearchSpec(strategy="random", strategy_options={"initial": priors}, **common)
    if search != "asha":  # the ablation: random architectures, each trained for the middle rung's time
        return SearchSpec(strategy="random", seconds=plan.rung_seconds[1], continue_runs=True,
                          strategy_options={"initial": priors}, **common)
    if rungs == "subset" and not resuming:
        final_s = max(1.0, plan.available_s - plan.search_s)
        n_train = len(data.load(dataset).y_train)
        first = min(1.0, max(plan.rung_seconds[0] / final_s, MIN_SUBSET_SAMPLES / n_train))
        return SearchSpec(strategy="asha", **common,
                          strategy_options={"resource": "subset", "min_resource": round(first, 5),
                                            "max_resource": round(min(1.0, first * ETA ** (RUNGS - 1)), 5),
                                            "eta": ETA, "seconds_per_unit": round(final_s, 2),
                                            "sampler": "evolution", "initial": priors})
    return SearchSpec(strategy="asha", continue_runs=True, first_look_epochs=FIRST_LOOK_EPOCHS, **common,
                      strategy_options={"resource": "seconds", "min_resource": plan.rung_seconds[0],
                                        "max_resource": plan.rung_seconds[-1], "eta": ETA,
                                        "sampler": "evolution", "initial": priors})


def open_search(study_path: Path, spec: SearchSpec, resource: str, log) -> Study:
    """The study at ``study_path``: created from ``spec``, or resumed if it holds the same search
    (data set, space and its options, strategy, seed and, for ASHA, ``resource``)."""
    if not study_path.exists():
        return open_study(study_path, spec)
    study = open_study(study_path, None)
    stored = study.storage.meta()["spec"]
    same = ((stored.get("dataset"), stored.get("space"), stored.get("strategy"), stored.get("seed"),
             stored.get("space_options") or {}) == (spec.dataset, spec.space, spec.strategy, spec.seed,
                                                    spec.space_options)
            and (spec.strategy != "asha" or stored.get("strategy_options", {}).get("resource") == resource))
    if not same:
        study.close()
        raise StudyError(f"{str(study_path)!r} holds another search ({stored.get('strategy')} of "
                         f"{stored.get('space')!r} on {stored.get('dataset')!r}, seed {stored.get('seed')}); "
                         f"choose another --out for {spec.space!r} on {spec.dataset!r} with seed {spec.seed}")
    log(f"Resuming the search in {study_path}: {study.finished_count()} trial(s) already finished.")
    return study


def _fidelity_words(study: Study, search: str, plan: AutoPlan) -> str:
    """What a candidate's training is in this search, for the log."""
    seconds = ", ".join(f"{r:g}s" for r in plan.rung_seconds)
    if study.storage.meta().get("cross_validation"):
        return "k-fold cross-validation over doubling epoch counts"
    if search != "asha":
        return f"random candidates of {plan.rung_seconds[1]:g}s"
    standing = study.strategy.standing()
    if standing.resource == "subset":
        return (f"successive halving on training subsets of {', '.join(f'{100 * f:.3g}%' for f in standing.levels)}"
                f" for {seconds} (as many epochs as the final training)")
    first = getattr(study.estimator, "first_look_epochs", 0.0)
    stretch = f"; a first look goes on until {first:g} epochs, up to {FIRST_LOOK_STRETCH:g}x" if first else ""
    return f"successive halving with rungs of {seconds} (promotions continue their training{stretch})"


def run_search(study: Study, search_s: float, search: str, plan: AutoPlan, seed: int,
               reporter: Reporter | None, log) -> None:
    """Search for ``search_s`` more seconds, on 1 or all threads, whichever trains a sample of the space faster."""
    if search_s <= 0:
        return
    est, ds = study.estimator, study.estimator.dataset
    probe = est.space.build(est.space.sample(np.random.default_rng(seed)), ds.input_shape, ds.num_classes)
    threads = fastest_thread_count(probe, ds.x_train, ds.y_train, est.train_config.batch_size)
    log(f"Searching {study.storage.meta()['spec']['space']} for {search_s:.0f}s on {threads} thread(s): "
        f"{_fidelity_words(study, search, plan)} of training per candidate.")
    # a trial running when the time is up finishes: no new one starts with less than half of the
    # shortest trial's time left, so the search ends, on average, when planned
    cutoff = 0.5 * _shortest_trial_s(study, search, plan)
    with using_threads(threads):
        study.optimize(time_budget=study.elapsed() + max(search_s - cutoff, 1e-3), reporter=reporter,
                       max_failures=20)


def _shortest_trial_s(study: Study, search: str, plan: AutoPlan) -> float:
    """Training seconds of the shortest trial this search runs (0 when trials are not timed: the
    cross-validated search of a small table)."""
    if study.storage.meta().get("cross_validation"):
        return 0.0
    if search != "asha":
        return plan.rung_seconds[1]
    return study.strategy.standing().seconds[0]
