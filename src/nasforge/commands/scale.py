"""``nasforge scale``: compound-scale a study's architecture (EfficientNet's depth/width/resolution
recipe) to a FLOPs or latency target, train it, test it once and export it.

    nasforge scale --study s.db --trial best --target-flops 20e6 --epochs 10 --out scaled/
    nasforge scale --study s.db --target-latency-ms 1.5 --grid --grid-epochs 1 --epochs 10 --out scaled/ --onnx

See docs/hardware.md ("Compound scaling").
"""

from __future__ import annotations

import json
import time
from pathlib import Path


def add_parser(sub) -> None:
    p = sub.add_parser("scale", help="compound-scale an architecture to a FLOPs or latency target and train it",
                       description="EfficientNet's compound scaling: depth alpha^phi, width beta^phi, resolution "
                                   "gamma^phi, with the largest phi that meets the target; then train, test once "
                                   "and export.")
    p.add_argument("--study", required=True, help="study file holding the base architecture")
    p.add_argument("--trial", default="best", help="trial id of the base architecture, or 'best' (default)")
    target = p.add_mutually_exclusive_group(required=True)
    target.add_argument("--target-flops", type=float, help="FLOPs of one forward pass at batch 1")
    target.add_argument("--target-latency-ms", type=float, help="median CPU latency, batch 1, --threads threads")
    p.add_argument("--coefficients", default="1.2,1.1,1.15", help="alpha,beta,gamma (default EfficientNet's)")
    p.add_argument("--grid", action="store_true",
                   help="choose alpha,beta,gamma first: train each triple with alpha*beta^2*gamma^2 ~ 2 at phi=1 "
                        "for --grid-epochs and keep the best validation accuracy")
    p.add_argument("--grid-epochs", type=int, default=1, help="epochs per grid candidate (default 1)")
    p.add_argument("--epochs", type=int, default=10, help="final training epochs on train+validation (default 10)")
    p.add_argument("--threads", type=int, default=1, help="threads for latency measurement (default 1)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--onnx", action="store_true", help="also export model.onnx (the onnx extra)")
    p.add_argument("--out", default="scaled", help="output folder (default ./scaled)")


def _coefficients(text: str) -> tuple[float, float, float]:
    from ..core import UserInputError

    try:
        values = tuple(float(v) for v in text.split(","))
    except ValueError:
        values = ()
    if len(values) != 3 or min(values) <= 0:
        raise UserInputError(f"--coefficients takes three positive numbers alpha,beta,gamma; got {text!r}")
    return values


def _grid(space, arch, dataset, config, args, console):
    """The coefficient triple whose phi=1 network validates best after a short training."""
    import torch

    from ..estimation import Scaling, build_scaled, evaluate_model, grid_coefficients, train_model

    best = None
    for triple in grid_coefficients():
        torch.manual_seed(args.seed)
        model = build_scaled(space, arch, Scaling.compound(1.0, triple), dataset.input_shape, dataset.num_classes)
        train_model(model, dataset.x_train, dataset.y_train, args.grid_epochs, config, args.seed)
        accuracy = evaluate_model(model, dataset.x_val, dataset.y_val, config.eval_batch_size)[0]
        console.print(f"  alpha,beta,gamma = {triple}: val accuracy {accuracy:.4f}")
        if best is None or accuracy > best[0]:
            best = (accuracy, triple)
    return best[1]


def _scaling_plan(args, console, space, trial, dataset, config) -> dict:
    """Choose the coefficients (given, or by ``--grid``) and the largest phi that meets the target."""
    from ..estimation import build_scaled, compound_scale, measure_latency

    shape, classes = dataset.input_shape, dataset.num_classes
    coefficients = _grid(space, trial.arch, dataset, config, args, console) if args.grid else \
        _coefficients(args.coefficients)
    if args.target_latency_ms is not None:
        def cost(s):
            return measure_latency(build_scaled(space, trial.arch, s, shape, classes), shape,
                                   threads=args.threads).latency_ms
        target = args.target_latency_ms
    else:
        cost, target = None, args.target_flops
    plan = compound_scale(space, trial.arch, shape, classes, target, cost, coefficients)
    console.print(f"Scaling trial {trial.id} ({space.describe(trial.arch)}): phi={plan['phi']:g}, "
                  f"depth x{plan['scaling']['depth']:.3f} (reached x{plan['depth_ratio']:.2f}), width "
                  f"x{plan['scaling']['width']:.3f}, resolution x{plan['scaling']['resolution']:.3f}; cost "
                  f"{plan['cost']:.4g} for a target of {target:g} (base {plan['base_cost']:.4g})")
    return plan


def _train_and_export(args, space, trial, dataset, config, plan, out: Path) -> tuple[dict, dict]:
    """Train the scaled network on train+validation, test it once and export it; its summary and files."""
    import torch

    from ..estimation import (Scaling, build_scaled, count_flops, count_params, measure_latency, model_size_bytes,
                              resolve_device, train_scaled)
    from ..export import export_model

    shape = dataset.input_shape
    torch.manual_seed(args.seed)
    model = build_scaled(space, trial.arch, Scaling(**plan["scaling"]), shape, dataset.num_classes)
    model = model.to(resolve_device(config.device))
    start = time.perf_counter()
    result = train_scaled(model, dataset, args.epochs, config, args.seed)
    seconds = time.perf_counter() - start
    out.mkdir(parents=True, exist_ok=True)
    model = model.cpu().eval()
    files = {"torchscript": str(export_model(model, shape, "torchscript", out / "model.ts"))}
    torch.save(model.state_dict(), out / "weights.pt")
    if args.onnx:
        files["onnx"] = str(export_model(model, shape, "onnx", out / "model.onnx"))
    measured = {"params": count_params(model), "flops": count_flops(model, shape),
                "latency_ms": measure_latency(model, shape, threads=args.threads).latency_ms,
                "size_bytes": model_size_bytes(model), "epochs": args.epochs, "train_seconds": seconds,
                "test_accuracy": result["test_accuracy"], "test_loss": result["test_loss"]}
    return measured, files


def run(args, console) -> int:
    from .. import data, spaces
    from ..api import open_storage, select_trial
    from ..core import UserInputError, check_int
    from ..estimation import TrainConfig

    for name in ("grid_epochs", "epochs", "threads"):
        check_int(None, name, getattr(args, name), low=1, kind="option")
    if Path(args.out).is_file():
        raise UserInputError(f"--out {args.out!r} is a file; give a folder (it is created if missing)")
    storage, spec = open_storage(args.study)
    trial = select_trial(storage, args.trial)
    storage.close()
    if spec.benchmark is not None:
        raise UserInputError(f"study {args.study!r} searched a tabular benchmark; it has no data set to train on")
    space = spaces.get(spec.space, **spec.space_options)
    dataset = data.load(spec.dataset, val_fraction=spec.val_fraction)
    config = TrainConfig.from_options(spec.train_options)
    plan = _scaling_plan(args, console, space, trial, dataset, config)
    out = Path(args.out)
    measured, files = _train_and_export(args, space, trial, dataset, config, plan, out)
    summary = {"space": spec.space, "space_options": spec.space_options, "dataset": spec.dataset,
               "base_trial": trial.id, "base_arch": trial.arch.to_dict(), **plan,
               "target_kind": "latency_ms" if args.target_latency_ms is not None else "flops",
               **measured, "files": files}
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    console.print(f"Test accuracy {summary['test_accuracy']:.4f}; {summary['params']} parameters, "
                  f"{summary['flops']:.4g} FLOPs, {summary['latency_ms']:.3f} ms. Wrote {', '.join(files.values())} "
                  f"and {out / 'summary.json'}")
    return 0
