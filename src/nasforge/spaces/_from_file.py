"""Search spaces written as YAML or JSON files, for two families:

``family: macro`` — a macro-cnn chain with your own choices per stage::

    family: macro
    stem: [16, 32]
    stages:
      - {op: [conv3x3, sep3x3], blocks: [1, 2], width: [16, 32], residual: [false, true]}
      - {op: [conv3x3, conv5x5], width: [32, 64], down: true}

``family: layers`` — a define-by-run stack of layers; any value may be a
choice (``{choice: [...]}``), an integer range (``{int: [low, high]}`` or
``[low, high, step]``, ``log: true``) or a float range (``{float: [low, high]}``);
``repeat`` repeats its layers a chosen number of times, and a final linear
classifier is added::

    family: layers
    layers:
      - flatten
      - repeat: {int: [1, 3]}
        layers:
          - linear: {int: [32, 512, 32]}
          - activation: {choice: [relu, gelu]}
          - dropout: {float: [0.0, 0.5]}
    training:
      lr: {choice: [0.01, 0.001, 0.0001]}

Layers: ``flatten``, ``linear: UNITS``, ``conv: CHANNELS`` (3x3 conv + batch
norm + ReLU; ``conv: {channels: C, kernel: K}``), ``pool: max|avg`` (halves
the resolution), ``activation: relu|gelu|tanh|silu``, ``dropout: P``,
``batchnorm``. The space's name is the file path, so a study records it and
resumes (and worker processes rebuild) from the same file.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from torch import nn

from ..core import SpaceDefinitionError, UserInputError
from ._define_by_run import TRAINING_KEYS, DefineByRunSpace
from ._macro_cnn import MacroCNNSpace

FILE_SUFFIXES = (".yaml", ".yml", ".json")
ACTIVATIONS = {"relu": nn.ReLU, "gelu": nn.GELU, "tanh": nn.Tanh, "silu": nn.SiLU}
LAYER_KINDS = ("flatten", "linear", "conv", "pool", "activation", "dropout", "batchnorm", "repeat")


def read_space_file(path: str) -> dict[str, Any]:
    file = Path(path)
    if not file.is_file():
        raise UserInputError(f"space file {path!r} does not exist")
    text = file.read_text()
    try:
        if file.suffix == ".json":
            doc = json.loads(text)
        else:
            import yaml

            doc = yaml.safe_load(text)
    except Exception as exc:
        raise SpaceDefinitionError(f"{path}: not valid {file.suffix[1:].upper()}: {exc}") from None
    if not isinstance(doc, dict) or "family" not in doc:
        raise SpaceDefinitionError(f"{path}: a space file is a mapping with 'family: macro' or 'family: layers'")
    return doc


def load_space_file(path: str):
    """The search space a YAML/JSON file describes."""
    doc = read_space_file(path)
    family = doc["family"]
    if family == "macro":
        unknown = set(doc) - {"family", "stem", "stages", "name"}
        if unknown:
            raise SpaceDefinitionError(f"{path}: unknown key(s) {sorted(unknown)} for family macro; "
                                       "known: stem, stages")
        if "stages" not in doc:
            raise SpaceDefinitionError(f"{path}: family macro needs 'stages' (a list of stage choices)")
        try:
            space = MacroCNNSpace(stem=doc.get("stem"), stages=doc["stages"])
        except SpaceDefinitionError as exc:
            raise SpaceDefinitionError(f"{path}: {exc}") from None
        space.name = path
        return space
    if family == "layers":
        unknown = set(doc) - {"family", "layers", "training", "name"}
        if unknown:
            raise SpaceDefinitionError(f"{path}: unknown key(s) {sorted(unknown)} for family layers; "
                                       "known: layers, training")
        _check_layers(doc.get("layers"), path)
        for key in doc.get("training") or {}:
            if key not in TRAINING_KEYS:
                raise SpaceDefinitionError(f"{path}: training: unknown setting {key!r}; known: "
                                           f"{', '.join(TRAINING_KEYS)}")
        return DefineByRunSpace(LayerStack(doc), name=path)
    raise SpaceDefinitionError(f"{path}: unknown family {family!r}; known: macro, layers")


NEEDS_VALUE = ("linear", "conv", "dropout", "activation", "repeat")


def layer_kind(layer) -> tuple[str | None, object]:
    """(kind, argument) of one layer entry: ``flatten``, ``{linear: 64}``, or a repeat block."""
    if isinstance(layer, str):
        return layer, None
    if isinstance(layer, dict) and "repeat" in layer:
        return "repeat", layer["repeat"]
    if isinstance(layer, dict) and len(layer) == 1:
        return next(iter(layer.items()))
    return None, None


def _check_layers(layers, where):
    if not isinstance(layers, list) or not layers:
        raise SpaceDefinitionError(f"{where}: 'layers' must be a non-empty list")
    for i, layer in enumerate(layers):
        kind, arg = layer_kind(layer)
        if kind not in LAYER_KINDS:
            raise SpaceDefinitionError(f"{where}: layer {i}: unknown layer {layer!r} (one layer per entry, e.g. "
                                       f"'linear: 64'); known: {', '.join(LAYER_KINDS)}")
        if kind in NEEDS_VALUE and arg is None:
            raise SpaceDefinitionError(f"{where}: layer {i}: '{kind}' needs a value, e.g. '{kind}: ...'")
        if kind == "repeat":
            extra = set(layer) - {"repeat", "layers"}
            if extra:
                raise SpaceDefinitionError(f"{where}: layer {i}: a repeat block takes 'repeat' and 'layers'; "
                                           f"got also {sorted(extra)}")
            _check_layers(layer.get("layers"), f"{where}: layer {i} (repeat)")
        if kind == "activation" and not isinstance(arg, dict) and arg not in ACTIVATIONS:
            raise SpaceDefinitionError(f"{where}: layer {i}: unknown activation {arg!r}; known: {', '.join(ACTIVATIONS)}")
        if kind == "pool" and not isinstance(arg, dict) and arg not in (None, "max", "avg"):
            raise SpaceDefinitionError(f"{where}: layer {i}: pool is 'max' or 'avg'; got {arg!r}")


class LayerStack:
    """The define-by-run function of a ``family: layers`` file (picklable: plain data)."""

    def __init__(self, doc: dict[str, Any]):
        self.doc = doc

    def __call__(self, hp):
        state = {"shape": list(hp.input_shape)}
        modules = self._layers(hp, self.doc["layers"], "", state)
        if len(state["shape"]) > 1:  # still (C, ...): pool and flatten before the classifier
            pool = nn.AdaptiveAvgPool2d(1) if len(state["shape"]) == 3 else nn.AdaptiveAvgPool1d(1)
            modules += [pool, nn.Flatten()]
            state["shape"] = [state["shape"][0]]
        modules.append(nn.Linear(state["shape"][0], hp.num_classes))
        training = {k: self._value(hp, v, f"training.{k}") for k, v in (self.doc.get("training") or {}).items()}
        if training:
            hp.training(**training)
        return nn.Sequential(*modules)

    def _value(self, hp, spec, name):
        """A literal, or a decision named ``name``."""
        if not isinstance(spec, dict):
            return spec
        if "choice" in spec:
            return hp.choice(name, spec["choice"])
        if "int" in spec:
            low, high, *step = spec["int"]
            return hp.int(name, low, high, step=step[0] if step else 1, log=bool(spec.get("log", False)))
        if "float" in spec:
            low, high = spec["float"]
            return hp.float(name, float(low), float(high), log=bool(spec.get("log", False)))
        raise SpaceDefinitionError(f"{name}: a value is a literal or one of {{choice: [...]}}, {{int: [low, high]}}, "
                                   f"{{float: [low, high]}}; got {spec!r}")

    def _layers(self, hp, layers, prefix, state):
        modules = []
        for i, layer in enumerate(layers):
            kind, arg = layer_kind(layer)
            name = f"{prefix}{i}.{kind}"
            shape = state["shape"]
            if kind == "repeat":
                for r in range(self._value(hp, arg, name)):
                    modules += self._layers(hp, layer["layers"], f"{name}{r}.", state)
            elif kind == "flatten":
                modules.append(nn.Flatten())
                state["shape"] = [math.prod(shape)]
            elif kind == "linear":
                units = hp.scale(self._value(hp, arg, name))
                if len(shape) != 1:
                    modules.append(nn.Flatten())
                modules.append(nn.Linear(math.prod(shape), units))
                state["shape"] = [units]
            elif kind == "conv":
                spec = arg if isinstance(arg, dict) and "channels" in arg else {"channels": arg}
                channels = hp.scale(self._value(hp, spec["channels"], name))
                kernel = self._value(hp, spec.get("kernel", 3), f"{name}.kernel")
                if len(shape) not in (2, 3):
                    raise SpaceDefinitionError(f"{name}: conv needs (C, L) or (C, H, W) inputs, not {tuple(shape)}")
                conv, bn = (nn.Conv2d, nn.BatchNorm2d) if len(shape) == 3 else (nn.Conv1d, nn.BatchNorm1d)
                modules += [conv(shape[0], channels, kernel, padding="same", bias=False), bn(channels),
                            nn.ReLU(inplace=True)]  # 'same' keeps the tracked shape right for even kernels
                state["shape"] = [channels, *shape[1:]]
            elif kind == "pool":
                which = self._value(hp, arg or "max", name)
                if len(shape) not in (2, 3) or min(shape[1:]) < 2:
                    raise SpaceDefinitionError(f"{name}: nothing left to pool at shape {tuple(shape)}")
                cls = {("max", 3): nn.MaxPool2d, ("avg", 3): nn.AvgPool2d, ("max", 2): nn.MaxPool1d,
                       ("avg", 2): nn.AvgPool1d}[(which, len(shape))]
                modules.append(cls(2))
                state["shape"] = [shape[0], *(s // 2 for s in shape[1:])]
            elif kind == "activation":
                which = self._value(hp, arg, name)
                if which not in ACTIVATIONS:
                    raise SpaceDefinitionError(f"{name}: unknown activation {which!r}; known: {', '.join(ACTIVATIONS)}")
                modules.append(ACTIVATIONS[which]())
            elif kind == "dropout":
                modules.append(nn.Dropout(float(self._value(hp, arg, name))))
            elif kind == "batchnorm":
                modules.append({1: nn.BatchNorm1d, 2: nn.BatchNorm1d, 3: nn.BatchNorm2d}[len(shape)](shape[0]))
        return modules
