"""The budgeted job, start to end: plan, search, choose, train the winner until the deadline, report."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from ..core import Arch, TrialStatus, check_choice
from ..estimation import count_params
from ..study import Reporter, Study
from . import calibration
from .baselines import BASELINE_SHARE, compare, fit_baselines
from .crossval import (ENSEMBLE_MEMBERS, SEARCH_SHARE as CV_SEARCH_SHARE, CrossValEstimator, choose_by_cv,
                       cv_summary, is_small_table)
from .final import train_until_deadline
from .limits import LimitedEstimator, Limits, check_final, screen
from .plan import BUDGET_TOLERANCE, RUNG0_SHARE, SEARCH_FRACTION, WRAP_UP_GUESS, Deadline, check_arguments, make_plan
from .report import search_summary, write_report
from .search import (AUTO_SPACE, RECIPES, SEARCH_VAL_SAMPLES, cross_validates, default_space, open_search,
                     recipe_space, run_search, search_spec)
from .select import Choice, announce, choose, choose_augment, raw_prediction


FALLBACK_SAMPLES = 20  # architectures drawn when no candidate finished and limits apply


def auto(dataset: str = "fashion-mnist", time_budget: float = 600.0, out: str | Path = "runs/auto",
         seed: int = 0, space: str = "auto", space_options: dict[str, Any] | None = None,
         search_fraction: float = SEARCH_FRACTION, onnx: bool = True, reporter: Reporter | None = None, log=print,
         started_at: float | None = None, search: str = "asha", rung0_share: float = RUNG0_SHARE,
         rungs: str = "time", augment: str = "auto", max_params: int | None = None,
         max_latency_ms: float | None = None, recipe: str = "fixed",
         train_options: dict[str, Any] | None = None, ensemble: int = ENSEMBLE_MEMBERS) -> dict[str, Any]:
    """Search and train the best model for ``dataset`` in ``time_budget`` seconds; return the summary.

    ``search="random"`` replaces successive halving with random candidates trained for the middle
    rung's time (an ablation for benchmarks; its winner continues into the final training too).
    ``rungs="time"`` (default): all the training data for equal seconds, a promotion continuing its
    training and the winner continuing into the final training; ``rungs="subset"``: rung ``k`` trains
    on a data subset for the same share of the final training time, so each candidate sees as many
    epochs as the final training will give it (see docs/auto.md).
    ``augment``: the final training's data augmentation (``auto``: random shifts, and mirror flips
    when the data pass :func:`mirror_test`; the search trains without, see docs/auto.md).
    ``started_at`` (a ``time.monotonic()`` value) lets a caller count time it
    spent before this call (the CLI counts its own start-up). Rerunning with
    the same ``out`` resumes the search from ``out/study.db``.
    ``max_params`` / ``max_latency_ms``: limits of the final model; candidates exceeding them are
    never trained and the most accurate one within them wins (see ``limits.py``).
    ``recipe="search"``: the training recipe (learning rate, weight decay, batch size, label
    smoothing, augmentation, dropout, width) is searched with the architecture (the ``recipe``
    space over ``space``) and the final training uses the winner's; ``"fixed"`` keeps the defaults.
    ``train_options``: training settings for the search and the final training (as ``nasforge
    search --train-option``, e.g. ``{"precision": "fp32"}``); a resumed study keeps its own.
    ``ensemble``: on a cross-validated small table, up to this many copies of the winner predict
    together (1: one network; elsewhere always one).
    """
    check_arguments(time_budget, search_fraction, search, rungs, augment, ensemble)
    deadline = Deadline(time.monotonic() if started_at is None else started_at, float(time_budget))
    check_choice(None, "recipe", recipe, RECIPES, kind="auto option")
    limits = Limits(max_params, max_latency_ms)
    space, space_options = _space_for(dataset, space, space_options, recipe, log)
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    study_path = out / "study.db"
    # rung times follow from the budget (less ~2 s to load the data) and are fixed in the study
    plan = make_plan(time_budget, deadline.left() - 2.0 - WRAP_UP_GUESS, search_fraction, rung0_share)
    study, spec, plan = _open_study(study_path, dataset, space, space_options, seed, search, rungs, plan,
                                    train_options, log)
    ds = study.estimator.dataset
    log(f"Loaded {ds.name}: {len(ds.y_train)} train / {len(ds.y_val)} validation samples, input "
        f"{tuple(ds.input_shape)}, {ds.num_classes} classes ({deadline.spent():.1f}s).")
    cv = _cross_validation(study, spec, seed, log)
    allowed = _gate(study, limits, seed, log)
    baselines = _baselines(ds, deadline, seed, log) if ds.tabular else None
    choice, epochs = _search_and_choose(study, spec, cv, search, plan, search_fraction, deadline, allowed, seed,
                                        reporter, log)
    predicted = calibration.prediction(ds.name, raw_prediction(choice))
    summary, why = _final_model(study, choice, augment, deadline, out, seed, onnx, space_options, log, allowed,
                                epochs, ensemble)
    summary.update(search_summary(study, plan, choice, "cross-validation" if cv is not None else search, why, limits))
    if cv is not None:
        summary["cross_validation"] = cv_summary(study, epochs, cv.k)
    summary["budget_s"] = float(time_budget)
    _outcome(summary, limits, predicted, baselines, ds.name, log)
    _finish(study, study_path, summary, deadline, out, log)
    return summary


def _space_for(dataset: str, space: str, space_options: dict[str, Any] | None, recipe: str,
               log) -> tuple[str, dict[str, Any]]:
    """The space searched and its options: the family chosen from the data for ``auto``, wrapped in
    the ``recipe`` space when the recipe is searched too."""
    if space == AUTO_SPACE:
        space = default_space(dataset)
        log(f"Space: {space} ({'an MLP for table columns' if space == 'mlp' else 'convolutions for images/sequences'};"
            " --space to choose another).")
    if recipe == "search":
        space, space_options = recipe_space(space, space_options, dataset)
    return space, space_options or {}


def _open_study(study_path: Path, dataset: str, space: str, space_options: dict[str, Any], seed: int, search: str,
                rungs: str, plan, train_options, log):
    """(the study, its spec, the plan with the study's own rung times): created for this search or
    resumed (a resumed study keeps its first plan's rungs), marked when it cross-validates."""
    cross_validation = cross_validates(dataset, space, space_options, search)
    spec = search_spec(dataset, space, space_options, seed, search, rungs, plan, resuming=study_path.exists(),
                       train_options=train_options, cross_validation=cross_validation)
    study = open_search(study_path, spec, "subset" if rungs == "subset" else "seconds", log)
    if cross_validation and not study.finished_count():
        study.storage.set_meta({"cross_validation": True})
    if search == "asha" and not cross_validation:
        plan = replace(plan, rung_seconds=study.strategy.standing().seconds)
    return study, spec, plan


def _search_and_choose(study: Study, spec, cv, search: str, plan, search_fraction: float, deadline: Deadline,
                       allowed, seed: int, reporter, log):
    """Run the search in its share of the time left and pick the winner: (choice, final epochs or None).

    A cross-validated small table gets a fixed share of the time and its winner the epoch count that
    validated best; otherwise successive halving (or random search) and the final training runs to the
    deadline."""
    if cv is not None:
        search_s = max(0.0, CV_SEARCH_SHARE * (deadline.left() - WRAP_UP_GUESS))
        cv.search_s = search_s  # counted from the first candidate, as the study counts its search time
        run_search(study, search_s, spec.strategy, plan, seed, reporter, log)
        return choose_by_cv(study, allowed)
    run_search(study, max(0.0, min(plan.search_s, search_fraction * (deadline.left() - WRAP_UP_GUESS))),
               search, plan, seed, reporter, log)
    return choose(study, search, max(0.0, deadline.left() - WRAP_UP_GUESS), allowed), None


def _finish(study: Study, study_path: Path, summary: dict[str, Any], deadline: Deadline, out: Path, log) -> None:
    """Time the whole run, write summary.json and the report, close the study and say how it went."""
    budget = deadline.budget_s
    summary.update({"study": str(study_path), "total_seconds": deadline.spent()})
    summary["budget_kept"] = summary["total_seconds"] <= BUDGET_TOLERANCE * budget
    write_report(out, summary)
    study.close()
    if deadline.spent() > budget:
        log(f"WARNING: the run took {deadline.spent():.1f}s, over its {budget:g}s budget.")
    log(f"Done in {summary['total_seconds']:.1f}s of a {budget:g}s budget: test accuracy "
        f"{summary['test_accuracy']:.4f}, {summary['params']:,} parameters. Wrote {out}/")


def _cross_validation(study: Study, spec, seed: int, log) -> CrossValEstimator | None:
    """On a small table searched by cross-validation (the spec :func:`search_spec` gives one), the
    study's estimator becomes a :class:`CrossValEstimator`; returns it (None otherwise)."""
    if not study.storage.meta().get("cross_validation"):
        return None
    study.estimator = cv = CrossValEstimator(study.estimator, seed=seed)
    log(f"Small table ({len(cv.y)} rows): candidates are ranked by {cv.k}-fold cross-validation and the final "
        "training lasts the epochs that scored best.")
    return cv


def _gate(study: Study, limits: Limits, seed: int, log):
    """With limits: the study's estimator measures candidates before training them; returns the test
    an architecture must pass to win (None without limits)."""
    if not limits.active:
        return None
    study.estimator = LimitedEstimator(study.estimator, limits)
    log(f"Limits: {', '.join(f'{k} {v:g}' for k, v in limits.to_dict().items() if v is not None)}; "
        "candidates over them are measured, not trained.")
    warning = screen(study.estimator.space, study.estimator.dataset, limits, seed)
    if warning:
        log(f"WARNING: {warning}.")
    return study.estimator.allows


def _baselines(ds, deadline: Deadline, seed: int, log) -> dict[str, Any]:
    """The table baselines, fitted only while more than ``BASELINE_SHARE`` of the budget is left
    (imports and fits take seconds on a loaded machine)."""
    if deadline.left() <= BASELINE_SHARE * deadline.budget_s:
        return {"error": f"skipped: only {max(0.0, deadline.left()):.0f}s of the budget were left"}
    fitted = fit_baselines(ds, seed)
    log(f"Baselines fitted ({deadline.spent():.1f}s): " + ("; ".join(
        f"{k.replace('_', ' ')} {v['test_accuracy']:.4f} test" for k, v in fitted.items() if isinstance(v, dict))
        or fitted.get("error", "")))
    return fitted


def _outcome(summary: dict[str, Any], limits: Limits, predicted: dict[str, Any], baselines: dict[str, Any] | None,
             dataset: str, log) -> None:
    """The final model against the limits, its prediction (recorded for the calibration) and the baselines."""
    if limits.active:
        summary["constraints"] = check_final(summary, limits)
        for miss in summary["constraints"]["violations"]:
            log(f"WARNING: THE FINAL MODEL MISSES A LIMIT: {miss}.")
    conditions = summary["training_conditions"]
    summary["prediction"] = calibration.record(
        predicted, dataset, summary["test_accuracy"], conditions["busy"] or conditions["undertrained"],
        {"space": summary["space"], "budget_s": summary.get("budget_s"), "augment": summary["train_config"]["augment"]})
    if baselines is not None:
        summary["baselines"] = {**baselines, "comparison": compare(baselines, summary["test_accuracy"])}
        log(summary["baselines"]["comparison"])
    if predicted["raw"] is not None:
        log(f"Test accuracy {summary['test_accuracy']:.4f}; its learning curve predicted {predicted['raw']:.4f}, "
            f"calibrated {predicted['calibrated']:.4f} ({predicted['correction_source']}).")


def _fallback_arch(study: Study, allowed, log) -> Arch:
    """An architecture when no candidate finished: a random one; with limits, the smallest of
    ``FALLBACK_SAMPLES`` samples that meets them (latency is measured on the 5 smallest only: each
    measurement costs time a late run does not have), else the smallest."""
    space, rng = study.strategy.space, study.strategy.rng
    if allowed is None:
        log("No candidate finished in the search time; training a random architecture.")
        return space.sample(rng)
    ds = study.estimator.dataset
    samples = sorted((space.sample(rng) for _ in range(FALLBACK_SAMPLES)),
                     key=lambda a: count_params(space.build(a, ds.input_shape, ds.num_classes)))
    arch = next((a for a in samples[:5] if allowed(a)), None)
    log("No candidate finished in the search time; training " + (
        "a random architecture within the limits." if arch is not None else
        f"the smallest of {FALLBACK_SAMPLES} random architectures (none of the 5 smallest met the limits)."))
    return arch if arch is not None else samples[0]


def _expected_epochs(run, ds, deadline: Deadline) -> float | None:
    """Epochs the winner will have seen after its final training (its search training's plus the
    time left at its search speed, train+validation data); None without a search run to time."""
    if run is None or run.seconds <= 0:
        return None
    return (run.samples + run.samples / run.seconds * deadline.left()) / (len(ds.y_train) + len(ds.y_val))


def _final_model(study: Study, choice: Choice, augment: str, deadline: Deadline, out: Path, seed: int, onnx: bool,
                 space_options: dict[str, Any], log, allowed=None, epochs: int | None = None,
                 members: int = 1) -> tuple[dict[str, Any], str]:
    """Train the chosen architecture until the deadline (continuing its search training when this
    process has it), or for ``epochs`` epochs when cross-validation chose them (then as up to
    ``members`` copies), and record it in the study; (its summary, why its augmentation was chosen)."""
    arch: Arch = choice.arch
    if arch is None:
        arch = _fallback_arch(study, allowed, log)
    est = study.estimator
    announce(choice, est.space, log)
    run = est.run_for(arch, study.fidelity) if est.continue_runs else None
    if run is None and est.continue_runs and choice.score is not None:
        log("The chosen candidate's training is not in this process (a resumed search); retraining it from scratch.")
    chosen = est.space.training_config(arch).get("augment")
    if chosen is not None and augment == "auto":  # the search chose it with the architecture
        augmentation, why = chosen, "searched with the architecture"
    else:
        augmentation, why = choose_augment(augment, run.eval_model() if run is not None else None, est.dataset,
                                           SEARCH_VAL_SAMPLES, _expected_epochs(run, est.dataset, deadline))
    log(f"Final training augmentation: {augmentation} ({why}).")
    summary = train_until_deadline(est.space, arch, est.dataset, replace(est.train_config, augment=augmentation),
                                   deadline, out, seed, onnx, log, space_options, run=run, epochs=epochs,
                                   members=members)
    chosen = [t.id for t in study.storage.trials((TrialStatus.OK,)) if t.arch == arch]
    if chosen:
        study.storage.add_final_model(chosen[-1], summary["files"]["pytorch"], {
            k: summary[k] for k in ("test_accuracy", "params", "latency_ms", "seed")})
    return summary, why
