"""``auto``'s final training: the winner trains on train+validation until the deadline
(continuing its search training where it can), or for its cross-validated epochs (then as an
ensemble of a few copies where the time allows), is tested once and written out."""

from __future__ import annotations

import math
import tempfile
import time
from copy import deepcopy
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from ..core import Arch
from ..estimation import (TrainConfig, TrainingRun, count_flops, decay_lr, evaluate_model, measure_latency_ms,
                          resolve_device, save_final_model, train_model)
from ..ensemble import Ensemble, member_count
from ..export import export_model
from .load import TrainingConditions, cpu_share, process_cpu_seconds
from .plan import Deadline
from .threads import thread_speeds, using_threads

MIN_FINAL_SECONDS = 5.0  # less than this left for the final training: warn (the budget is still kept)
DECAY_SHARE = 0.4  # the winner's learning rate decays over the last 40% of its whole training
CHUNK_SECONDS = 30.0  # progress lines during a continued final training
WRAP_UP_MARGIN = 1.3  # the measured wrap-up steps are scaled by this (the load may grow while training)
WRAP_UP_FIXED_S = 1.0
ONNX_SKIP_SHARE = 0.8  # less than this share of the wrap-up left after training: the ONNX export is skipped
MEMBER_MARGIN = 1.5  # one more ensemble member is trained only if 1.5x the first one's time is left
EXPORT_WARM_SHARE = 0.75  # a warm ONNX export's time as a share of the first (cold) one: 0.35-0.67 measured
# (digits 1.5 of 4.3 s, Fashion-MNIST 3.3 of 4.9 s); the first call traces and sets up what later calls reuse


def _timed(fn, *args) -> float:
    start = time.perf_counter()
    fn(*args)
    return time.perf_counter() - start


def wrap_up_seconds(model: torch.nn.Module, dataset, test_samples: int, onnx: bool) -> float:
    """Seconds to keep for the wrap-up (see :func:`wrap_up_parts`)."""
    return wrap_up_parts(model, dataset, test_samples, onnx)["total"]


def wrap_up_parts(model: torch.nn.Module, dataset, test_samples: int, onnx: bool) -> dict[str, float]:
    """Seconds to keep for testing, measuring and exporting the final model, *measured* now on
    this machine (so a loaded machine keeps more): the test pass timed on validation data and
    scaled to the test size, the latency and FLOP measurements, and the ONNX export (done once on
    a copy); the test pass and latency times ``WRAP_UP_MARGIN``, the FLOP count and the
    cold-timed export as measured, plus ``WRAP_UP_FIXED_S`` for writing files (``total``; ``onnx``: the
    export's own share, dropped if the clock runs short)."""
    evaluate_model(model, dataset.x_val[:64], dataset.y_val[:64])  # warm-up: first calls allocate
    x, y = dataset.x_val[:1024], dataset.y_val[:1024]
    test_s = _timed(evaluate_model, model, x, y) * test_samples / max(1, len(x))
    copy = deepcopy(model).cpu().eval().to(memory_format=torch.contiguous_format)
    latency_s = _timed(measure_latency_ms, copy, dataset.input_shape)
    flops_s = _timed(count_flops, copy, dataset.input_shape)
    export_s = 0.0
    if onnx:
        _import_exporter()
        with tempfile.TemporaryDirectory() as tmp:
            try:
                export_s = _timed(export_model, copy, dataset.input_shape, "onnx", Path(tmp) / "probe.onnx")
            except Exception:  # noqa: BLE001 - the real export reports its own error; only its time matters here
                export_s = 3.0
    # the export was timed cold and the real one will be warm, which covers its margin; the FLOP count
    # costs little when warm
    export_s *= EXPORT_WARM_SHARE
    return {"total": WRAP_UP_FIXED_S + WRAP_UP_MARGIN * (test_s + latency_s) + flops_s + export_s, "onnx": export_s}


def _import_exporter() -> None:
    """Import the ONNX exporter's modules (1-2 s, once per process) before its export is timed: the
    import is not part of what the real export will cost."""
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
        from torch.onnx._internal.exporter import _core  # noqa: F401
    except ImportError:  # the export reports the missing extra itself
        pass


def continue_until(run: TrainingRun, x, y, train_s: float, on_chunk=None,
                   stop_at: float | None = None) -> list[dict[str, float]]:
    """Continue ``run`` on ``x, y`` for ``train_s`` seconds, the learning rate decaying to zero over
    the last ``DECAY_SHARE`` of its whole training (search included); ``on_chunk(point)`` every ~30 s.
    ``stop_at`` (a ``time.monotonic()`` value) ends it earlier if the clock gets there first, so
    time lost between chunks never pushes past a deadline."""
    end = run.seconds + train_s
    schedule = decay_lr(max(run.seconds, (1 - DECAY_SHARE) * end), end)
    curve, samples0 = [], run.samples

    def left() -> float:
        return min(end - run.seconds, math.inf if stop_at is None else stop_at - time.monotonic())

    while left() > 0.05:
        loss = run.run(x, y, min(CHUNK_SECONDS, left()), schedule)
        curve.append({"epoch": round((run.samples - samples0) / len(y), 4), "train_loss": loss,
                      "train_seconds_total": run.seconds})
        if on_chunk is not None:
            on_chunk(curve[-1])
    return curve


def _seconds_to_train(model, ds, test_samples: int, deadline: Deadline, onnx: bool, log) -> tuple[float, dict]:
    """(the final training's seconds: what the deadline leaves after the wrap-up, the wrap-up's
    parts). Never more than the deadline allows: with less than ``MIN_FINAL_SECONDS`` left the
    user is warned, and the training is as short as the clock says (even none)."""
    wrap = wrap_up_parts(model, ds, test_samples, onnx)
    train_s = deadline.left() - wrap["total"]
    if train_s < MIN_FINAL_SECONDS:
        log(f"Warning: the budget leaves only {max(0.0, train_s):.1f}s for the final training (the search or "
            "a busy machine took the rest); the budget is kept. Give a larger --time-budget.")
    return max(0.0, train_s), wrap


def _train(model, run: TrainingRun | None, x, y, train_s: float, config: TrainConfig, seed: int, progress,
           stop_at: float, epochs: int | None = None):
    """(the trained model, its curve, its training samples per second): ``run`` continued with a
    late decay (its averaged weights as they are when no time is left), or ``model`` trained from
    scratch (for at least a few steps): for ``epochs`` epochs when given (the schedule counts steps;
    ``train_s`` is then only a ceiling), else until ``train_s`` is spent."""
    if run is None:
        start = time.perf_counter()
        curve = train_model(model, x, y, epochs or 10_000, config, seed, on_epoch=progress,
                            time_limit=max(0.5, train_s))
        return model, curve, curve[-1]["epoch"] * len(y) / max(1e-9, time.perf_counter() - start)
    run.config = replace(run.config, augment=config.augment)  # the search trained without
    seconds0, samples0 = run.seconds, run.samples
    curve = continue_until(run, x, y, train_s, progress, stop_at)
    if not curve:  # no time left to train: the search's weight average is the better model
        run.finish()
        model = deepcopy(run.eval_model()).to(memory_format=torch.contiguous_format)
        return model, [{"epoch": 0.0, "train_loss": math.nan, "train_seconds_total": run.seconds}], None
    speed = (run.samples - samples0) / max(1e-9, run.seconds - seconds0)
    return run.finish(), curve, speed


def _precision_used(run: TrainingRun | None, curve: list[dict[str, float]]) -> str | None:
    """"bf16" or "fp32": what the final training's steps ran in (``precision="auto"`` times both on
    CPUs with native bfloat16 and keeps the faster), None while undecided (too few steps)."""
    bf16 = run.precision.fixed if run is not None else (bool(curve[-1]["bf16"]) if "bf16" in curve[-1] else None)
    return None if bf16 is None else "bf16" if bf16 else "fp32"


def _add_members(first: torch.nn.Module, want: int, build, x, y, epochs: int, config: TrainConfig, seed: int,
                 first_s: float, stop_at: float, wrap_s: float, log) -> torch.nn.Module:
    """``first`` and up to ``want - 1`` more networks from ``build()``, each trained ``epochs`` epochs
    with its own seed, as an :class:`~nasforge.ensemble.Ensemble` (``first`` alone when none fits).
    A member is added only while ``MEMBER_MARGIN`` x the first one's ``first_s`` and the wrap-up it
    adds (``wrap_s`` a member: testing, latency and export grow with the members) still end before
    ``stop_at`` (``time.monotonic()``, the training's end)."""
    members = [first]
    while len(members) < want and time.monotonic() + MEMBER_MARGIN * first_s + wrap_s * len(members) < stop_at:
        member_seed = seed + len(members)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(member_seed)
            model = build()
            train_model(model, x, y, epochs, config, member_seed,  # the clock stays a ceiling, as for the first
                        time_limit=max(0.5, stop_at - time.monotonic() - wrap_s * len(members)))
        members.append(model)
    if want > 1:
        seeds = f"seed {seed}" if len(members) == 1 else f"seeds {seed}-{seed + len(members) - 1}"
        log(f"Ensemble: {len(members)} of {want} copies trained ({epochs} epochs each, {seeds})"
            f"{'' if len(members) == want else '; the clock allowed no more'}; the final model averages their "
            "probabilities.")
    return Ensemble(members) if len(members) > 1 else first


def _skip_onnx(late: bool, deadline: Deadline, wrap_s: float, out: Path, log) -> bool:
    """Whether the ONNX export would overrun the budget (``wrap_s``: the wrap-up kept for this
    model, an ensemble's for all its copies); if so, the log says how to write it later."""
    if not (late or deadline.left() < ONNX_SKIP_SHARE * wrap_s):
        return False
    log("The ONNX export is skipped to keep the budget; write it later with `nasforge export "
        f"--study {out / 'study.db'} --format onnx --weights {out / 'model.pt'} --out model.onnx`.")
    return True


def _plan_final(model, ds, test_samples: int, train_samples: int, deadline: Deadline, onnx: bool, late: bool,
                threads: int, run, searched_s: float, epochs: int | None, log) -> tuple[float, float, int | None]:
    """(seconds the final training may take, seconds kept for the wrap-up, its epoch count or None for a
    training that runs to the deadline), announced in the log."""
    if late:
        log(f"Warning: {max(0.0, deadline.left()):.1f}s left before the final training (the machine is busy "
            "or the budget small): no final training, no ONNX export; the budget is kept as far as the "
            "test and the save allow.")
        train_s, wrap = 0.0, {"total": 0.0, "onnx": 0.0}
    else:
        train_s, wrap = _seconds_to_train(model, ds, test_samples, deadline, onnx, log)
    wrap_s = wrap["total"]
    if epochs is not None and run is None:
        log(f"Final training on {train_samples} samples for {epochs} epochs (the cross-validated epoch count) "
            f"on {threads} thread(s), at most {train_s:.0f}s (the deadline less {wrap_s:.1f}s measured "
            "for testing and export).")
        return train_s, wrap_s, epochs
    log(f"Final training on {train_samples} samples for {train_s:.0f}s on {threads} thread(s) "
        + (f"(continuing the search's {searched_s:.0f}s of training; " if run is not None else "(")
        + f"the schedule ends at the deadline, less {wrap_s:.1f}s measured for testing and export).")
    return train_s, wrap_s, None


def train_until_deadline(space, arch: Arch, ds, train_config: TrainConfig, deadline: Deadline, out: Path,
                         seed: int = 0, onnx: bool = True, log=print, space_options: dict[str, Any] | None = None,
                         run: TrainingRun | None = None, epochs: int | None = None,
                         members: int = 1) -> dict[str, Any]:
    """Train ``arch`` on train+validation until the deadline (less the wrap-up), test once, write
    ``model.pt`` (and ``model.onnx``); return the summary. With ``run`` (the search's
    :class:`~nasforge.estimation.TrainingRun` of ``arch``) the training continues from there. With
    ``epochs`` (and no ``run``), it lasts that many epochs (the deadline stays its ceiling) and the job
    ends early; ``members`` > 1 copies then train and predict together (see :func:`_add_members`)."""
    config = TrainConfig(**{**train_config.to_dict(), **space.training_config(arch)})
    x, y = ds.train_and_val()
    searched_s = run.seconds if run is not None else 0.0

    def progress(point):
        log(f"  epoch {point['epoch']:g}  train loss {point['train_loss']:.4f}  {deadline.left():.0f}s left")

    def build() -> torch.nn.Module:
        return space.build(arch, ds.input_shape, ds.num_classes).to(resolve_device(config.device))

    conditions = TrainingConditions()
    if run is not None and run.seconds > 0:
        conditions.search_samples_per_s = run.samples / run.seconds
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = run.model if run is not None else build()
        test = ds.test()
        late = deadline.left() <= MIN_FINAL_SECONDS  # no time to probe or measure: straight to the wrap-up
        speeds = {torch.get_num_threads(): math.nan} if late else thread_speeds(model, x, y, config.batch_size)
        threads = max(speeds, key=speeds.get)
        conditions.probe_samples_per_s, conditions.threads = speeds[threads], threads
        with using_threads(threads):
            train_s, wrap_s, epochs = _plan_final(model, ds, len(test[1]), len(y), deadline, onnx, late, threads,
                                                  run, searched_s, epochs, log)
            cpu_before, wall_before = process_cpu_seconds(), time.monotonic()
            model, curve, conditions.final_samples_per_s = _train(model, run, x, y, train_s, config, seed, progress,
                                                                  deadline.end - wrap_s, epochs)
            conditions.cpu_share = cpu_share(process_cpu_seconds() - cpu_before, time.monotonic() - wall_before,
                                             threads)
            if epochs is not None:  # the budget is a ceiling: report the seconds the training took
                if run is None:  # a late run has no wrap-up measured for more copies
                    model = _add_members(model, 1 if late else members, build, x, y, epochs, config, seed,
                                         time.monotonic() - wall_before, deadline.end - wrap_s, wrap_s, log)
                train_s = time.monotonic() - wall_before
                if conditions.cpu_share is None:  # too short to tell: this process's share of one core since
                    # the budget started (the cross-validation's trainings run on one thread on small tables)
                    conditions.cpu_share = cpu_share(process_cpu_seconds(), deadline.spent(), 1)
            conditions.final_epochs, conditions.final_precision = curve[-1]["epoch"], _precision_used(run, curve)
            onnx_skipped = onnx and _skip_onnx(late, deadline, wrap_s * member_count(model), out, log)
            entries, files = save_final_model(out, model, arch, space, ds, config, space_options, test,
                                              onnx and not onnx_skipped, log)
    verdict = conditions.verdict()
    for message in verdict["messages"]:
        log(f"WARNING: {message}.")
    if member_count(model) > 1:
        entries["description"] = f"{member_count(model)} x {entries['description']} (ensemble)"
    return {**entries, "ensemble_members": member_count(model),
            "space": space.name, "train_samples": len(y), "final_train_seconds": train_s,
            "final_epochs": curve[-1]["epoch"], "continued_from_search_seconds": searched_s, "seed": seed,
            "threads": threads, "train_config": config.to_dict(), "curve": curve, "files": files,
            "wrap_up_reserved_s": round(wrap_s, 2), "onnx_skipped_for_budget": onnx_skipped, "training_conditions": verdict}
