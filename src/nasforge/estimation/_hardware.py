"""Measured deployment costs of a model: latency (PyTorch eager or onnxruntime), size on disk,
peak inference memory and energy per inference.

Each function measures one thing and says how. Latency is the median of
repeated timed runs after warm-up; the spread (inter-quartile range) and the
minimum are kept, because on a shared machine the median moves with the load.
Energy comes from the RAPL counters under ``/sys/class/powercap`` when the
machine exposes them and they are readable; otherwise it is an estimate,
latency x threads x a stated power per core, and ``energy_source`` says which.
"""

from __future__ import annotations

import copy
import io
import statistics
import tempfile
import time
import weakref
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.utils._python_dispatch import TorchDispatchMode

from ..core import UserInputError, check_choice, check_float, check_int, require
from ._timing import TimingProtocol, reduce_rounds, round_minima_spread, time_rounds

RUNTIMES = ("torch", "onnxruntime")
CLOCKS = ("wall", "cpu")  # elapsed time, or the measuring thread's CPU time (see measure_latency)
POWERCAP = Path("/sys/class/powercap")
# Fallback power per busy core: AMD EPYC 7003 parts run 225-280 W TDP over 32-64 cores, i.e. about 3.5-8 W
# per core; we state the low end of the range (a per-core share of package TDP, not a measurement).
WATTS_PER_CORE = 3.5


@dataclass(frozen=True)
class LatencyStats:
    """Timed forward passes of one batch, in milliseconds: ``latency_ms``, the protocol's estimate
    (see ``_timing``; by default the fastest of 10 rounds x 5 runs), and, over all timed runs, the
    median, its spread and the fastest run; ``protocol`` says how it was measured."""

    median_ms: float
    spread_ms: float  # inter-quartile range of all the timed runs
    min_ms: float
    repeats: int
    runtime: str
    batch_size: int
    threads: int
    input_shape: tuple[int, ...]
    clock: str = "wall"
    latency_ms: float = float("nan")  # the protocol's estimate: what a trial records as latency_ms
    round_spread_ms: float = 0.0  # inter-quartile range of the per-round minima
    protocol: str = ""  # TimingProtocol.describe()

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def with_resolution(input_shape: Sequence[int], resolution: int | None) -> tuple[int, ...]:
    """``input_shape`` (C, *spatial) with every spatial size set to ``resolution`` (None keeps it)."""
    shape = tuple(int(s) for s in input_shape)
    if resolution is None:
        return shape
    check_int(None, "resolution", resolution, low=1, kind="measurement option")
    return (shape[0],) + (int(resolution),) * (len(shape) - 1)


def _stats(rounds_s: list[list[float]], protocol: TimingProtocol, runtime, batch_size, threads, shape,
           clock="wall") -> LatencyStats:
    ms = sorted(t * 1000.0 for r in rounds_s for t in r)
    q = statistics.quantiles(ms, n=4) if len(ms) >= 2 else [ms[0]] * 3
    return LatencyStats(statistics.median(ms), q[2] - q[0], ms[0], len(ms), runtime, batch_size, threads, shape,
                        clock, reduce_rounds(rounds_s, protocol.statistic) * 1000.0,
                        round_minima_spread(rounds_s) * 1000.0, protocol.describe() + f", {clock} clock")


def _time_calls(call: Callable[[], Any], repeats: int, warmup: int) -> tuple[list[float], list[float]]:
    """``warmup`` untimed calls, then the seconds of ``repeats`` timed calls by the wall clock and by this
    thread's CPU clock (energy measurement: one block of calls between two counter readings)."""
    for _ in range(warmup):
        call()
    wall, cpu = [], []
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.thread_time()
        call()
        cpu.append(time.thread_time() - start_cpu)
        wall.append(time.perf_counter() - start)
    return wall, cpu


def _torch_runner(model: nn.Module, x: torch.Tensor) -> Callable[[], Any]:
    return lambda: model(x)  # timed inside torch.inference_mode()


def _onnx_runner(model: nn.Module, x: torch.Tensor, threads: int) -> Callable[[], Any]:
    """An onnxruntime session of ``model`` (exported by :func:`nasforge.export.export_model`)."""
    from ..export import export_model

    ort = require("onnxruntime", "onnx")
    with tempfile.TemporaryDirectory() as tmp:
        path = export_model(model, tuple(x.shape[1:]), "onnx", Path(tmp) / "model.onnx")
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        options.log_severity_level = 3
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    feed = {session.get_inputs()[0].name: x.numpy()}
    return lambda: session.run(None, feed)


def measure_latency(model: nn.Module, input_shape: Sequence[int], runtime: str = "torch", batch_size: int = 1,
                    threads: int = 1, resolution: int | None = None, repeats: int = 50,
                    warmup: int = 5, example: torch.Tensor | None = None, clock: str = "wall",
                    rounds: int = 10, statistic: str = "min", gap_s: float = 0.0) -> LatencyStats:
    """CPU latency of one forward pass of a ``batch_size`` batch on ``threads`` threads, with PyTorch eager
    (``runtime="torch"``) or onnxruntime (``"onnxruntime"``, the ``onnx`` extra); ``resolution`` overrides
    the input's spatial size. ``warmup`` untimed runs, then ``repeats`` timed ones split into ``rounds``
    rounds, ``gap_s`` seconds apart, reduced by ``statistic`` (``"min"``, ``"round-min-median"`` or
    ``"median"``; see ``_timing`` for why the minimum is the default). The input is
    Gaussian noise unless ``example`` (one sample, batch axis included) is given: some kernels' speed
    depends on the data (max pooling of ReLU outputs is slower than of noise).

    ``clock="wall"`` times elapsed time, the latency a user sees. ``clock="cpu"`` times the CPU time of
    the measuring thread (1 thread only): on an idle machine the two agree, but when other processes
    share the CPU the wall clock also counts the time spent waiting for a core, and the CPU clock
    does not, so it stays repeatable on a busy machine."""
    return measure_latency_clocks(model, input_shape, runtime, batch_size, threads, resolution, repeats, warmup,
                                  example, clock, rounds, statistic, gap_s)[
        check_choice(None, "clock", clock, CLOCKS, kind="measurement option")]


def measure_latency_clocks(model: nn.Module, input_shape: Sequence[int], runtime: str = "torch",
                           batch_size: int = 1, threads: int = 1, resolution: int | None = None, repeats: int = 50,
                           warmup: int = 5, example: torch.Tensor | None = None,
                           clock: str = "wall", rounds: int = 10, statistic: str = "min",
                           gap_s: float = 0.0) -> dict[str, LatencyStats]:
    """:func:`measure_latency` by both clocks from the same runs: ``{"wall": ..., "cpu": ...}``
    (``"cpu"`` only with 1 thread)."""
    return measure_latencies_clocks([model], input_shape, runtime, batch_size, threads, resolution, repeats, warmup,
                                    [example], clock, rounds, statistic, gap_s)[0]


def measure_latencies_clocks(models: Sequence[nn.Module], input_shape: Sequence[int] | Sequence[Sequence[int]],
                             runtime: str = "torch", batch_size: int = 1, threads: int = 1,
                             resolution: int | None = None, repeats: int = 50, warmup: int = 5,
                             examples: Sequence[torch.Tensor | None] | None = None, clock: str = "wall",
                             rounds: int = 10, statistic: str = "min",
                             gap_s: float = 0.0) -> list[dict[str, LatencyStats]]:
    """:func:`measure_latency_clocks` of several models, interleaved: each round times every model in
    turn, so each model's rounds are spread over the whole measurement and meet the same machine
    states as the others' (what a table of many units or a benchmark of many networks wants).
    ``input_shape`` is one shape for all or one per model; ``examples`` one (or None) per model."""
    check_choice(None, "clock", clock, CLOCKS, kind="measurement option")
    if clock == "cpu" and threads != 1:
        raise UserInputError(f"clock='cpu' times the measuring thread only, so it needs threads=1; got threads={threads}")
    check_choice(None, "runtime", runtime, RUNTIMES, kind="measurement option")
    check_int(None, "batch_size", batch_size, low=1, kind="measurement option")
    check_int(None, "threads", threads, low=1, kind="measurement option")
    protocol = TimingProtocol.from_repeats(repeats, rounds, warmup, statistic, gap_s)
    shapes = list(input_shape) if input_shape and not isinstance(input_shape[0], int) else [input_shape] * len(models)
    examples = list(examples) if examples is not None else [None] * len(models)
    if not (len(shapes) == len(examples) == len(models)):
        raise UserInputError(f"{len(models)} models need as many input shapes and examples "
                             f"(got {len(shapes)} and {len(examples)})")
    inputs = []
    for shape, example in zip(shapes, examples):
        shape = with_resolution(shape, resolution)
        if example is not None:
            x = example.detach().cpu().expand(batch_size, *example.shape[1:]).clone()
        else:
            x = torch.randn(batch_size, *shape, generator=torch.Generator().manual_seed(0))
        inputs.append(x)
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        calls = [_torch_runner(copy.deepcopy(m).cpu().eval(), x) if runtime == "torch"
                 else _onnx_runner(copy.deepcopy(m).cpu().eval(), x, threads) for m, x in zip(models, inputs)]
        with torch.inference_mode():
            wall, cpu = time_rounds(calls, protocol)
    finally:
        torch.set_num_threads(previous)
    out = []
    for w, c, x in zip(wall, cpu, inputs):
        shape = tuple(x.shape[1:])
        stats = {"wall": _stats(w, protocol, runtime, batch_size, threads, shape)}
        if threads == 1:
            stats["cpu"] = _stats(c, protocol, runtime, batch_size, threads, shape, "cpu")
        out.append(stats)
    return out


def measure_latencies(models: Sequence[nn.Module], input_shape, runtime: str = "torch", batch_size: int = 1,
                      threads: int = 1, resolution: int | None = None, repeats: int = 50, warmup: int = 5,
                      examples=None, clock: str = "wall", rounds: int = 10, statistic: str = "min",
                      gap_s: float = 0.0) -> list[LatencyStats]:
    """:func:`measure_latency` of several models, interleaved round by round (see
    :func:`measure_latencies_clocks`)."""
    check_choice(None, "clock", clock, CLOCKS, kind="measurement option")
    return [s[clock] for s in measure_latencies_clocks(models, input_shape, runtime, batch_size, threads, resolution,
                                                       repeats, warmup, examples, clock, rounds, statistic, gap_s)]


def model_size_bytes(model: nn.Module) -> int:
    """Bytes of the model's ``state_dict`` serialized with ``torch.save`` (its file size on disk)."""
    buffer = io.BytesIO()
    torch.save({k: v.detach().cpu() for k, v in model.state_dict().items()}, buffer)
    return buffer.getbuffer().nbytes


class _LiveTensorBytes(TorchDispatchMode):
    """Counts the bytes of storages created by operators while it is active, and their peak.

    A storage is counted once however many views share it and released when
    the last tensor using it is freed, so the peak is that of the live
    intermediate activations, independent of the allocator and of the load."""

    def __init__(self):
        super().__init__()
        self.refs: dict[int, int] = {}
        self.sizes: dict[int, int] = {}
        self.current = self.peak = 0

    def _release(self, key: int) -> None:
        self.refs[key] -= 1
        if self.refs[key] == 0:
            self.current -= self.sizes.pop(key)
            del self.refs[key]

    def _track(self, t: torch.Tensor) -> None:
        storage = t.untyped_storage()
        key = storage.data_ptr()
        if key not in self.refs:
            self.refs[key], self.sizes[key] = 0, storage.nbytes()
            self.current += storage.nbytes()
            self.peak = max(self.peak, self.current)
        self.refs[key] += 1
        weakref.finalize(t, self._release, key)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor) and t.device.type == "cpu":
                self._track(t)
        return out


def peak_memory_bytes(model: nn.Module, input_shape: Sequence[int], batch_size: int = 1,
                      resolution: int | None = None) -> int:
    """Peak tensor memory of one inference: weights and buffers + the input + the peak of the
    intermediate tensors alive at once during the forward pass (counted per operator by a
    ``TorchDispatchMode``; allocator overhead and the Python interpreter are not included)."""
    cpu_model = copy.deepcopy(model).cpu().eval()
    x = torch.randn(batch_size, *with_resolution(input_shape, resolution))
    weights = sum(t.untyped_storage().nbytes() for t in {id(t): t for t in
                                                         [*cpu_model.parameters(), *cpu_model.buffers()]}.values())
    counter = _LiveTensorBytes()
    with torch.inference_mode(), counter:
        out = cpu_model(x)
    del out
    return weights + x.untyped_storage().nbytes() + counter.peak


def rapl_files(root: Path = POWERCAP) -> list[Path]:
    """The readable package-level RAPL energy counters (``energy_uj``) under ``root``, if any."""
    found = []
    for zone in sorted(root.glob("*rapl*:[0-9]")) if root.is_dir() else []:
        path = zone / "energy_uj"
        try:
            int(path.read_text())
        except (OSError, ValueError):
            continue
        found.append(path)
    return found


def _read_uj(paths: list[Path]) -> list[int]:
    return [int(p.read_text()) for p in paths]


def _wrapped_delta(before: int, after: int, path: Path) -> int:
    if after >= before:
        return after - before
    try:
        limit = int((path.parent / "max_energy_range_uj").read_text())
    except (OSError, ValueError):
        limit = 2 ** 32
    return after + limit - before


def measure_energy(model: nn.Module, input_shape: Sequence[int], batch_size: int = 1, threads: int = 1,
                   resolution: int | None = None, repeats: int = 30, warmup: int = 5,
                   watts_per_core: float = WATTS_PER_CORE, powercap: Path = POWERCAP) -> dict[str, Any]:
    """Joules per inference of a ``batch_size`` batch and where the figure comes from.

    With readable RAPL counters: the package energy over ``repeats`` timed runs, divided by the
    runs (the whole package: other processes' work is included, so measure on an idle machine).
    Otherwise an estimate, median latency x ``threads`` x ``watts_per_core``."""
    check_float(None, "watts_per_core", watts_per_core, low=0, open_low=True, kind="measurement option")
    files = rapl_files(powercap)
    if not files:
        stats = measure_latency(model, input_shape, "torch", batch_size, threads, resolution, repeats, warmup)
        return {"energy_j": stats.median_ms / 1000.0 * threads * watts_per_core,
                "energy_source": f"estimate: latency x {threads} thread(s) x {watts_per_core:g} W per core "
                                 "(no readable RAPL counters under /sys/class/powercap)",
                "latency_ms": stats.median_ms}
    cpu_model = copy.deepcopy(model).cpu().eval()
    x = torch.randn(batch_size, *with_resolution(input_shape, resolution))
    previous = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        call = _torch_runner(cpu_model, x)
        with torch.inference_mode():
            _time_calls(call, 0, warmup)
            before = _read_uj(files)
            start = time.perf_counter()
            _time_calls(call, repeats, 0)
            seconds = time.perf_counter() - start
            after = _read_uj(files)
    finally:
        torch.set_num_threads(previous)
    micro = sum(_wrapped_delta(b, a, p) for b, a, p in zip(before, after, files))
    return {"energy_j": micro / 1e6 / repeats, "latency_ms": seconds / repeats * 1000.0,
            "energy_source": "rapl: " + ", ".join(str(p.parent.name) for p in files) + " (package energy)"}


@dataclass(frozen=True)
class MeasureConfig:
    """Which deployment costs a trial measures beyond params and FLOPs, and how.

    Latency is measured by default (PyTorch eager, batch 1, 1 thread, the fastest of 10 rounds x 5
    timed runs: see ``_timing``); the rest are off by default because each adds time to every trial.
    ``statistic="median", rounds=1, repeats=30`` is the protocol trials used before 2026-12-01."""

    latency: bool = True
    runtime: str = "torch"
    clock: str = "wall"
    batch_size: int = 1
    threads: int = 1
    resolution: int | None = None
    repeats: int = 50
    warmup: int = 5
    rounds: int = 10
    statistic: str = "min"
    gap_s: float = 0.0
    size: bool = False
    memory: bool = False
    energy: bool = False
    watts_per_core: float = WATTS_PER_CORE

    def __post_init__(self):
        check_choice(None, "runtime", self.runtime, RUNTIMES, kind="measurement option")
        check_choice(None, "clock", self.clock, CLOCKS, kind="measurement option")
        if self.clock == "cpu" and self.threads != 1:
            raise UserInputError("The 'clock' measurement option 'cpu' needs threads=1 (it times the measuring "
                                 f"thread only). Got threads={self.threads} instead.")
        for name in ("batch_size", "threads", "repeats"):
            check_int(None, name, getattr(self, name), low=1, kind="measurement option")
        check_int(None, "warmup", self.warmup, low=0, kind="measurement option")
        TimingProtocol.from_repeats(self.repeats, self.rounds, self.warmup, self.statistic, self.gap_s)  # checks them
        if self.resolution is not None:
            check_int(None, "resolution", self.resolution, low=1, kind="measurement option")
        check_float(None, "watts_per_core", self.watts_per_core, low=0, open_low=True, kind="measurement option")
        if self.runtime == "onnxruntime":
            require("onnxruntime", "onnx")

    @classmethod
    def from_options(cls, options: dict[str, Any]) -> MeasureConfig:
        from dataclasses import fields

        known = {f.name: f.default for f in fields(cls)}
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise UserInputError(f"unknown measurement option(s) {unknown}; known: "
                                 f"{', '.join(f'{k} (default {v!r})' for k, v in known.items())}")
        return cls(**options)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def measure_costs(model: nn.Module, input_shape: Sequence[int], config: MeasureConfig) -> dict[str, Any]:
    """The trial metrics ``config`` asks for: ``latency_ms`` (the protocol's estimate, + ``latency_ms_median``,
    ``latency_ms_spread`` and ``latency_ms_min`` of all timed runs, ``latency_ms_round_spread`` and
    ``latency_protocol``, which says how it was measured), ``size_bytes``, ``peak_memory_mb``, ``energy_j``
    (+ ``energy_source``)."""
    c = config
    metrics: dict[str, Any] = {}
    if c.latency:
        stats = measure_latency(model, input_shape, c.runtime, c.batch_size, c.threads, c.resolution, c.repeats,
                                c.warmup, clock=c.clock, rounds=c.rounds, statistic=c.statistic, gap_s=c.gap_s)
        metrics.update(latency_ms=stats.latency_ms, latency_ms_median=stats.median_ms,
                       latency_ms_spread=stats.spread_ms, latency_ms_min=stats.min_ms,
                       latency_ms_round_spread=stats.round_spread_ms, latency_protocol=stats.protocol)
    if c.size:
        metrics["size_bytes"] = model_size_bytes(model)
    if c.memory:
        metrics["peak_memory_mb"] = peak_memory_bytes(model, input_shape, c.batch_size, c.resolution) / 2 ** 20
    if c.energy:
        energy = measure_energy(model, input_shape, c.batch_size, c.threads, c.resolution, c.repeats, c.warmup,
                                c.watts_per_core)
        metrics.update(energy_j=energy["energy_j"], energy_source=energy["energy_source"])
    return metrics
