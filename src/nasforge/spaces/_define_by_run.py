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

import importlib.util
import math
import multiprocessing as mp
import pickle
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from ..core import Arch, InvalidArchError, SearchSpace, SpaceDefinitionError, UserInputError, check_float
from ..core.processes import CannotLoad, Supervised
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
                 input_shape: Sequence[int], num_classes: int, width_multiplier: float = 1.0,
                 on_decision: Callable[[str, Any, Any], None] | None = None):
        self._given = dict(values or {})
        self._rng = rng
        self._on_decision = on_decision  # told (name, param, value) of each decision as it is made
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
        if self._on_decision is not None:
            self._on_decision(name, param, value)
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


@dataclass
class Replay:
    """One run of the function on the meta device: its decisions (``values`` and ``params``
    by name, in the order made) and training settings; ``failure`` says how the function
    failed after those decisions (it raised, crashed or hung), ``stopped`` whether it
    "crashed" or "hung" (running it again costs a new helper process or a timeout)."""

    values: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    training: dict[str, Any] = field(default_factory=dict)
    failure: str | None = None
    stopped: str = ""  # "crashed" or "hung" where the helper process stopped


def _replay_here(fn, name, values, rng, shape, classes, on_decision=None) -> Replay:
    """Run ``fn`` in this process on the meta device. A nasforge error (a bad value, a
    misused ``hp``) is raised; the function's own exception becomes the replay's failure."""
    hp = HP(values, rng, shape, classes, on_decision=on_decision)
    try:
        with torch.device("meta"):
            model = fn(hp)
    except (InvalidArchError, SpaceDefinitionError):
        raise
    except Exception as exc:
        return Replay(hp.values, hp.params, failure=f"raised {type(exc).__name__}: {exc}")
    _check_module(model, name)
    return Replay(hp.values, hp.params, dict(hp.training_settings))


def _check_module(model, name) -> None:
    if not isinstance(model, torch.nn.Module):
        raise SpaceDefinitionError(f"space {name!r}: the define-by-run function must return a torch.nn.Module; "
                                   f"got {type(model).__name__}")


def _replayer(payload):
    """The helper process's handler: replays the function, streaming each decision with the
    generator's state after it, so a crash or hang still leaves the decisions made."""
    source, fn, name = payload
    fn = load_function(source) if source else fn

    def handle(request, emit):
        values, start, shape, classes = request
        rng = None if start is None else _generator(start)
        state = (lambda: None) if rng is None else (lambda: rng.bit_generator.state)
        replay = _replay_here(fn, name, values, rng, shape, classes, lambda n, p, v: emit((n, p, v, state())))
        return replay.training, replay.failure, state()

    return handle


def _picklable(obj) -> bool:
    try:
        pickle.dumps(obj)
    except Exception:
        return False
    return True


def _generator(state: dict) -> np.random.Generator:
    """A generator in ``state`` (sent as its state: pickling a Generator costs ~0.1 ms)."""
    bits = getattr(np.random, state["bit_generator"])()
    bits.state = state
    return np.random.Generator(bits)


def import_from_file(spec: str) -> Any:
    """The object ``name`` of ``path/to/file.py:name``, the file imported as a fresh module."""
    path, _, attr = spec.rpartition(":")
    if not path.endswith(".py") or not attr:
        raise UserInputError(f"a space file is given as 'path/to/file.py:function'; got {spec!r}")
    file = Path(path)
    if not file.is_file():
        raise UserInputError(f"space file {path!r} does not exist")
    module_name = f"nasforge_user_space_{abs(hash(str(file.resolve())))}"
    module_spec = importlib.util.spec_from_file_location(module_name, file)
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:
        raise SpaceDefinitionError(f"could not import space file {path!r}: {type(exc).__name__}: {exc}") from exc
    if not hasattr(module, attr):
        raise UserInputError(f"space file {path!r} has no attribute {attr!r}")
    return getattr(module, attr)


def load_function(source: str) -> Callable:
    """The define-by-run function ``path/to/file.py:name`` names (the function, or a space's)."""
    obj = import_from_file(source)
    return obj.fn if isinstance(obj, DefineByRunSpace) else obj


class DefineByRunSpace(SearchSpace):
    """A search space defined by a function ``fn(hp) -> nn.Module``.

    What strategies and a study's own process call (``sample``, ``mutate``, ``crossover``,
    ``neighbors``, ``validate``, ``encode``, ``training_config``) replays the function in
    a helper process, so a function that crashes, hangs (past ``replay_timeout`` seconds)
    or raises for some decisions cannot take the caller down: the replay keeps the
    decisions made before the failure, and the architecture they form fails again, as a
    trial, where its model is built. The helper costs about 1 ms per replay on a busy
    2-core machine (a sample of examples/kerastuner_mlp.py: median 3.0 ms instead of
    1.5 ms in this process; a bare round trip is 0.1-0.2 ms, the rest is waking the
    caller for each streamed decision) and ~0.1 s to replace after a crash, both small
    next to a trial. ``build`` runs the function in the calling process:
    ``runs_user_code`` tells a study to build in a worker process (which, being daemonic,
    also replays in-process). ``source`` is the ``file.py:function`` the function was
    loaded from, so other processes load it the same way; without one, a function that
    cannot be pickled (a lambda, a closure) is replayed in this process.
    """

    runs_user_code = True

    def __init__(self, fn: Callable[[HP], Any], name: str, probe_shape: Sequence[int] = (1, 28, 28),
                 probe_classes: int = 10, replay_timeout: float = 10.0, source: str | None = None):
        if not callable(fn):
            raise SpaceDefinitionError(f"a define-by-run space needs a function; got {fn!r}")
        self.fn = fn
        self.name = name
        self.probe_shape = tuple(probe_shape)
        self.probe_classes = probe_classes
        self.replay_timeout = check_float("DefineByRunSpace", "replay_timeout", replay_timeout, 0, open_low=True)
        self.source = source
        self._params: dict[str, Any] | None = None
        self._helper: Supervised | None = None
        self._contained: bool | None = None  # whether replays run in the helper (None: not decided yet)
        self._failures: dict[Arch, Replay] = {}  # architectures whose replay crashed or hung

    def __getstate__(self):
        """Pickled (for worker processes) without the helper; a function from a file by its source."""
        if self.source is None and not _picklable(self.fn):
            raise SpaceDefinitionError(
                f"space {self.name!r}: its function (a lambda or a closure?) cannot be sent to a worker "
                "process; define it at module level, or load it as path/to/file.py:function")
        return {**self.__dict__, "fn": None if self.source else self.fn, "_helper": None, "_contained": None}

    def __setstate__(self, state):
        self.__dict__.update(state)
        if self.fn is None:
            self.fn = load_function(self.source)

    # -- replays for strategies: in the helper process where possible -------------------------

    def _replay(self, values: dict[str, Any], rng) -> Replay:
        """Run the function with the given ``values`` (drawing missing ones from ``rng``)."""
        helper = self._supervisor()
        if helper is not None:
            try:
                start = None if rng is None else rng.bit_generator.state
                out = helper.call((values, start, self.probe_shape, self.probe_classes))
            except CannotLoad as exc:
                warnings.warn(f"space {self.name!r}: the helper process cannot run the define-by-run function "
                              f"({exc}); it runs in this process, where a crash in it ends the program")
                self._helper, self._contained = None, False
            else:
                return self._from_helper(out, rng)
        return _replay_here(self.fn, self.name, values, rng, self.probe_shape, self.probe_classes)

    def _supervisor(self) -> Supervised | None:
        """The helper process, or None where replays run here: a function that cannot be
        pickled, or a daemonic process (a trial worker), which may not start children."""
        if self._contained is None:
            self._contained = not mp.current_process().daemon and (self.source is not None or _picklable(self.fn))
            if self._contained:
                payload = (self.source, None if self.source else self.fn, self.name)
                self._helper = Supervised(_replayer, payload, self.replay_timeout)
        return self._helper

    def _from_helper(self, out, rng) -> Replay:
        """The replay a helper call streamed; ``rng`` continues where the function stopped drawing."""
        replay = Replay({n: v for n, _, v, _ in out.parts}, {n: p for n, p, _, _ in out.parts})
        if out.failure is None:
            replay.training, replay.failure, state = out.value
        else:
            replay.failure = f"the helper process replaying the function: {out.failure}"
            replay.stopped = "hung" if out.timed_out else "crashed"
            state = out.parts[-1][3] if out.parts else None
        if rng is not None and state is not None:
            rng.bit_generator.state = state
        return replay

    def _checked(self, arch: Arch) -> Replay:
        """``arch``'s replay, checking each decision is allowed and used (unless the function
        failed before it could use them all)."""
        self._check_space(arch)
        if arch in self._failures:
            return self._failures[arch]
        replay = self._remember(arch, self._replay(dict(arch.decisions), None))
        if replay.failure is None:
            self._check_used(arch, replay.values)
        return replay

    def _check_used(self, arch: Arch, used) -> None:
        extra = set(arch.decisions) - set(used)
        if extra:
            raise InvalidArchError(
                f"space {self.name!r}: decision(s) {sorted(extra)} are not used by this architecture; "
                f"used: {sorted(used)}")

    def _remember(self, arch: Arch, replay: Replay) -> Replay:
        """Note ``arch`` as one whose replay crashed or hung, so checking it again costs nothing."""
        if replay.stopped and len(self._failures) < 1024:
            self._failures[arch] = replay
        return replay

    def _arch(self, values: dict[str, Any], rng) -> Arch:
        replay = self._replay(values, rng)
        arch = Arch(self.name, replay.values)
        self._remember(arch, replay)
        return arch

    def sample(self, rng):
        return self._arch({}, rng)

    def validate(self, arch):
        self._checked(arch)

    def mutate(self, arch, rng):
        base = self._checked(arch)
        names = [n for n, p in base.params.items() if p.neighbors(base.values[n]) or isinstance(p, FloatParam)]
        if not names:
            raise InvalidArchError(f"space {self.name!r} has no decision that can change")
        for _ in range(32):
            name = names[int(rng.integers(len(names)))]
            values = dict(arch.decisions)
            values[name] = base.params[name].sample(rng)
            child = self._arch(values, rng)
            if child != arch:
                return child
        return child

    def crossover(self, a, b, rng):
        self._checked(a)
        self._checked(b)
        values = {}
        for name in sorted(set(a.decisions) | set(b.decisions)):
            pick, other = (a, b) if rng.random() < 0.5 else (b, a)
            values[name] = pick[name] if name in pick.decisions else other[name]
        return self._arch(values, rng)

    def neighbors(self, arch):
        base = self._checked(arch)
        seed = int(arch.digest[:8], 16)
        out = []
        for name, param in base.params.items():
            for v in param.neighbors(base.values[name]):
                child = self._arch({**arch.decisions, name: v}, np.random.default_rng(seed))
                if child != arch and child not in out:
                    out.append(child)
        return out

    def training_config(self, arch):
        """The settings ``arch`` chooses with ``hp.training``; none if its replay failed."""
        return dict(self._checked(arch).training)

    def known_params(self) -> dict[str, Any]:
        """Decisions discovered by replaying the function on 256 fixed samples (fewer if it
        hangs, or crashes 8 times: each costs a timeout or a new helper process)."""
        if self._params is None:
            rng = np.random.default_rng(0)
            params: dict[str, Any] = {}
            crashes = 0
            for _ in range(256):
                replay = self._replay({}, rng)
                for n, p in replay.params.items():
                    params.setdefault(n, p)
                crashes += replay.stopped == "crashed"
                if crashes >= 8 or replay.stopped == "hung":
                    break
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

    # -- the model: built in the calling process (a study's trial worker) ----------------------

    def _run(self, values, input_shape, num_classes, width_multiplier):
        """Run the function here; any exception it raises is a :class:`SpaceDefinitionError`."""
        hp = HP(values, None, input_shape, num_classes, width_multiplier)
        try:
            model = self.fn(hp)
        except (InvalidArchError, SpaceDefinitionError):
            raise
        except Exception as exc:
            raise SpaceDefinitionError(f"space {self.name!r}: the define-by-run function raised "
                                       f"{type(exc).__name__}: {exc}") from exc
        _check_module(model, self.name)
        return hp, model

    def build(self, arch, input_shape, num_classes, width_multiplier=1.0):
        """``arch``'s model, built by the function in this process (checked as :meth:`validate` does)."""
        self._check_space(arch)
        hp, model = self._run(dict(arch.decisions), input_shape, num_classes, width_multiplier)
        self._check_used(arch, hp.values)
        return model

    def describe(self, arch):
        def fmt(v):
            return f"{v:.3g}" if isinstance(v, float) else str(v)
        return " ".join(f"{k}={fmt(v)}" for k, v in arch.decisions.items())

    def drawing(self, arch):
        """The top-level modules of the built model (on the meta device: no weights are allocated)."""
        with torch.device("meta"):
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
