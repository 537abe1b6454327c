"""Final training: retrain the chosen architecture on train+validation and test it once."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

import torch

from ..core import Arch
from ..export import save_checkpoint
from ._metrics import count_flops, count_params, measure_latency_ms
from ._trainer import TrainConfig, evaluate_model, resolve_device, train_model


def train_final(space, arch: Arch, dataset, epochs: int, out_dir: str | Path, config: TrainConfig | None = None,
                seed: int = 0, space_options: dict[str, Any] | None = None, on_epoch=None,
                extra: dict[str, Any] | None = None, time_limit: float | None = None) -> dict[str, Any]:
    """Train ``arch`` on train+validation for ``epochs`` (or for ``time_limit`` seconds,
    with the schedule ending then), evaluate the test split once, and write
    ``model.pt`` (weights + arch) and ``summary.json`` to ``out_dir``."""
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
    x_test, y_test = dataset.test()
    test_accuracy, test_loss = evaluate_model(model, x_test, y_test, config.eval_batch_size)
    summary = {
        "arch": arch.to_dict(), "description": space.describe(arch), "dataset": dataset.name,
        "epochs": curve[-1]["epoch"], "time_limit": time_limit, "train_samples": len(y), "test_samples": len(y_test),
        "test_accuracy": test_accuracy, "test_loss": test_loss,
        "params": count_params(model), "flops": count_flops(model, dataset.input_shape),
        "latency_ms": measure_latency_ms(model, dataset.input_shape), "train_seconds": train_seconds,
        "seed": seed, "train_config": config.to_dict(), "curve": curve, **(extra or {}),
    }
    save_checkpoint(out / "model.pt", model, arch, space_options or {}, dataset.input_shape, dataset.num_classes,
                    extra={"classes": dataset.classes, "test_accuracy": test_accuracy})
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    (out / "arch.json").write_text(json.dumps(arch.to_dict(), indent=2))
    return summary
