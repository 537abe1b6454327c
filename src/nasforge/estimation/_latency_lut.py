"""Latency prediction without running the network: a per-operation lookup table measured on this
machine, and a learned alternative.

A network of a supported space is cut into a chain of *units* (stem, each
block or cell, head) whose composition is the network's forward pass. Each
unit is keyed by its structure and input shape; the table holds each key's
latency, measured in isolation (``LatencyTable.fill``). A prediction sums the
table over a network's units and adds a per-network overhead (Python and
memory effects between units), fitted by least squares on a few measured
networks (``LutPredictor``), as nn-Meter and Once-for-All do with their
per-kernel / per-block tables. ``FeaturePredictor`` is the learned option: a
linear regression of measured latency on FLOPs, activation elements,
operator calls and parameters.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from ..core import Arch, Registry, UserInputError
from ._hardware import measure_latencies
from ._timing import TimingProtocol

CHAINS: Registry[Callable[[nn.Module], list[nn.Module]]] = Registry("latency-table space")
TABLE_FORMAT = "nasforge-latency-table-v1"


@dataclass(frozen=True)
class Unit:
    """One step of a network's chain; ``example`` is the input it sees when the network runs on
    random data (some kernels, e.g. max pooling, run at data-dependent speed: a ReLU output full
    of zeros pools several times slower than Gaussian noise on this CPU)."""

    key: str
    module: nn.Module
    input_shape: tuple[int, ...]  # without the batch axis
    example: torch.Tensor  # batch of 1


@CHAINS.register("macro-cnn")
def _macro_chain(model) -> list[nn.Module]:
    return [model.stem, *model.blocks, nn.Sequential(model.pool, nn.Flatten(), model.classifier)]


@CHAINS.register("nb201")
def _nb201_chain(model) -> list[nn.Module]:
    return [model.stem, *model.cells, nn.Sequential(model.head, model.classifier)]


class _Call(nn.Module):
    """A unit of a network whose forward is functional: ``fn(modules, x)`` plus a description."""

    def __init__(self, fn, describe: str, **modules: nn.Module):
        super().__init__()
        self.fn, self.describe = fn, describe
        self.mods = nn.ModuleDict(modules)

    def extra_repr(self):
        return self.describe

    def forward(self, x):
        return self.fn(self.mods, x)


@CHAINS.register("mobilenet-elastic")
def _mobilenet_chain(model) -> list[nn.Module]:
    """A standalone network is built at exactly its arch's shape, so its layers run whole."""
    a, d = model.active, model.active.dims
    units: list[nn.Module] = []
    if a.resolution != 1.0:
        units.append(_Call(lambda m, x: F.interpolate(x, scale_factor=a.resolution, mode="linear" if d == 1 else
                                                      "bilinear", align_corners=False, recompute_scale_factor=True),
                           f"resize x{a.resolution}"))
    units.append(_Call(lambda m, x: F.hardswish(m["bn"](m["conv"](x))), "stem", conv=model.stem, bn=model.stem_bn))
    c = a.stem
    for s, (stage, blocks) in enumerate(zip(a.stages, model.stages)):
        for b in range(stage.depth):
            stride = 2 if (b == 0 and s > 0) else 1
            units.append(_Call(lambda m, x, c=c, st=stage, stride=stride: m["block"].run(x, c, st.width, stride, st, d),
                               f"mbconv {c}->{stage.width} s{stride} {stage}", block=blocks[b]))
            c = stage.width

    def head(m, x):
        x = F.hardswish(m["bn"](m["conv"](x)))
        return m["fc"](x.mean(dim=tuple(range(2, x.dim()))))

    units.append(_Call(head, "head", conv=model.head, bn=model.head_bn, fc=model.classifier))
    return units


def supported_spaces() -> list[str]:
    return CHAINS.names()


def _key(module: nn.Module, shape: Sequence[int]) -> str:
    text = " ".join(repr(module).split())
    return f"{type(module).__name__}:{hashlib.sha1(text.encode()).hexdigest()[:16]}@{'x'.join(map(str, shape))}"


def units(space, arch: Arch, input_shape: Sequence[int], num_classes: int) -> list[Unit]:
    """``arch``'s network as a chain of keyed units with their input shapes (batch axis left out)."""
    chain = CHAINS.factory(space.name)
    model = space.build(arch, input_shape, num_classes).eval()
    x = torch.randn(1, *input_shape, generator=torch.Generator().manual_seed(0))
    out = []
    with torch.no_grad():
        for module in chain(model):
            shape = tuple(x.shape[1:])
            out.append(Unit(_key(module, shape), module, shape, x))
            x = module(x.clone())  # a unit may work in place on its input
    return out


class LatencyTable:
    """Latency in milliseconds of each unit key, measured on one machine with one setting."""

    def __init__(self, entries: dict[str, float] | None = None, meta: dict[str, Any] | None = None):
        self.entries = dict(entries or {})
        self.meta = dict(meta or {})

    def fill(self, unit_lists: Iterable[list[Unit]], batch_size: int = 1, threads: int = 1, repeats: int = 50,
             warmup: int = 5, statistic: str = "min", on_unit=None, clock: str = "wall", rounds: int = 10,
             chunk: int | None = None) -> int:
        """Measure every unit key not yet in the table, interleaved round by round (see ``_timing``), all
        together so that every unit's rounds span the whole measurement, or ``chunk`` units at a time;
        returns how many were measured."""
        todo: dict[str, Unit] = {}
        for unit_list in unit_lists:
            for unit in unit_list:
                if unit.key not in self.entries:
                    todo.setdefault(unit.key, unit)
        pending = list(todo.values())
        step = chunk or max(len(pending), 1)
        for start in range(0, len(pending), step):
            group = pending[start:start + step]
            stats = measure_latencies([u.module for u in group], [u.input_shape for u in group], "torch", batch_size,
                                      threads, repeats=repeats, warmup=warmup, examples=[u.example for u in group],
                                      clock=clock, rounds=rounds, statistic=statistic)
            for unit, st in zip(group, stats):
                self.entries[unit.key] = st.latency_ms
                if on_unit is not None:
                    on_unit(unit)
        return len(pending)

    def lookup(self, unit_list: list[Unit]) -> float:
        """Sum of the table over ``unit_list``; an error names a unit the table does not hold."""
        missing = [u.key for u in unit_list if u.key not in self.entries]
        if missing:
            raise UserInputError(f"the latency table has no entry for {len(missing)} unit(s) of this network "
                                 f"(e.g. {missing[0]}); measure them with `nasforge profile-latency` first")
        return sum(self.entries[u.key] for u in unit_list)

    def save(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps({"format": TABLE_FORMAT, "meta": self.meta, "entries": self.entries}, indent=1))
        return path

    @classmethod
    def load(cls, path: str | Path) -> LatencyTable:
        try:
            data = json.loads(Path(path).read_text())
        except (OSError, ValueError) as exc:
            raise UserInputError(f"cannot read latency table {str(path)!r}: {exc}") from None
        if not isinstance(data, dict) or data.get("format") != TABLE_FORMAT:
            raise UserInputError(f"{str(path)!r} is not a nasforge latency table")
        return cls(data["entries"], data.get("meta"))


def _least_squares(x: np.ndarray, y: np.ndarray, ridge: float = 0.0) -> np.ndarray:
    a = x.T @ x + ridge * np.eye(x.shape[1])
    return np.linalg.solve(a, x.T @ y)


def theil_sen(x: Sequence[float], y: Sequence[float]) -> tuple[float, float]:
    """Slope and intercept of the Theil-Sen line (median of pairwise slopes): one network measured
    during a burst of load on a shared machine does not tilt it, as it would a least-squares fit."""
    x, y = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    i, j = np.triu_indices(len(x), 1)
    keep = x[j] != x[i]
    slope = float(np.median((y[j] - y[i])[keep] / (x[j] - x[i])[keep])) if keep.any() else 1.0
    return slope, float(np.median(y - slope * x))


class LutPredictor:
    """Predicted latency = ``scale`` x (sum of the table over the units) + ``overhead_ms``.

    ``fit`` sets both with a robust line (:func:`theil_sen`) through measured networks;
    with fewer than 3, or when measurement noise makes the fitted slope non-positive, it keeps
    ``scale`` = 1 and fits only the overhead (the median residual)."""

    def __init__(self, table: LatencyTable, scale: float = 1.0, overhead_ms: float = 0.0):
        self.table, self.scale, self.overhead_ms = table, scale, overhead_ms

    def fit(self, unit_lists: Sequence[list[Unit]], measured_ms: Sequence[float]) -> LutPredictor:
        sums = np.array([self.table.lookup(u) for u in unit_lists])
        y = np.asarray(measured_ms, dtype=float)
        self.scale, self.overhead_ms = theil_sen(sums, y) if len(y) >= 3 else (0.0, 0.0)
        if self.scale <= 0:  # too few or too noisy networks to fit a slope: keep the table's scale
            self.scale, self.overhead_ms = 1.0, float(np.median(y - sums))
        return self

    def predict(self, unit_list: list[Unit]) -> float:
        return self.scale * self.table.lookup(unit_list) + self.overhead_ms


class _OpCounter(TorchDispatchMode):
    """Operator calls and elements of their outputs during one forward pass."""

    def __init__(self):
        super().__init__()
        self.calls = self.elements = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        self.calls += 1
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor):
                self.elements += t.numel()
        return out


FEATURES = ("flops", "activation_elements", "operator_calls", "params")


def network_features(model: nn.Module, input_shape: Sequence[int]) -> dict[str, float]:
    """What the learned predictor regresses on: FLOPs, activation elements, operator calls, parameters."""
    from torch.utils.flop_counter import FlopCounterMode

    model = model.eval()
    counter = _OpCounter()
    x = torch.zeros(1, *input_shape)
    with torch.inference_mode(), FlopCounterMode(display=False) as flops, counter:
        model(x)
    return {"flops": float(flops.get_total_flops()), "activation_elements": float(counter.elements),
            "operator_calls": float(counter.calls), "params": float(sum(p.numel() for p in model.parameters()))}


class FeaturePredictor:
    """Learned latency predictor: ridge regression of measured latency on :data:`FEATURES` (standardised)."""

    def __init__(self, ridge: float = 1e-3):
        self.ridge = ridge

    def _matrix(self, rows: Sequence[dict[str, float]]) -> np.ndarray:
        return np.array([[r[f] for f in FEATURES] for r in rows], dtype=float)

    def fit(self, rows: Sequence[dict[str, float]], measured_ms: Sequence[float]) -> FeaturePredictor:
        x = self._matrix(rows)
        self.mean_, self.std_ = x.mean(0), x.std(0) + 1e-12
        z = np.c_[(x - self.mean_) / self.std_, np.ones(len(x))]
        self.coef_ = _least_squares(z, np.asarray(measured_ms, dtype=float), self.ridge)
        return self

    def predict(self, row: dict[str, float]) -> float:
        z = (self._matrix([row])[0] - self.mean_) / self.std_
        return float(np.r_[z, 1.0] @ self.coef_)


def prediction_errors(predicted: Sequence[float], measured: Sequence[float]) -> dict[str, float]:
    """MAPE (%), share of predictions within +-10% of the measurement, and Kendall's tau."""
    p, m = np.asarray(predicted, dtype=float), np.asarray(measured, dtype=float)
    rel = np.abs(p - m) / m
    return {"mape": float(100 * rel.mean()), "within_10": float((rel <= 0.10).mean()), "kendall_tau": kendall_tau(p, m),
            "n": int(len(m))}


def kendall_tau(a: Sequence[float], b: Sequence[float]) -> float:
    """Kendall's tau-b of two sequences (O(n^2); fine for hundreds of points)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    da = np.sign(a[:, None] - a[None, :])
    db = np.sign(b[:, None] - b[None, :])
    upper = np.triu_indices(len(a), 1)
    da, db = da[upper], db[upper]
    denominator = np.sqrt((da != 0).sum() * (db != 0).sum())
    return float((da * db).sum() / denominator) if denominator else float("nan")


class LatencyModel:
    """A space's latency table and fitted overhead on one machine: predicts any architecture of the
    space whose units the table holds. Saved as one JSON file (``nasforge profile-latency``)."""

    def __init__(self, space, input_shape: Sequence[int], num_classes: int, predictor: LutPredictor):
        self.space, self.input_shape, self.num_classes = space, tuple(input_shape), num_classes
        self.predictor = predictor

    @property
    def table(self) -> LatencyTable:
        return self.predictor.table

    def units(self, arch: Arch) -> list[Unit]:
        return units(self.space, arch, self.input_shape, self.num_classes)

    def predict(self, arch: Arch) -> float:
        return self.predictor.predict(self.units(arch))

    def save(self, path: str | Path) -> Path:
        self.table.meta.update(space=self.space.name, space_options=self.space.config(),
                               input_shape=list(self.input_shape), num_classes=self.num_classes,
                               scale=self.predictor.scale, overhead_ms=self.predictor.overhead_ms)
        return self.table.save(path)

    @classmethod
    def load(cls, path: str | Path) -> LatencyModel:
        from .. import spaces

        table = LatencyTable.load(path)
        m = table.meta
        space = spaces.get(m["space"], **m.get("space_options", {}))
        return cls(space, m["input_shape"], m["num_classes"], LutPredictor(table, m["scale"], m["overhead_ms"]))


def profile_latency(space, input_shape: Sequence[int], num_classes: int, archs: Sequence[Arch],
                    calibrate: int = 10, threads: int = 1, batch_size: int = 1, repeats: int = 50, warmup: int = 5,
                    statistic: str = "min", on_step=None, clock: str = "wall",
                    rounds: int = 10) -> tuple[LatencyModel, list[float]]:
    """Measure the table entries of ``archs``' units, then the whole-network latency of the first
    ``calibrate`` of them to fit the overhead; returns the model and those measurements.

    Units and networks are measured by the same protocol as trials (``repeats`` timed runs in
    ``rounds`` rounds, interleaved, reduced by ``statistic``: ``"min"``, ``"round-min-median"`` or
    ``"median"``; see ``_timing``); ``clock``: ``"wall"`` or ``"cpu"`` (the measuring thread's CPU
    time; see ``measure_latency``). The table's meta records the protocol."""
    if space.name not in CHAINS:
        raise UserInputError(f"no latency table for space {space.name!r}; supported: {', '.join(CHAINS.names())}")
    protocol = TimingProtocol.from_repeats(repeats, rounds, warmup, statistic)
    on_step = on_step or (lambda kind, done, total: None)
    unit_lists = [units(space, a, input_shape, num_classes) for a in archs]
    table = LatencyTable(meta={"threads": threads, "batch_size": batch_size, "repeats": protocol.repeats,
                               "warmup": warmup, "rounds": protocol.rounds, "statistic": statistic, "clock": clock,
                               "runtime": "torch", "protocol": protocol.describe() + f", {clock} clock"})
    keys = {u.key for ul in unit_lists for u in ul}
    done = [0]

    def on_unit(_):
        done[0] += 1
        on_step("units", done[0], len(keys))

    table.fill(unit_lists, batch_size, threads, repeats, warmup, statistic, on_unit, clock, rounds)
    chosen = archs[:calibrate]
    measured = []
    if chosen:
        on_step("networks", 0, len(chosen))
        stats = measure_latencies([space.build(a, input_shape, num_classes) for a in chosen], input_shape, "torch",
                                  batch_size, threads, repeats=repeats, warmup=warmup, clock=clock, rounds=rounds,
                                  statistic=statistic)
        measured = [st.latency_ms for st in stats]
        on_step("networks", len(chosen), len(chosen))
    predictor = LutPredictor(table).fit(unit_lists[:len(measured)], measured) if measured else LutPredictor(table)
    return LatencyModel(space, input_shape, num_classes, predictor), measured
