"""The final model: retrain the chosen architecture on train+validation, test it once, write it out.

:func:`save_final_model` is the one writer of a final model, shared by
``nasforge train`` (:func:`train_final`) and ``nasforge auto`` (which trains
until its deadline, see ``nasforge.auto.final``).
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..core import Arch
from ..export import export_model, save_checkpoint
from ._config import TrainConfig, resolve_device
from ._loop import evaluate_model
from ._metrics import count_flops, count_params, measure_latency_ms
from ._trainer import train_model


def save_final_model(out: Path, model: nn.Module, arch: Arch, space, dataset, config: TrainConfig,
                     space_options: dict[str, Any] | None = None, test=None, onnx: bool = False,
                     log=print) -> tuple[dict[str, Any], dict[str, str]]:
    """Test the trained ``model`` once, measure it, and write ``model.pt`` (weights + arch, for
    :func:`nasforge.load_model`), ``arch.json`` and, with ``onnx``, ``model.onnx`` to ``out``.

    ``test``: the test split if the caller has it already. Returns (the summary entries
    every final model reports, the files written). A failed ONNX export is logged and
    named in the files: the PyTorch model is saved either way."""
    x_test, y_test = test if test is not None else dataset.test()
    test_accuracy, test_loss = evaluate_model(model, x_test, y_test, config.eval_batch_size)
    entries = {
        "arch": arch.to_dict(), "description": space.describe(arch), "dataset": dataset.name,
        "test_accuracy": test_accuracy, "test_loss": test_loss, "test_samples": len(y_test),
        "params": count_params(model), "flops": count_flops(model, dataset.input_shape),
        "latency_ms": measure_latency_ms(model, dataset.input_shape),
    }
    files = {"pytorch": str(save_checkpoint(out / "model.pt", model, arch, space_options or {}, dataset.input_shape,
                                            dataset.num_classes,
                                            {"classes": dataset.classes, "test_accuracy": test_accuracy}))}
    (out / "arch.json").write_text(json.dumps(arch.to_dict(), indent=2))
    if onnx:
        try:
            files["onnx"] = str(export_model(model.cpu(), dataset.input_shape, "onnx", out / "model.onnx"))
        except Exception as exc:  # the model is saved; a failed export must not lose it
            files["onnx_error"] = f"{type(exc).__name__}: {exc}"
            log(f"ONNX export failed ({files['onnx_error']}); the PyTorch model is saved.")
    return entries, files


def train_final(space, arch: Arch, dataset, epochs: int, out_dir: str | Path, config: TrainConfig | None = None,
                seed: int = 0, space_options: dict[str, Any] | None = None, on_epoch=None,
                extra: dict[str, Any] | None = None, time_limit: float | None = None) -> dict[str, Any]:
    """Train ``arch`` on train+validation for ``epochs`` (or for ``time_limit`` seconds,
    with the schedule ending then), evaluate the test split once, and write
    ``model.pt`` (weights + arch), ``arch.json`` and ``summary.json`` to ``out_dir``."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    config = replace(config or TrainConfig(), **space.training_config(arch))
    device = resolve_device(config.device)
    x, y = dataset.train_and_val()
    start = time.perf_counter()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = space.build(arch, dataset.input_shape, dataset.num_classes).to(device)
        curve = train_model(model, x, y, epochs, config, seed, on_epoch=on_epoch, time_limit=time_limit)
    train_seconds = time.perf_counter() - start
    entries, _ = save_final_model(out, model, arch, space, dataset, config, space_options)
    summary = {**entries, "epochs": curve[-1]["epoch"], "time_limit": time_limit, "train_samples": len(y),
               "train_seconds": train_seconds, "seed": seed, "train_config": config.to_dict(), "curve": curve,
               **(extra or {})}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    return summary
