"""``nasforge profile-latency``: measure a space's per-unit latency table on this machine and save it.

The table predicts any architecture of the space without running it timed
(``nasforge.estimation.LatencyModel.load(path).predict(arch)``); see
docs/hardware.md for the method and its measured error.
"""

from __future__ import annotations

import json
import os
import platform
import time

from ._options import key_values


def add_parser(sub) -> None:
    p = sub.add_parser("profile-latency", help="measure a space's per-operation latency table on this machine",
                       description="Measure the latency of every unit (stem, block or cell, head) that a sample of "
                                   "the space's architectures uses, fit the per-network overhead on a few whole "
                                   "networks, and save the table as JSON for latency prediction.")
    p.add_argument("--space", required=True, help="macro-cnn, mobilenet-elastic or nb201")
    p.add_argument("--space-option", action="append", metavar="KEY=VALUE", help="space option (repeatable)")
    p.add_argument("--dataset", default=None, help="data set whose input shape and classes to use")
    p.add_argument("--input-shape", default=None, help="instead of --dataset: e.g. 1,28,28 (with --num-classes)")
    p.add_argument("--num-classes", type=int, default=10, help="classes, with --input-shape (default 10)")
    p.add_argument("--archs", type=int, default=50, help="random architectures whose units are measured (default 50)")
    p.add_argument("--calibrate", type=int, default=10,
                   help="of those, how many whole networks to measure to fit the overhead (default 10)")
    p.add_argument("--threads", type=int, default=1, help="CPU threads (default 1)")
    p.add_argument("--batch-size", type=int, default=1, help="batch size (default 1)")
    p.add_argument("--repeats", type=int, default=50, help="timed runs per measurement (default 50)")
    p.add_argument("--rounds", type=int, default=10,
                   help="the timed runs are split into this many rounds, interleaved across units (default 10)")
    p.add_argument("--warmup", type=int, default=5, help="untimed runs first (default 5)")
    p.add_argument("--statistic", choices=("min", "round-min-median", "median"), default="min",
                   help="of the timed rounds: the fastest run (default; repeatable on a shared machine, see "
                        "docs/hardware.md), the median of the round minima, or the median of all runs")
    p.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="wall: elapsed time (default); cpu: the measuring thread's CPU time, repeatable when other "
                        "processes share the CPU (1 thread only)")
    p.add_argument("--seed", type=int, default=0, help="seed of the sampled architectures")
    p.add_argument("--out", default="latency_table.json", help="where to write the table (JSON)")


def _shape(args) -> tuple[tuple[int, ...], int]:
    from .. import data
    from ..core import UserInputError

    if (args.dataset is None) == (args.input_shape is None):
        raise UserInputError("give exactly one of --dataset or --input-shape")
    if args.dataset is not None:
        dataset = data.load(args.dataset)
        return dataset.input_shape, dataset.num_classes
    try:
        shape = tuple(int(v) for v in args.input_shape.split(","))
    except ValueError:
        shape = ()
    if not shape or min(shape) < 1:
        raise UserInputError(f"--input-shape takes positive integers separated by commas, e.g. 1,28,28; "
                             f"got {args.input_shape!r}")
    return shape, args.num_classes


def run(args, console) -> int:
    import numpy as np
    import torch

    from .. import spaces
    from ..core import check_int
    from ..estimation import profile_latency

    for name in ("archs", "threads", "batch_size", "repeats", "rounds", "num_classes"):
        check_int(None, name, getattr(args, name), low=1, kind="option")
    check_int(None, "calibrate", args.calibrate, low=0, kind="option")
    check_int(None, "warmup", args.warmup, low=0, kind="option")
    space = spaces.get(args.space, **key_values(args.space_option, "--space-option"))
    input_shape, num_classes = _shape(args)
    rng = np.random.default_rng(args.seed)
    archs = [space.sample(rng) for _ in range(args.archs)]
    torch.set_num_threads(args.threads)
    console.print(f"Profiling {space.name} on input {input_shape}: {args.archs} architectures, {args.threads} "
                  f"thread(s), batch {args.batch_size}, {args.statistic} of {args.repeats} runs in {args.rounds} "
                  f"rounds, {args.clock} clock")
    start = time.perf_counter()
    with console.status("measuring…") as status:
        model, _ = profile_latency(space, input_shape, num_classes, archs, args.calibrate, args.threads,
                                   args.batch_size, args.repeats, args.warmup, args.statistic,
                                   on_step=lambda kind, done, total: status.update(f"{kind}: {done}/{total}"),
                                   clock=args.clock, rounds=args.rounds)
    model.table.meta.update(machine=platform.processor() or platform.machine(), cpus=os.cpu_count(),
                            torch=torch.__version__, load_average=list(os.getloadavg()),
                            measured_at=time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                            seconds=round(time.perf_counter() - start, 1))
    path = model.save(args.out)
    p = model.predictor
    console.print(f"Wrote {len(model.table.entries)} table entries to {path} "
                  f"(prediction = {p.scale:.3f} x table sum + {p.overhead_ms:.3f} ms; "
                  f"load average {json.dumps([round(v, 2) for v in os.getloadavg()])})")
    return 0
