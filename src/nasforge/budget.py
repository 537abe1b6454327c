"""Budgeted search (`nasforge auto`): the best model for a data set within a wall-clock budget.

One call loads the data, searches with time-equalised successive halving
(every candidate of a rung trains for the same number of *seconds*, so the
ranking rewards what an architecture learns per second, which is what the
final training will buy with its time), retrains the winner on
train+validation with a learning-rate schedule that ends exactly at the
deadline, tests it once, and writes the model (PyTorch + ONNX), a JSON
summary and a Markdown report. Everything, data loading included, fits in
the budget; the study file keeps every trial, so a killed run resumes its
search by running the same command again.

>>> summary = nasforge.auto("digits", time_budget=60, out="runs/digits")  # doctest: +SKIP
>>> summary["test_accuracy"]  # doctest: +SKIP
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch

from .core import Arch, StudyError, TrialStatus, UserInputError
from .estimation import count_flops, count_params, evaluate_model, measure_latency_ms, resolve_device, train_model
from .estimation import TrainConfig, extrapolate_accuracy, power_law_exponent
from .estimation._augment import AUGMENTATIONS
from .export import export_model, save_checkpoint

# Defaults chosen by measurement; see docs/auto.md for the experiments.
SEARCH_FRACTION = 0.35
RUNG0_SHARE = 1 / 10  # rung-0 training seconds as a share of the search time (rungs continue, see docs/auto.md)
ETA = 3
RUNGS = 2  # few, long looks: at 10-30 s of training the light and the full-resolution nets tie (docs/auto.md)
MIN_RUNG_SECONDS = 1.0
MIN_FINAL_SECONDS = 5.0
SEARCH_VAL_SAMPLES = 2000  # trials are scored on this fixed share of validation data (see docs/auto.md)
DECAY_SHARE = 0.4  # the winner's learning rate decays over the last 40% of its whole training
CHUNK_SECONDS = 30.0  # progress lines during a continued final training
WRAP_UP_GUESS = 10.0  # seconds kept aside for testing and exporting when splitting the budget
MIN_SUBSET_SAMPLES = 500  # the smallest training subset a rung uses (fewer makes rankings noise)
RUNG_MODES = ("subset", "time")
AUGMENT_MODES = ("auto", *AUGMENTATIONS)  # auto: chosen by mirror_test
MIRROR_KEEP = 0.9  # mirrored validation images keep >= 90% of the accuracy: mirroring preserves labels
SEARCHES = ("asha", "random")  # random: the single-fidelity ablation used by benchmarks/budgeted_search.py


@dataclass(frozen=True)
class AutoPlan:
    """How a budget is split: search seconds, the rung training times, the final training."""

    budget_s: float
    search_s: float
    rung_seconds: tuple[float, ...]
    available_s: float = 0.0  # search + final training seconds

    def to_dict(self) -> dict[str, Any]:
        return {"budget_s": self.budget_s, "search_s": self.search_s, "rung_seconds": list(self.rung_seconds),
                "available_s": self.available_s}


def make_plan(budget_s: float, available_s: float, search_fraction: float = SEARCH_FRACTION,
              rung0_share: float = RUNG0_SHARE) -> AutoPlan:
    """Split the ``available_s`` seconds left after loading the data between search and final training."""
    search_s = max(0.0, search_fraction * available_s)
    rung0 = round(max(MIN_RUNG_SECONDS, search_s * rung0_share), 2)
    rungs = tuple(rung0 * ETA ** k for k in range(RUNGS))  # exact multiples: ASHA rebuilds them from rung 0
    return AutoPlan(budget_s, search_s, rungs, available_s)


def _rung_seconds(asha) -> tuple[float, ...]:
    """Training seconds of each rung of an ``asha`` strategy (over seconds, or subsets with proportional time)."""
    if asha.seconds_per_unit is not None:
        return tuple(round(level * asha.seconds_per_unit, 3) for level in asha.levels)
    return tuple(asha.levels)


class Deadline:
    """Seconds left until a fixed moment on the monotonic clock."""

    def __init__(self, start: float, budget_s: float):
        self.start, self.budget_s = start, budget_s
        self.end = start + budget_s

    def left(self) -> float:
        return self.end - time.monotonic()

    def spent(self) -> float:
        return time.monotonic() - self.start


def _validate(time_budget, search_fraction):
    if not (isinstance(time_budget, (int, float)) and math.isfinite(time_budget) and time_budget >= 10):
        raise UserInputError(f"--time-budget must be at least 10 seconds; got {time_budget!r}")
    if not (isinstance(search_fraction, (int, float)) and 0.0 <= search_fraction < 1.0):
        raise UserInputError(f"--search-fraction must be in [0, 1); got {search_fraction!r}")


def _wrap_up_seconds(model: torch.nn.Module, dataset, test_samples: int, onnx: bool) -> float:
    """Seconds to keep for testing, measuring and exporting the final model: the
    test pass is timed (warm) on validation data and scaled to the test size;
    latency, FLOPs, saving and the ONNX export take a few seconds on CPU."""
    evaluate_model(model, dataset.x_val[:64], dataset.y_val[:64])  # warm-up: first calls allocate
    x, y = dataset.x_val[:1024], dataset.y_val[:1024]
    start = time.perf_counter()
    evaluate_model(model, x, y)
    test_s = (time.perf_counter() - start) * test_samples / max(1, len(x))
    return 2.0 + (3.0 if onnx else 0.0) + 1.2 * test_s


def fastest_thread_count(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor, batch_size: int,
                         steps: int = 4) -> int:
    """1 or all of torch's threads, whichever trains ``model`` faster here. Small
    models train faster on one thread, and extra threads collapse when other
    processes load the cores; timing a few steps costs about a second."""
    import copy

    import torch.nn.functional as F

    candidates = sorted({1, torch.get_num_threads()})
    if len(candidates) == 1 or next(model.parameters()).device.type != "cpu":
        return candidates[-1]
    probe = copy.deepcopy(model).train()
    opt = torch.optim.SGD(probe.parameters(), lr=0.0)
    xb, yb = x[:batch_size], y[:batch_size]
    previous = torch.get_num_threads()
    timings = {}
    try:
        for n in candidates:
            torch.set_num_threads(n)
            for i in range(steps + 1):
                if i == 1:
                    start = time.perf_counter()
                loss = F.cross_entropy(probe(xb), yb)
                opt.zero_grad()
                loss.backward()
                opt.step()
            timings[n] = time.perf_counter() - start
    finally:
        torch.set_num_threads(previous)
    return min(timings, key=timings.get)


def mirror_test(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> tuple[float, float]:
    """(accuracy, accuracy on the same samples mirrored along the last axis) of ``model``.

    A model trained without flips still recognises mirrored clothes or
    animals, but not mirrored digits or letters; the ratio tells ``auto``
    whether mirror flips are a label-preserving augmentation for this data."""
    plain, _ = evaluate_model(model, x, y)
    mirrored, _ = evaluate_model(model, x.flip(-1), y)
    return plain, mirrored


def choose_augment(requested: str, model: torch.nn.Module | None, ds, val_samples: int) -> tuple[str, str]:
    """(augmentation for the final training, why). ``auto``: random shifts for every
    image or sequence, plus mirror flips if the search's winner passes :func:`mirror_test`;
    none for tabular features."""
    if requested != "auto":
        return requested, "as requested"
    if ds.tabular:
        return "none", "tabular features (columns on different scales): shifting or mirroring would mix them"
    if model is None:
        return "shift", "no trained candidate to test mirroring with"
    plain, mirrored = mirror_test(model, ds.x_val[:val_samples], ds.y_val[:val_samples])
    why = f"val accuracy {plain:.3f}, mirrored {mirrored:.3f}"
    return ("shift-flip" if mirrored >= MIRROR_KEEP * plain else "shift"), why


def pareto_front(points: list[dict[str, Any]], cost: str = "params") -> list[dict[str, Any]]:
    """The points no other point beats on both ``val_accuracy`` (higher) and ``cost`` (lower), cheapest first."""
    front, best_acc = [], -math.inf
    for p in sorted(points, key=lambda p: (p[cost], -p["val_accuracy"])):
        if p["val_accuracy"] > best_acc:
            front.append(p)
            best_acc = p["val_accuracy"]
    return front


def _candidates(study, levels: list[float]) -> dict[str, list[dict[str, Any]]]:
    """Per rung (named by its training seconds), every successful trial's metrics."""
    by_rung: dict[str, list[dict[str, Any]]] = {}
    describe = study.estimator.space.describe
    for t in study.storage.trials((TrialStatus.OK,)):
        seconds = t.fidelity.get("seconds")
        by_rung.setdefault(f"{seconds:g}s", []).append({
            "trial_id": t.id, "val_accuracy": t.metrics["val_accuracy"], "params": t.metrics["params"],
            "flops": t.metrics.get("flops"), "latency_ms": t.metrics.get("latency_ms"),
            "description": describe(t.arch), "arch": t.arch.to_dict()})
    return by_rung


class Choice(NamedTuple):
    """The search's winner: its validation score after ``seconds`` of training, and (when
    ASHA's top rung has several candidates) the extrapolation table that ranked them after
    ``horizon_s`` seconds of training in all."""

    arch: Arch | None
    score: float | None = None
    seconds: float | None = None
    extrapolation: Sequence[dict[str, Any]] = ()
    horizon_s: float = 0.0


def _choose(study, search: str, final_s: float = 0.0) -> Choice:
    """The winner: of the highest ASHA rung, the candidate whose learning curve promises the best
    accuracy after its rung's training plus ``final_s`` more seconds (see
    :func:`extrapolated_ranking`), or the best trial of a single-fidelity search."""
    if search == "asha":
        rung = study.strategy.top_rung()
        if rung is None:
            return Choice(None)
        arch, score, _ = study.strategy.best_at_top()
        seconds = _rung_seconds(study.strategy)
        if study.strategy.resource != "seconds" or rung == 0:
            return Choice(arch, score, seconds[rung])
        horizon = seconds[rung] + final_s
        table = extrapolated_ranking(study.strategy, rung, seconds, horizon)
        if table:
            arch, score = Arch.from_json(table[0]["arch"]), table[0]["looks"][-1][1]
        return Choice(arch, score, seconds[rung], table, horizon)
    best = study.best()
    if best is None:
        return Choice(None)
    return Choice(best.arch, best.objective, best.fidelity.get("seconds"))


def extrapolated_ranking(asha, rung: int, seconds: tuple[float, ...], horizon_s: float) -> list[dict[str, Any]]:
    """Rung ``rung``'s candidates, best first by the accuracy their looks (one per rung reached)
    extrapolate to after ``horizon_s`` seconds of training (a power law in time; equal-time rungs
    favour nets that learn fast early, the final training lasts minutes)."""
    scores = [dict((a, s) for a, s in asha.rungs[r] if s > -math.inf) for r in range(rung + 1)]
    table = []
    for arch_json in scores[rung]:
        looks = [(seconds[r], scores[r][arch_json]) for r in range(rung + 1) if arch_json in scores[r]]
        table.append({"arch": arch_json, "looks": looks, "exponent": round(power_law_exponent(looks), 4),
                      "extrapolated_accuracy": round(extrapolate_accuracy(looks, horizon_s), 4)})
    return sorted(table, key=lambda row: (-row["extrapolated_accuracy"], -row["looks"][-1][1]))


def format_looks(looks) -> str:
    """'0.9195 at 21s, 0.9310 at 62s': a candidate's validation accuracy after each look."""
    return ", ".join(f"{accuracy:.4f} at {seconds:g}s" for seconds, accuracy in looks)


def auto(dataset: str = "fashion-mnist", time_budget: float = 600.0, out: str | Path = "runs/auto",
         seed: int = 0, space: str = "macro-cnn", space_options: dict[str, Any] | None = None,
         search_fraction: float = SEARCH_FRACTION, onnx: bool = True, reporter=None, log=print,
         started_at: float | None = None, search: str = "asha", rung0_share: float = RUNG0_SHARE,
         rungs: str = "time", augment: str = "auto") -> dict[str, Any]:
    """Search and train the best model for ``dataset`` in ``time_budget`` seconds; return the summary.

    ``search="random"`` replaces successive halving with random candidates
    trained for the middle rung's time (an ablation for benchmarks; its
    winner continues into the final training too).
    ``rungs="time"`` (default): all the training data for equal seconds, a
    promotion continuing its training and the winner continuing into the
    final training; ``rungs="subset"``: rung ``k`` trains on a data subset
    for the same share of the final training time, so each candidate sees as
    many epochs as the final training will give it (see docs/auto.md).
    ``augment``: the final training's data augmentation (``auto``: random
    shifts, and mirror flips when the data pass :func:`mirror_test`; the
    search trains without, see docs/auto.md).
    ``started_at`` (a ``time.monotonic()`` value) lets a caller count time it
    spent before this call (the CLI counts its own start-up). Rerunning with
    the same ``out`` resumes the search from ``out/study.db``.
    """
    from .api import SearchSpec, open_study

    _validate(time_budget, search_fraction)
    deadline = Deadline(time.monotonic() if started_at is None else started_at, float(time_budget))
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    study_path = out / "study.db"

    # rung times follow from the budget (less ~2 s to load the data) and are fixed in the study
    plan = make_plan(time_budget, deadline.left() - 2.0 - WRAP_UP_GUESS, search_fraction, rung0_share)
    if search not in SEARCHES:
        raise UserInputError(f"unknown search {search!r}; known: {', '.join(SEARCHES)}")
    from . import spaces

    if rungs not in RUNG_MODES:
        raise UserInputError(f"unknown rungs {rungs!r}; known: {', '.join(RUNG_MODES)}")
    if augment not in AUGMENT_MODES:
        raise UserInputError(f"unknown augment {augment!r}; known: {', '.join(AUGMENT_MODES)}")
    priors = [a.to_dict() for a in spaces.get(space, **(space_options or {})).priors()]
    resource = "subset" if rungs == "subset" else "seconds"
    if search == "asha" and rungs == "subset" and not study_path.exists():
        from . import data

        final_s = max(1.0, plan.available_s - plan.search_s)
        n_train = len(data.load(dataset).y_train)
        first = min(1.0, max(plan.rung_seconds[0] / final_s, MIN_SUBSET_SAMPLES / n_train))
        spec = SearchSpec(space=space, dataset=dataset, strategy="asha", seed=seed, epochs=1000,
                          space_options=space_options or {}, val_samples=SEARCH_VAL_SAMPLES,
                          strategy_options={"resource": "subset", "min_resource": round(first, 5),
                                            "max_resource": round(min(1.0, first * ETA ** (RUNGS - 1)), 5),
                                            "eta": ETA, "seconds_per_unit": round(final_s, 2),
                                            "sampler": "evolution", "initial": priors})
    elif search == "asha":
        spec = SearchSpec(space=space, dataset=dataset, strategy="asha", seed=seed, epochs=1000,
                          space_options=space_options or {}, val_samples=SEARCH_VAL_SAMPLES, continue_runs=True,
                          strategy_options={"resource": "seconds", "min_resource": plan.rung_seconds[0],
                                            "max_resource": plan.rung_seconds[-1], "eta": ETA,
                                            "sampler": "evolution", "initial": priors})
    else:  # the ablation: random architectures, each trained for the middle rung's time
        spec = SearchSpec(space=space, dataset=dataset, strategy="random", seed=seed, epochs=1000,
                          seconds=plan.rung_seconds[1], space_options=space_options or {},
                          val_samples=SEARCH_VAL_SAMPLES, continue_runs=True,
                          strategy_options={"initial": priors})
    if study_path.exists():
        study = open_study(study_path, None)
        stored = study.storage.meta()["spec"]
        same = ((stored.get("dataset"), stored.get("space"), stored.get("strategy"), stored.get("seed"),
                 stored.get("space_options") or {}) == (dataset, space, spec.strategy, seed, space_options or {})
                and (search != "asha" or stored.get("strategy_options", {}).get("resource") == resource))
        if not same:
            study.storage.close()
            raise StudyError(f"{str(study_path)!r} holds another search ({stored.get('strategy')} of "
                             f"{stored.get('space')!r} on {stored.get('dataset')!r}, seed {stored.get('seed')}); "
                             f"choose another --out for {space!r} on {dataset!r} with seed {seed}")
        log(f"Resuming the search in {study_path}: {study.finished_count()} trial(s) already finished.")
    else:
        study = open_study(study_path, spec)
    if search == "asha":  # the study's own rung times (a resumed study keeps its first plan's)
        plan = AutoPlan(plan.budget_s, plan.search_s, _rung_seconds(study.strategy), plan.available_s)
    ds = study.estimator.dataset
    log(f"Loaded {ds.name}: {len(ds.y_train)} train / {len(ds.y_val)} validation samples, input "
        f"{tuple(ds.input_shape)}, {ds.num_classes} classes ({deadline.spent():.1f}s).")

    search_s = max(0.0, min(plan.search_s, search_fraction * (deadline.left() - WRAP_UP_GUESS)))
    if search_s > 0:
        if search != "asha":
            fidelity = f"random candidates of {plan.rung_seconds[1]:g}s"
        elif study.strategy.resource == "subset":
            fidelity = ("successive halving on training subsets of "
                        f"{', '.join(f'{100 * f:.3g}%' for f in study.strategy.levels)} for "
                        f"{', '.join(f'{r:g}s' for r in plan.rung_seconds)} (as many epochs as the final training)")
        else:
            fidelity = (f"successive halving with rungs of {', '.join(f'{r:g}s' for r in plan.rung_seconds)} "
                        "(promotions continue their training)")
        probe = study.estimator.space.build(study.estimator.space.sample(np.random.default_rng(seed)),
                                            ds.input_shape, ds.num_classes)
        threads = fastest_thread_count(probe, ds.x_train, ds.y_train, study.estimator.train_config.batch_size)
        log(f"Searching {space} for {search_s:.0f}s on {threads} thread(s): {fidelity} of training per candidate.")
        previous_threads = torch.get_num_threads()
        torch.set_num_threads(threads)
        try:
            study.optimize(time_budget=study.elapsed() + search_s, reporter=reporter, max_failures=20)
        finally:
            torch.set_num_threads(previous_threads)
    arch, search_score, chosen_seconds, extrapolation, horizon = _choose(study, search, deadline.left() - WRAP_UP_GUESS)
    if arch is None:
        arch = study.strategy.space.sample(study.strategy.rng)
        log("No candidate finished in the search time; training a random architecture.")
    space_obj = study.estimator.space
    if search_score is not None:
        for row in extrapolation:
            row["description"] = space_obj.describe(Arch.from_json(row.pop("arch")))
            log(f"  {row['description']}: {format_looks(row['looks'])} -> "
                f"{row['extrapolated_accuracy']:.4f} extrapolated to {horizon:.0f}s")
        log(f"Chosen: {space_obj.describe(arch)} (val accuracy {search_score:.4f} after {chosen_seconds:g}s of training"
            + (", the best extrapolated to the final training's length)" if len(extrapolation) > 1 else ")"))

    continued = study.estimator.continue_runs
    run = study.estimator.run_for(arch, study.fidelity) if continued else None
    if run is None and continued and search_score is not None:
        log("The chosen candidate's training is not in this process (a resumed search); retraining it from scratch.")
    tested = run.eval_model() if run is not None else None
    augmentation, why = choose_augment(augment, tested, ds, SEARCH_VAL_SAMPLES)
    log(f"Final training augmentation: {augmentation} ({why}).")
    train_config = replace(study.estimator.train_config, augment=augmentation)
    summary = train_until_deadline(space_obj, arch, ds, train_config, deadline, out, seed, onnx,
                                   log, study.storage.meta()["spec"]["space_options"], run=run)
    chosen = [t.id for t in study.storage.trials((TrialStatus.OK,)) if t.arch == arch]
    if chosen:
        study.storage.add_final_model(chosen[-1], summary["files"]["pytorch"], {
            k: summary[k] for k in ("test_accuracy", "params", "latency_ms", "seed")})
    summary.update({
        "search": {"plan": plan.to_dict(), "trials": study.finished_count(),
                   "search_seconds": study.elapsed(), "chosen_rung_seconds": chosen_seconds, "method": search,
                   "chosen_val_accuracy": search_score, "augment_reason": why,
                   "extrapolated_to_seconds": horizon, "extrapolation": extrapolation},
        "candidates": {r: pareto_front(points) for r, points in _candidates(study, plan.rung_seconds).items()},
        "study": str(study_path), "budget_s": float(time_budget), "total_seconds": deadline.spent(),
    })
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    (out / "report.md").write_text(report_markdown(summary))
    study.storage.close()
    log(f"Done in {summary['total_seconds']:.1f}s of a {time_budget:g}s budget: test accuracy "
        f"{summary['test_accuracy']:.4f}, {summary['params']:,} parameters. Wrote {out}/")
    return summary


def continue_until(run, x, y, train_s: float, on_chunk=None) -> list[dict[str, float]]:
    """Continue ``run`` on ``x, y`` for ``train_s`` seconds, the learning rate decaying to zero over
    the last ``DECAY_SHARE`` of its whole training (search included); ``on_chunk(point)`` every ~30 s."""
    from .estimation import decay_lr

    end = run.seconds + train_s
    schedule = decay_lr(max(run.seconds, (1 - DECAY_SHARE) * end), end)
    curve, samples0 = [], run.samples
    while end - run.seconds > 0.05:
        loss = run.run(x, y, min(CHUNK_SECONDS, end - run.seconds), schedule)
        curve.append({"epoch": round((run.samples - samples0) / len(y), 4), "train_loss": loss,
                      "train_seconds_total": run.seconds})
        if on_chunk is not None:
            on_chunk(curve[-1])
    return curve


def train_until_deadline(space, arch, ds, train_config: TrainConfig, deadline: Deadline, out: Path, seed: int = 0,
                         onnx: bool = True, log=print, space_options: dict[str, Any] | None = None,
                         run=None) -> dict[str, Any]:
    """Train ``arch`` on train+validation until the deadline (less the wrap-up), test once,
    write ``model.pt`` (and ``model.onnx``); return the summary. With ``run`` (the
    search's :class:`~nasforge.estimation.TrainingRun` of ``arch``) the training
    continues from there instead of starting over."""
    config = TrainConfig(**{**train_config.to_dict(), **space.training_config(arch)})
    device = resolve_device(config.device)
    x, y = ds.train_and_val()
    previous_threads = torch.get_num_threads()
    searched_s = run.seconds if run is not None else 0.0
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = run.model if run is not None else space.build(arch, ds.input_shape, ds.num_classes).to(device)
        x_test, y_test = ds.test()
        threads = fastest_thread_count(model, x, y, config.batch_size)
        torch.set_num_threads(threads)
        try:
            train_s = deadline.left() - _wrap_up_seconds(model, ds, len(y_test), onnx)
            if train_s < MIN_FINAL_SECONDS:
                log(f"Warning: the budget leaves only {max(0.0, train_s):.1f}s for the final training; training "
                    f"{MIN_FINAL_SECONDS:g}s (the deadline will pass). Give a larger --time-budget.")
                train_s = MIN_FINAL_SECONDS
            log(f"Final training on {len(y)} samples for {train_s:.0f}s on {threads} thread(s) "
                + (f"(continuing the search's {searched_s:.0f}s of training; " if run is not None else "(")
                + "the schedule ends at the deadline).")
            def progress(point):
                log(f"  epoch {point['epoch']:g}  train loss {point['train_loss']:.4f}  {deadline.left():.0f}s left")

            if run is not None:
                run.config = replace(run.config, augment=config.augment)  # the search trained without
                curve = continue_until(run, x, y, train_s, progress)
                model = run.finish()
            else:
                curve = train_model(model, x, y, 10_000, config, seed, on_epoch=progress, time_limit=train_s)
            test_accuracy, test_loss = evaluate_model(model, x_test, y_test, config.eval_batch_size)
        finally:
            torch.set_num_threads(previous_threads)
    summary = {
        "arch": arch.to_dict(), "description": space.describe(arch), "space": space.name, "dataset": ds.name,
        "test_accuracy": test_accuracy, "test_loss": test_loss, "test_samples": len(y_test),
        "train_samples": len(y), "final_train_seconds": train_s, "final_epochs": curve[-1]["epoch"],
        "continued_from_search_seconds": searched_s,
        "params": count_params(model), "flops": count_flops(model, ds.input_shape),
        "latency_ms": measure_latency_ms(model, ds.input_shape), "seed": seed, "threads": threads,
        "train_config": config.to_dict(), "curve": curve,
    }
    files = {"pytorch": str(save_checkpoint(out / "model.pt", model, arch, space_options or {}, ds.input_shape,
                                            ds.num_classes, {"classes": ds.classes, "test_accuracy": test_accuracy}))}
    (out / "arch.json").write_text(json.dumps(arch.to_dict(), indent=2))
    if onnx:
        try:
            files["onnx"] = str(export_model(model.cpu(), ds.input_shape, "onnx", out / "model.onnx"))
        except Exception as exc:  # the model is saved; a failed export must not lose it
            files["onnx_error"] = f"{type(exc).__name__}: {exc}"
            log(f"ONNX export failed ({files['onnx_error']}); the PyTorch model is saved.")
    summary["files"] = files
    return summary


def report_markdown(summary: dict[str, Any]) -> str:
    """A short human report of an ``auto`` run."""
    s = summary["search"]
    lines = [
        f"# nasforge auto: {summary['dataset']}", "",
        f"- Budget {summary['budget_s']:g}s, used {summary['total_seconds']:.1f}s: search "
        f"{s['search_seconds']:.0f}s ({s['trials']} trials, rungs "
        f"{', '.join(f'{r:g}s' for r in s['plan']['rung_seconds'])}), final training "
        f"{summary['final_train_seconds']:.0f}s ({summary['final_epochs']:g} epochs on {summary['train_samples']} samples).",
        f"- **Test accuracy {summary['test_accuracy']:.4f}** on {summary['test_samples']} held-out samples.",
        f"- Model: `{summary['description']}` ({summary['space']}): {summary['params']:,} parameters, "
        f"{summary['flops'] / 1e6:.1f} MFLOPs, {summary['latency_ms']:.2f} ms per sample (CPU, batch 1, 1 thread).",
        f"- Files: {', '.join(f'{k} `{v}`' for k, v in summary['files'].items())}; every trial is in "
        f"`{summary['study']}` (`nasforge show --study {summary['study']}`).", "",
    ]
    if len(s.get("extrapolation", [])) > 1:
        lines += ["## How the winner was chosen", "",
                  "The top rung's candidates, ranked by the validation accuracy their looks extrapolate to "
                  f"after {s['extrapolated_to_seconds']:.0f}s of training (a power law in training time):", "",
                  "| architecture | looks (val acc after training) | exponent | extrapolated |", "|---|---|---|---|"]
        for row in s["extrapolation"]:
            lines.append(f"| `{row['description']}` | {format_looks(row['looks'])} | {row['exponent']:.3f} | "
                         f"{row['extrapolated_accuracy']:.4f} |")
        lines.append("")
    lines += [
        "## Smaller alternatives (accuracy/size Pareto front per rung)", "",
        "Validation accuracy after the rung's training time; retrain one with "
        f"`nasforge train --study {summary['study']} --trial ID`.", "",
        "| rung | trial | val acc | params | latency ms | architecture |", "|---|---|---|---|---|---|",
    ]
    for rung, front in sorted(summary["candidates"].items(), key=lambda kv: -float(kv[0][:-1])):
        for p in front:
            lat = f"{p['latency_ms']:.2f}" if p.get("latency_ms") is not None else "-"
            lines.append(f"| {rung} | {p['trial_id']} | {p['val_accuracy']:.4f} | {p['params']:,} | {lat} | "
                         f"`{p['description']}` |")
    return "\n".join(lines) + "\n"
