"""Save, load and export chosen models: a PyTorch checkpoint, TorchScript or ONNX.

A checkpoint holds the architecture as JSON beside the weights, so
``load_model`` rebuilds the network from its space without pickled code
(an :class:`~nasforge.ensemble.Ensemble` records how many copies it holds).
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import torch
from torch import nn

from . import spaces
from .core import Arch, UserInputError, require
from .ensemble import Ensemble, member_count

FORMATS = ("pytorch", "torchscript", "onnx")
CHECKPOINT_FORMAT = "nasforge-checkpoint-v1"


def save_checkpoint(path: str | Path, model: nn.Module, arch: Arch, space_options: dict[str, Any],
                    input_shape: Sequence[int], num_classes: int, extra: dict[str, Any] | None = None) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"format": CHECKPOINT_FORMAT, "arch": arch.to_json(), "space_options": space_options,
                "input_shape": list(input_shape), "num_classes": num_classes, "extra": extra or {},
                "members": member_count(model),
                "state_dict": {k: v.cpu() for k, v in model.state_dict().items()}}, path)
    return path


def load_checkpoint(path: str | Path) -> dict[str, Any]:
    try:
        bundle = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise UserInputError(f"checkpoint {str(path)!r} does not exist") from None
    except Exception as exc:
        raise UserInputError(f"{str(path)!r} is not a nasforge checkpoint ({type(exc).__name__}: {exc})") from None
    if not isinstance(bundle, dict) or bundle.get("format") != CHECKPOINT_FORMAT:
        raise UserInputError(f"{str(path)!r} is not a nasforge checkpoint")
    return bundle


def load_model(path: str | Path) -> nn.Module:
    """Rebuild a model saved by ``nasforge train`` or ``nasforge export --format pytorch``."""
    bundle = load_checkpoint(path)
    arch = Arch.from_json(bundle["arch"])
    return build_saved(spaces.get(arch.space, **bundle["space_options"]), arch, bundle).eval()


def build_saved(space, arch: Arch, bundle: dict[str, Any]) -> nn.Module:
    """The network a checkpoint's weights belong to, with them loaded: one network of ``arch``, or an
    :class:`~nasforge.ensemble.Ensemble` of the checkpoint's ``members`` copies (checkpoints written
    before ensembles existed hold one)."""
    def build() -> nn.Module:
        return space.build(arch, bundle["input_shape"], bundle["num_classes"])

    members = int(bundle.get("members", 1))
    model = Ensemble([build() for _ in range(members)]) if members > 1 else build()
    model.load_state_dict(bundle["state_dict"])
    return model


def export_model(model: nn.Module, input_shape: Sequence[int], fmt: str, out: str | Path,
                 checkpoint: dict[str, Any] | None = None) -> Path:
    """Write ``model`` to ``out`` as ``fmt`` (one of :data:`FORMATS`); batch size stays dynamic."""
    if fmt not in FORMATS:
        raise UserInputError(f"unknown export format {fmt!r}; known: {', '.join(FORMATS)}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    model = model.cpu().eval()
    example = torch.randn(2, *input_shape, generator=torch.Generator().manual_seed(0))
    if fmt == "pytorch":
        if checkpoint is None:
            raise ValueError("the pytorch format needs the checkpoint fields (arch, space options, shapes)")
        return save_checkpoint(out, model, **checkpoint)
    if fmt == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            traced = torch.jit.trace(model, example)
        traced.save(str(out))
        return out
    require("onnx", "onnx")
    require("onnxscript", "onnx")
    batch = torch.export.Dim("batch", min=1)
    onnx_logger = logging.getLogger("torch.onnx")
    level = onnx_logger.level
    onnx_logger.setLevel(logging.ERROR)  # the exporter logs a line per missing torchvision op
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            program = torch.onnx.export(model, (example,), input_names=["input"], output_names=["logits"],
                                        dynamic_shapes=({0: batch},), dynamo=True, verbose=False)
    finally:
        onnx_logger.setLevel(level)
    program.save(str(out))
    return out
