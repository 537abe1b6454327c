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
``batchnorm``. Every entry and every value a choice or range can take is
checked when the file loads (units, channels and kernels positive, ``repeat``
>= 0, dropout in [0, 1), conv and pool before any flatten or linear layer),
so a mistake fails before a study exists. The space's name is the file path, so a study records it and
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
        _check_training(doc.get("training") or {}, path)
        return DefineByRunSpace(LayerStack(doc), name=path)
    raise SpaceDefinitionError(f"{path}: unknown family {family!r}; known: macro, layers")


NEEDS_VALUE = ("linear", "conv", "dropout", "activation", "repeat")
NO_VALUE = ("flatten", "batchnorm")
SPATIAL, FLAT = "spatial", "flat"  # what a layer receives: (C, L) / (C, H, W) samples, or flat features
VALUE_FORMS = "a literal or one of {choice: [...]}, {int: [low, high]}, {int: [low, high, step]}, {float: [low, high]}"


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


# what each layer's value may be: the test every possible value must pass, and how to say what is allowed
VALUE_RULES = {
    "linear": (lambda v: _is_int(v) and v >= 1, "a positive integer (units), e.g. 'linear: 64'"),
    "conv": (lambda v: _is_int(v) and v >= 1, "a positive integer (channels), e.g. 'conv: 16'"),
    "kernel": (lambda v: _is_int(v) and v >= 1, "a positive integer, e.g. 'kernel: 3'"),
    "repeat": (lambda v: _is_int(v) and v >= 0, "an integer >= 0 (how many times), e.g. 'repeat: 2'"),
    "dropout": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and 0 <= v < 1,
                "a probability in [0, 1), e.g. 'dropout: 0.2'"),
    "activation": (lambda v: isinstance(v, str) and v in ACTIVATIONS, f"one of {', '.join(ACTIVATIONS)}"),
    "pool": (lambda v: v in ("max", "avg"), "'max' or 'avg'"),
}


def layer_kind(layer) -> tuple[str | None, object]:
    """(kind, argument) of one layer entry: ``flatten``, ``{linear: 64}``, or a repeat block."""
    if isinstance(layer, str):
        return layer, None
    if isinstance(layer, dict) and "repeat" in layer:
        return "repeat", layer["repeat"]
    if isinstance(layer, dict) and len(layer) == 1:
        return next(iter(layer.items()))
    return None, None


def spec_values(spec, where: str) -> list:
    """The values a literal or ``{choice|int|float: ...}`` spec can take (a range as its two ends),
    after checking the spec's form, so a mistake fails when the file loads, not at the first trial."""
    if not isinstance(spec, dict):
        return [spec]
    forms = [k for k in ("choice", "int", "float") if k in spec]
    if len(forms) != 1 or set(spec) - {"choice", "int", "float", "log"}:
        raise SpaceDefinitionError(f"{where}: a value is {VALUE_FORMS}; got {spec!r}")
    form, body = forms[0], spec[forms[0]]
    if form == "choice":
        if not isinstance(body, list) or not body or any(isinstance(o, (dict, list)) for o in body):
            raise SpaceDefinitionError(f"{where}: {{choice: [...]}} needs a non-empty list of plain values; "
                                       f"got {body!r}")
        return list(body)
    sizes, number = ((2, 3), _is_int) if form == "int" else ((2,), lambda v: isinstance(v, (int, float))
                                                              and not isinstance(v, bool) and math.isfinite(v))
    if not isinstance(body, list) or len(body) not in sizes or not all(number(v) for v in body):
        raise SpaceDefinitionError(f"{where}: {{{form}: ...}} takes [low, high]{', step' if form == 'int' else ''} "
                                   f"as {'integers' if form == 'int' else 'numbers'}; got {body!r}")
    low, high, *step = body
    positive_low = low >= 1 if form == "int" else low > 0
    if low > high or (step and step[0] < 1) or (spec.get("log") and not positive_low):
        raise SpaceDefinitionError(f"{where}: {{{form}: {body}}} needs low <= high"
                                   f"{', step >= 1' if form == 'int' else ''}"
                                   f"{' and low > 0 with log' if spec.get('log') else ''}")
    return [low, high]


def _check_value(spec, where: str, rule: str) -> list:
    """Every value ``spec`` can take, each passing ``rule`` of :data:`VALUE_RULES`."""
    test, allowed = VALUE_RULES[rule]
    values = spec_values(spec, where)
    for v in values:
        if not test(v):
            raise SpaceDefinitionError(f"{where}: {v!r} is not allowed; {rule} takes {allowed}")
    return values


def _check_layer_value(kind: str, arg, where: str) -> None:
    if kind in NEEDS_VALUE and arg is None:
        raise SpaceDefinitionError(f"{where}: '{kind}' needs a value, e.g. '{kind}: ...'")
    if kind in NO_VALUE and arg is not None:
        raise SpaceDefinitionError(f"{where}: '{kind}' takes no value; got {arg!r}")
    if kind == "conv" and isinstance(arg, dict) and "channels" in arg:
        if set(arg) - {"channels", "kernel"}:
            raise SpaceDefinitionError(f"{where}: conv takes 'channels' and 'kernel'; got {sorted(arg)}")
        _check_value(arg["channels"], where, "conv")
        _check_value(arg.get("kernel", 3), f"{where} kernel", "kernel")
    elif kind in VALUE_RULES and arg is not None:
        _check_value(arg, where, kind)


def _check_layers(layers, where, shapes=frozenset({SPATIAL})) -> frozenset:
    """Check a list of layers the way it will run: each entry, its values, and that conv and pool
    still get (C, L) / (C, H, W) samples. ``shapes``: what the first layer may receive; returns
    what the last one may pass on."""
    if not isinstance(layers, list) or not layers:
        raise SpaceDefinitionError(f"{where}: 'layers' must be a non-empty list")
    for i, layer in enumerate(layers):
        kind, arg = layer_kind(layer)
        here = f"{where}: layer {i} ({kind})" if kind in LAYER_KINDS else f"{where}: layer {i}"
        if kind not in LAYER_KINDS:
            raise SpaceDefinitionError(f"{here}: unknown layer {layer!r} (one layer per entry, e.g. "
                                       f"'linear: 64'); known: {', '.join(LAYER_KINDS)}")
        _check_layer_value(kind, arg, here)
        if kind in ("conv", "pool") and FLAT in shapes:
            raise SpaceDefinitionError(f"{here}: {kind} needs (C, L) or (C, H, W) samples, but an earlier "
                                       "flatten or linear layer made them flat; put it before them")
        if kind in ("flatten", "linear"):
            shapes = frozenset({FLAT})
        if kind == "repeat":
            shapes = _check_repeat(layer, arg, here, shapes)
    return shapes


def _check_repeat(layer: dict, times, where: str, shapes: frozenset) -> frozenset:
    """A repeat block: its keys, and its layers as they run once and, where it may repeat, again."""
    extra = set(layer) - {"repeat", "layers"}
    if extra:
        raise SpaceDefinitionError(f"{where}: a repeat block takes 'repeat' and 'layers'; got also {sorted(extra)}")
    counts = _check_value(times, where, "repeat")
    after = _check_layers(layer.get("layers"), f"{where} block", shapes)
    if max(counts) >= 2:
        after = _check_layers(layer["layers"], f"{where} block, repeated", after)
    return after | shapes if min(counts) == 0 else after


def _check_training(training, path: str) -> None:
    """The ``training:`` section: known settings whose values have a valid form (the trainer checks
    the values themselves before the first trial)."""
    if not isinstance(training, dict):
        raise SpaceDefinitionError(f"{path}: 'training' is a mapping of settings, e.g. 'lr: 0.001'; got {training!r}")
    for key, spec in training.items():
        if key not in TRAINING_KEYS:
            raise SpaceDefinitionError(f"{path}: training: unknown setting {key!r}; known: {', '.join(TRAINING_KEYS)}")
        spec_values(spec, f"{path}: training.{key}")


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
