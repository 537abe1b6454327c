"""Define-by-run spaces: the space is the model-building function itself.

The function receives an :class:`HP` object and returns a ``torch.nn.Module``;
every ``hp.int`` / ``hp.float`` / ``hp.choice`` call is a decision, and
decisions made inside ``if``/``for`` blocks are conditional on earlier ones::

    def build(hp):
        layers, width = [nn.Flatten()], math.prod(hp.input_shape)
        for i in range(hp.int("num_layers", 1, 3)):
            units = hp.int(f"units_{i}", 32, 512, step=32)
            layers += [nn.Linear(width, units), nn.ReLU()]
            width = units
        hp.training(lr=hp.choice("learning_rate", [1e-2, 1e-3, 1e-4]))
        return nn.Sequential(*layers, nn.Linear(width, hp.num_classes))

Sampling replays the function on PyTorch's ``meta`` device, so no weights
are allocated until a trial really builds the model.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ..core import Arch, InvalidArchError, SearchSpace, SpaceDefinitionError
from ..core.space import Box, Chain

TRAINING_KEYS = ("lr", "weight_decay", "batch_size", "optimizer", "label_smoothing")
MAX_DRAWN = 24  # top-level modules a drawing shows


class _RangeParam:
    """Shared by int and float ranges: position of a value in [0, 1] (log-scaled if ``log``)."""

    def normalize(self, v):
        if self.high == self.low:
            return 0.0
        if self.log:
            return (math.log(v) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (v - self.low) / (self.high - self.low)


@dataclass(frozen=True)
class IntParam(_RangeParam):
    low: int
    high: int
    step: int = 1
    log: bool = False

    def values_count(self) -> int:
        return (self.high - self.low) // self.step + 1

    def sample(self, rng):
        if self.log:
            v = math.exp(rng.uniform(math.log(self.low), math.log(self.high + 1)))
            return min(self.high, self.low + int((int(v) - self.low) // self.step) * self.step)
        return self.low + int(rng.integers(self.values_count())) * self.step

    def contains(self, v):
        return (isinstance(v, int) and not isinstance(v, bool) and self.low <= v <= self.high
                and (v - self.low) % self.step == 0)

    def neighbors(self, v):
        return [w for w in (v - self.step, v + self.step) if self.low <= w <= self.high]

    def describe(self):
        return f"int in [{self.low}, {self.high}] step {self.step}" + (" (log)" if self.log else "")


@dataclass(frozen=True)
class FloatParam(_RangeParam):
    low: float
    high: float
    log: bool = False

    def sample(self, rng):
        if self.log:
            return float(math.exp(rng.uniform(math.log(self.low), math.log(self.high))))
        return float(rng.uniform(self.low, self.high))

    def contains(self, v):
        return isinstance(v, (int, float)) and not isinstance(v, bool) and self.low <= v <= self.high

    def neighbors(self, v):
        if self.log:
            cands = (v / 2.0, v * 2.0)
        else:
            span = (self.high - self.low) / 10
            cands = (v - span, v + span)
        return [float(min(self.high, max(self.low, c))) for c in cands if c != v]

    def describe(self):
        return f"float in [{self.low}, {self.high}]" + (" (log)" if self.log else "")


@dataclass(frozen=True)
class ChoiceParam:
    options: tuple

    def sample(self, rng):
        return self.options[int(rng.integers(len(self.options)))]

    def index(self, v):
        for i, o in enumerate(self.options):
            if o == v and type(o) is type(v):
                return i
        return -1

    def contains(self, v):
        return self.index(v) >= 0

    def neighbors(self, v):
        return [o for o in self.options if self.index(o) != self.index(v)]

    def describe(self):
        return "one of " + ", ".join(repr(o) for o in self.options)


class HP:
    """The handle a define-by-run function uses to declare decisions.

    ``input_shape`` and ``num_classes`` describe the data; ``width_multiplier``
    is the narrow-proxy fidelity (use :meth:`scale` on widths to honour it).
    """

    def __init__(self, values: dict[str, Any] | None, rng: np.random.Generator | None,
                 input_shape: Sequence[int], num_classes: int, width_multiplier: float = 1.0):
        self._given = dict(values or {})
        self._rng = rng
        self.input_shape = tuple(input_shape)
        self.num_classes = num_classes
        self.width_multiplier = width_multiplier
        self.params: dict[str, Any] = {}
        self.values: dict[str, Any] = {}
        self.training_settings: dict[str, Any] = {}

    def _decide(self, name: str, param) -> Any:
        if not isinstance(name, str) or not name:
            raise SpaceDefinitionError(f"a decision needs a non-empty string name; got {name!r}")
        if name in self.params:
            if self.params[name] != param:
                raise SpaceDefinitionError(
                    f"decision {name!r} is declared twice with different ranges: "
                    f"{self.params[name].describe()} and {param.describe()}")
            return self.values[name]
        self.params[name] = param
        if name in self._given:
            value = self._given[name]
            if not param.contains(value):
                raise InvalidArchError(f"decision {name!r}: {value!r} is not allowed; expected {param.describe()}")
        elif self._rng is not None:
            value = param.sample(self._rng)
        else:
            raise InvalidArchError(f"decision {name!r} is missing from the architecture ({param.describe()})")
        self.values[name] = value
        return value

    def int(self, name: str, low: int, high: int, step: int = 1, log: bool = False) -> int:
        if not all(isinstance(v, int) and not isinstance(v, bool) for v in (low, high, step)):
            raise SpaceDefinitionError(f"hp.int({name!r}): low, high and step must be ints; got {low!r}, {high!r}, {step!r}")
        if low > high or step < 1 or (log and low < 1):
            raise SpaceDefinitionError(
                f"hp.int({name!r}): need low <= high, step >= 1 (and low >= 1 with log=True); got low={low}, high={high}, step={step}")
        return self._decide(name, IntParam(low, high - (high - low) % step, step, log))

    def float(self, name: str, low: float, high: float, log: bool = False) -> float:
        if not (low <= high) or (log and low <= 0):
            raise SpaceDefinitionError(
                f"hp.float({name!r}): need low <= high (and low > 0 with log=True); got low={low}, high={high}")
        return self._decide(name, FloatParam(float(low), float(high), log))

    def choice(self, name: str, options: Sequence[Any]) -> Any:
        options = tuple(options)
        if not options:
            raise SpaceDefinitionError(f"hp.choice({name!r}) needs at least one option")
        for o in options:
            if not (o is None or isinstance(o, (bool, int, float, str))):
                raise SpaceDefinitionError(
                    f"hp.choice({name!r}): options must be None, bool, int, float or str; got {o!r}")
        return self._decide(name, ChoiceParam(options))

    def bool(self, name: str) -> bool:
        return self.choice(name, (False, True))

    def scale(self, width: int) -> int:
        """``width`` scaled by the fidelity's width multiplier (at least 1)."""
        return max(1, int(round(width * self.width_multiplier)))

    def training(self, **settings: Any) -> None:
        """Training settings chosen by this architecture (e.g. ``lr=1e-3``)."""
        unknown = set(settings) - set(TRAINING_KEYS)
        if unknown:
            raise SpaceDefinitionError(
                f"hp.training: unknown setting(s) {sorted(unknown)}; known: {', '.join(TRAINING_KEYS)}")
        self.training_settings.update(settings)


class DefineByRunSpace(SearchSpace):
    """A search space defined by a function ``fn(hp) -> nn.Module``."""

    def __init__(self, fn: Callable[[HP], Any], name: str,
                 probe_shape: Sequence[int] = (1, 28, 28), probe_classes: int = 10):
        if not callable(fn):
            raise SpaceDefinitionError(f"a define-by-run space needs a function; got {fn!r}")
        self.fn = fn
        self.name = name
        self.probe_shape = tuple(probe_shape)
        self.probe_classes = probe_classes
        self._params: dict[str, Any] | None = None

    def _run(self, values, rng, input_shape=None, num_classes=None, width_multiplier=1.0, meta=True):
        hp = HP(values, rng, input_shape or self.probe_shape, num_classes or self.probe_classes, width_multiplier)
        try:
            if meta:
                with torch.device("meta"):
                    model = self.fn(hp)
            else:
                model = self.fn(hp)
        except (InvalidArchError, SpaceDefinitionError):
            raise
        except Exception as exc:
            raise SpaceDefinitionError(f"space {self.name!r}: the define-by-run function raised "
                                       f"{type(exc).__name__}: {exc}") from exc
        if not isinstance(model, torch.nn.Module):
            raise SpaceDefinitionError(
                f"space {self.name!r}: the define-by-run function must return a torch.nn.Module; "
                f"got {type(model).__name__}")
        return hp, model

    def _replay(self, values: dict[str, Any], rng) -> Arch:
        hp, _ = self._run(values, rng)
        return Arch(self.name, hp.values)

    def sample(self, rng):
        return self._replay({}, rng)

    def validate(self, arch):
        self._check_space(arch)
        hp, _ = self._run(dict(arch.decisions), None)
        extra = set(arch.decisions) - set(hp.values)
        if extra:
            raise InvalidArchError(
                f"space {self.name!r}: decision(s) {sorted(extra)} are not used by this architecture; "
                f"used: {sorted(hp.values)}")

    def mutate(self, arch, rng):
        self.validate(arch)
        hp, _ = self._run(dict(arch.decisions), None)
        names = [n for n, p in hp.params.items() if p.neighbors(hp.values[n]) or isinstance(p, FloatParam)]
        if not names:
            raise InvalidArchError(f"space {self.name!r} has no decision that can change")
        for _ in range(32):
            name = names[int(rng.integers(len(names)))]
            param = hp.params[name]
            values = dict(arch.decisions)
            values[name] = param.sample(rng)
            child = self._replay(values, rng)
            if child != arch:
                return child
        return child

    def crossover(self, a, b, rng):
        self.validate(a)
        self.validate(b)
        values = {}
        for name in sorted(set(a.decisions) | set(b.decisions)):
            pick, other = (a, b) if rng.random() < 0.5 else (b, a)
            values[name] = pick[name] if name in pick.decisions else other[name]
        return self._replay(values, rng)

    def neighbors(self, arch):
        self.validate(arch)
        hp, _ = self._run(dict(arch.decisions), None)
        seed = int(arch.digest[:8], 16)
        out = []
        for name, param in hp.params.items():
            for v in param.neighbors(hp.values[name]):
                child = self._replay({**arch.decisions, name: v}, np.random.default_rng(seed))
                if child != arch and child not in out:
                    out.append(child)
        return out

    def known_params(self) -> dict[str, Any]:
        """Decisions discovered by replaying the function on 256 fixed samples."""
        if self._params is None:
            rng = np.random.default_rng(0)
            params: dict[str, Any] = {}
            for _ in range(256):
                hp, _ = self._run({}, rng)
                for n, p in hp.params.items():
                    params.setdefault(n, p)
            self._params = params
        return self._params

    def encode(self, arch):
        self.validate(arch)
        parts: list[float] = []
        for name, param in self.known_params().items():
            present = name in arch.decisions
            if isinstance(param, ChoiceParam):
                one_hot = [0.0] * len(param.options)
                if present and param.contains(arch[name]):
                    one_hot[param.index(arch[name])] = 1.0
                parts.extend(one_hot)
            else:
                parts.extend([float(present), param.normalize(arch[name]) if present else 0.0])
        return np.asarray(parts, dtype=np.float32)

    @property
    def encoding_length(self):
        return sum(len(p.options) if isinstance(p, ChoiceParam) else 2 for p in self.known_params().values())

    def build(self, arch, input_shape, num_classes, width_multiplier=1.0):
        self.validate(arch)
        _, model = self._run(dict(arch.decisions), None, input_shape, num_classes, width_multiplier, meta=False)
        return model

    def training_config(self, arch):
        hp, _ = self._run(dict(arch.decisions), None)
        return dict(hp.training_settings)

    def describe(self, arch):
        def fmt(v):
            return f"{v:.3g}" if isinstance(v, float) else str(v)
        return " ".join(f"{k}={fmt(v)}" for k, v in arch.decisions.items())

    def drawing(self, arch):
        """The top-level modules of the built model (on the meta device: no weights are allocated)."""
        with torch.device("meta"):  # the shape validate() already ran the function with
            model = self.build(arch, self.probe_shape, self.probe_classes)
        children = list(model.named_children()) or [(type(model).__name__, model)]
        boxes = [Box("input", kind="input")]
        for name, child in children[:MAX_DRAWN]:
            heading = type(child).__name__ if name.isdigit() else f"{name}: {type(child).__name__}"
            boxes.append(Box(heading, _module_lines(child)))
        if len(children) > MAX_DRAWN:
            boxes.append(Box(f"... {len(children) - MAX_DRAWN} more"))
        return Chain(tuple(boxes), per_row=6, note=self.describe(arch))


def _module_lines(module: torch.nn.Module) -> tuple[str, ...]:
    """Up to three of a module's settings (its ``extra_repr``), each cut to 24 characters."""
    lines = [part.strip() for part in module.extra_repr().split(",") if part.strip()]
    lines = [line if len(line) <= 24 else line[:23] + "~" for line in lines]
    return tuple(lines[:3] + (["..."] if len(lines) > 3 else []))
