"""``auto``'s final training: the winner trains on train+validation until the deadline
(continuing its search training where it can), is tested once and written out."""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from ..core import Arch
from ..estimation import (TrainConfig, TrainingRun, decay_lr, evaluate_model, resolve_device, save_final_model,
                          train_model)
from .plan import Deadline
from .threads import fastest_thread_count, using_threads

MIN_FINAL_SECONDS = 5.0
DECAY_SHARE = 0.4  # the winner's learning rate decays over the last 40% of its whole training
CHUNK_SECONDS = 30.0  # progress lines during a continued final training


def wrap_up_seconds(model: torch.nn.Module, dataset, test_samples: int, onnx: bool) -> float:
    """Seconds to keep for testing, measuring and exporting the final model: the
    test pass is timed (warm) on validation data and scaled to the test size;
    latency, FLOPs, saving and the ONNX export take a few seconds on CPU."""
    evaluate_model(model, dataset.x_val[:64], dataset.y_val[:64])  # warm-up: first calls allocate
    x, y = dataset.x_val[:1024], dataset.y_val[:1024]
    start = time.perf_counter()
    evaluate_model(model, x, y)
    test_s = (time.perf_counter() - start) * test_samples / max(1, len(x))
    return 2.0 + (3.0 if onnx else 0.0) + 1.2 * test_s


def continue_until(run: TrainingRun, x, y, train_s: float, on_chunk=None) -> list[dict[str, float]]:
    """Continue ``run`` on ``x, y`` for ``train_s`` seconds, the learning rate decaying to zero over
    the last ``DECAY_SHARE`` of its whole training (search included); ``on_chunk(point)`` every ~30 s."""
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


def _seconds_to_train(model, ds, test_samples: int, deadline: Deadline, onnx: bool, log) -> float:
    """The final training's seconds: what the deadline leaves after the wrap-up, at least ``MIN_FINAL_SECONDS``."""
    train_s = deadline.left() - wrap_up_seconds(model, ds, test_samples, onnx)
    if train_s < MIN_FINAL_SECONDS:
        log(f"Warning: the budget leaves only {max(0.0, train_s):.1f}s for the final training; training "
            f"{MIN_FINAL_SECONDS:g}s (the deadline will pass). Give a larger --time-budget.")
        train_s = MIN_FINAL_SECONDS
    return train_s


def _train(model, run: TrainingRun | None, x, y, train_s: float, config: TrainConfig, seed: int, progress):
    """(the trained model, its curve): ``run`` continued with a late decay, or ``model`` trained from scratch."""
    if run is None:
        return model, train_model(model, x, y, 10_000, config, seed, on_epoch=progress, time_limit=train_s)
    run.config = replace(run.config, augment=config.augment)  # the search trained without
    curve = continue_until(run, x, y, train_s, progress)
    return run.finish(), curve


def train_until_deadline(space, arch: Arch, ds, train_config: TrainConfig, deadline: Deadline, out: Path,
                         seed: int = 0, onnx: bool = True, log=print, space_options: dict[str, Any] | None = None,
                         run: TrainingRun | None = None) -> dict[str, Any]:
    """Train ``arch`` on train+validation until the deadline (less the wrap-up), test once,
    write ``model.pt`` (and ``model.onnx``); return the summary. With ``run`` (the
    search's :class:`~nasforge.estimation.TrainingRun` of ``arch``) the training
    continues from there instead of starting over."""
    config = TrainConfig(**{**train_config.to_dict(), **space.training_config(arch)})
    x, y = ds.train_and_val()
    searched_s = run.seconds if run is not None else 0.0

    def progress(point):
        log(f"  epoch {point['epoch']:g}  train loss {point['train_loss']:.4f}  {deadline.left():.0f}s left")

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = run.model if run is not None else space.build(arch, ds.input_shape, ds.num_classes).to(
            resolve_device(config.device))
        test = ds.test()
        threads = fastest_thread_count(model, x, y, config.batch_size)
        with using_threads(threads):
            train_s = _seconds_to_train(model, ds, len(test[1]), deadline, onnx, log)
            log(f"Final training on {len(y)} samples for {train_s:.0f}s on {threads} thread(s) "
                + (f"(continuing the search's {searched_s:.0f}s of training; " if run is not None else "(")
                + "the schedule ends at the deadline).")
            model, curve = _train(model, run, x, y, train_s, config, seed, progress)
            entries, files = save_final_model(out, model, arch, space, ds, config, space_options, test, onnx, log)
    return {**entries, "space": space.name, "train_samples": len(y), "final_train_seconds": train_s,
            "final_epochs": curve[-1]["epoch"], "continued_from_search_seconds": searched_s, "seed": seed,
            "threads": threads, "train_config": config.to_dict(), "curve": curve, "files": files}
