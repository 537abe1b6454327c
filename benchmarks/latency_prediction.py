"""Latency prediction: how close are predicted latencies to measured ones on this machine?

For each space, distinct random architectures are split into a calibration set
(which fits the predictors' few coefficients) and a disjoint test set (default
100). Every network is measured in two separate passes by nasforge's timing
protocol (``nasforge.estimation._timing``: 5 warm-up runs, then 10 rounds x 5
timed runs, interleaved across all the networks of the pass, latency = the
fastest run), so the run shows how well a measurement repeats on this machine:
the noise ceiling no predictor can be shown to beat. The protocol used before
(the median of 30 consecutive runs, one network after the other) is measured in
two passes too, as the reference. Every unit (stem, block or cell, head) is
measured once for the per-unit table by the same protocol (interleaved in
one interleaved measurement of all of them). Predictors, scored on the test set against pass 1:

- ``table sum``: the sum of the table over the network's units, nothing fitted;
- ``table + overhead``: scale x sum + overhead, a robust line through the
  calibration networks (what ``nasforge profile-latency`` saves);
- ``learned``: ridge regression on FLOPs, activation elements, operator calls
  and parameters, fitted to the calibration networks;
- ``FLOPs only`` (the reference): latency proportional to FLOPs plus a constant;
- ``2nd measurement``: pass 2 as a "prediction" of pass 1 (the noise ceiling).

Rows ``vs best of 2`` score the same predictions against the lower of the two
passes (20 rounds over twice the time: more chance to meet a quiet phase).

Every timed run is read by the wall clock and by the thread's CPU clock; raw
round timings are saved, so ``--rescore`` re-scores any clock/statistic without
measuring. The run is resumable: each finished step (units, passes, features)
is written to ``--json`` and skipped when the command is run again. Timing uses
1 thread, batch 1, PyTorch eager.

    python benchmarks/latency_prediction.py --spaces macro-cnn --json latency.json   # then mobilenet-elastic
    python benchmarks/latency_prediction.py --rescore latency.json --clock cpu --statistic round-min-median
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from nasforge import spaces  # noqa: E402
from nasforge.estimation import (FeaturePredictor, LatencyTable, LutPredictor, network_features,  # noqa: E402
                                 prediction_errors, reduce_rounds, units)
from nasforge.estimation._latency_lut import Unit, theil_sen  # noqa: E402

SPACE_OPTIONS = {"macro-cnn": {}, "mobilenet-elastic": {}, "nb201": {"dead_edges": "keep"}}
CLOCKS = ("wall", "cpu")


def _raw(stats_list):
    """Per model, per clock: the timed runs in ms, [round][run], rounded to 0.1 us."""
    return [{c: [[round(t * 1000, 4) for t in r] for r in s[c]] for c in CLOCKS} for s in stats_list]


def _time(models, shape, args, examples=None, rounds=None, repeats=None, interleave=True):
    """Raw round timings (seconds) of ``models`` by both clocks, interleaved or one model after the other."""
    from nasforge.estimation._hardware import _torch_runner
    from nasforge.estimation._timing import TimingProtocol, time_rounds

    protocol = TimingProtocol.from_repeats(repeats or args.repeats, rounds or args.rounds, args.warmup)
    shapes = shape if isinstance(shape, list) else [shape] * len(models)
    examples = examples or [None] * len(models)
    calls = []
    for m, s, e in zip(models, shapes, examples):
        x = e.clone() if e is not None else torch.randn(1, *s, generator=torch.Generator().manual_seed(0))
        calls.append(_torch_runner(m.eval(), x))
    with torch.inference_mode():
        if interleave:
            wall, cpu = time_rounds(calls, protocol)
        else:
            wall, cpu = [], []
            for call in calls:
                w, c = time_rounds([call], protocol)
                wall += w
                cpu += c
    return [{"wall": w, "cpu": c} for w, c in zip(wall, cpu)]


def _step(state, key, path, fn):
    """Run ``fn`` unless ``state`` has ``key`` already; save after it. Returns (value, cpu s, wall s)."""
    if key not in state:
        cpu0, wall0 = time.process_time(), time.perf_counter()
        value = fn()
        state[key] = {"value": value, "cpu_seconds": round(time.process_time() - cpu0, 2),
                      "wall_seconds": round(time.perf_counter() - wall0, 2),
                      "load_average": [round(v, 2) for v in os.getloadavg()],
                      "at": time.strftime("%H:%M:%S UTC", time.gmtime())}
        if path:
            path.write_text(json.dumps(path_state[0]))
        print(f"  {key}: {state[key]['wall_seconds']} s wall, {state[key]['cpu_seconds']} s CPU, "
              f"load {state[key]['load_average']}", flush=True)
    return state[key]["value"]


path_state = [None]  # the whole saved document, so _step can write it


def sample_archs(space, n, seed):
    rng = np.random.default_rng(seed)
    seen, archs = set(), []
    while len(archs) < n:
        a = space.sample(rng)
        if a.to_json() not in seen:
            seen.add(a.to_json())
            archs.append(a)
    return archs


def measure_space(name, args, doc, path):
    space = spaces.get(name, **SPACE_OPTIONS.get(name, {}))
    shape, classes = tuple(args.input_shape), args.num_classes
    state = doc["spaces"].setdefault(name, {"space_options": SPACE_OPTIONS.get(name, {})})
    archs = sample_archs(space, args.calibrate + args.test, args.seed)
    state["archs"] = [a.to_json() for a in archs]
    print(f"{name}: {len(archs)} architectures", flush=True)
    unit_lists = [units(space, a, shape, classes) for a in archs]
    state["unit_keys"] = [[u.key for u in ul] for ul in unit_lists]

    def table():
        todo = list({u.key: u for ul in unit_lists for u in ul}.values())  # all interleaved, like the networks
        raw = _time([u.module for u in todo], [u.input_shape for u in todo], args, examples=[u.example for u in todo])
        return {u.key: r for u, r in zip(todo, _raw(raw))}

    _step(state, "units", path, table)
    for p in (1, 2):
        _step(state, f"pass{p}", path,
              lambda: _raw(_time([space.build(a, shape, classes) for a in archs], shape, args)))
    for p in (1, 2):  # the protocol before 2026-12-01: median of 30 consecutive runs, network by network
        _step(state, f"old{p}", path, lambda: _raw(_time([space.build(a, shape, classes) for a in archs], shape,
                                                         args, rounds=1, repeats=30, interleave=False)))
    _step(state, "features", path, lambda: [network_features(space.build(a, shape, classes), shape) for a in archs])


def _stub(key):
    return Unit(key, torch.nn.Identity(), (1,), torch.zeros(1, 1))


def score_space(name, state, n_cal, clock="wall", statistic="min"):
    """Rows of (method, MAPE, within 10%, tau) on the test set for one clock and statistic."""
    def value(raw):
        return reduce_rounds(raw[clock], statistic)

    first = np.array([value(r) for r in state["pass1"]["value"]])
    second = np.array([value(r) for r in state["pass2"]["value"]])
    old1 = np.array([statistics.median(r[clock][0]) for r in state["old1"]["value"]])
    old2 = np.array([statistics.median(r[clock][0]) for r in state["old2"]["value"]])
    table = LatencyTable({k: value(r) for k, r in state["units"]["value"].items()})
    unit_lists = [[_stub(k) for k in keys] for keys in state["unit_keys"]]
    features = state["features"]["value"]
    y_cal, y_test = first[:n_cal], first[n_cal:]
    fitted = LutPredictor(table).fit(unit_lists[:n_cal], y_cal)
    learned = FeaturePredictor().fit(features[:n_cal], y_cal)
    slope, icpt = theil_sen([f["flops"] for f in features[:n_cal]], y_cal)
    preds = {
        "2nd measurement (noise ceiling)": second[n_cal:],
        "table sum": [table.lookup(u) for u in unit_lists[n_cal:]],
        "table + overhead": [fitted.predict(u) for u in unit_lists[n_cal:]],
        "learned (features)": [learned.predict(f) for f in features[n_cal:]],
        "FLOPs only (reference)": [slope * f["flops"] + icpt for f in features[n_cal:]],
    }
    rows = [{"space": name, "clock": clock, "statistic": statistic, "method": m, **prediction_errors(p, y_test)}
            for m, p in preds.items()]
    best = np.minimum(y_test, second[n_cal:])  # both passes' rounds: twice the time span to meet a quiet phase
    for m in ("table sum", "table + overhead", "learned (features)"):
        rows.append({"space": name, "clock": clock, "statistic": statistic, "method": m + " vs best of 2",
                     **prediction_errors(preds[m], best)})
    rows.append({"space": name, "clock": clock, "statistic": "median of 30 (old)",
                 "method": "2nd measurement, old protocol", **prediction_errors(old2[n_cal:], old1[n_cal:])})
    return rows


def costs(name, state):
    """CPU and wall seconds per architecture of one pass of the protocol, and of the old one."""
    n = len(state["archs"])
    return {"space": name, "networks": n, "table_entries": len(state["units"]["value"]),
            "protocol_cpu_s_per_arch": round(np.mean([state[f"pass{p}"]["cpu_seconds"] for p in (1, 2)]) / n, 3),
            "protocol_wall_s_per_arch": round(np.mean([state[f"pass{p}"]["wall_seconds"] for p in (1, 2)]) / n, 3),
            "old_cpu_s_per_arch": round(np.mean([state[f"old{p}"]["cpu_seconds"] for p in (1, 2)]) / n, 3),
            "units_cpu_s": state["units"]["cpu_seconds"],
            "median_test_latency_ms": round(float(np.median(
                [reduce_rounds(r["wall"]) for r in state["pass1"]["value"]])), 3)}


def print_rows(rows):
    print(f"{'space':18s} {'clock':5s} {'statistic':18s} {'method':36s} {'MAPE %':>7s} {'within 10%':>10s} "
          f"{'tau':>6s}")
    for r in rows:
        print(f"{r['space']:18s} {r['clock']:5s} {r['statistic']:18s} {r['method']:36s} {r['mape']:7.1f} "
              f"{100 * r['within_10']:9.0f}% {r['kendall_tau']:6.3f}")


def report(doc, clock, statistic):
    n_cal = doc["header"]["args"]["calibrate"]
    for name, state in doc["spaces"].items():
        if all(k in state for k in ("units", "pass1", "pass2", "old1", "old2", "features")):
            print(json.dumps(costs(name, state)))
            print_rows(score_space(name, state, n_cal, clock, statistic))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spaces", nargs="+", default=["macro-cnn", "mobilenet-elastic"])
    parser.add_argument("--test", type=int, default=100)
    parser.add_argument("--calibrate", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=50, help="timed runs per measurement (default 50)")
    parser.add_argument("--rounds", type=int, default=10, help="rounds they are split into (default 10)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--input-shape", type=int, nargs="+", default=[1, 28, 28], help="Fashion-MNIST's by default")
    parser.add_argument("--num-classes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="save (and resume from) the raw measurements here")
    parser.add_argument("--rescore", default=None, metavar="JSON", help="measure nothing: score a saved run")
    parser.add_argument("--clock", choices=CLOCKS, default="wall", help="when scoring (default wall)")
    parser.add_argument("--statistic", choices=("min", "round-min-median", "median"), default="min",
                        help="when scoring (default min, the protocol's)")
    args = parser.parse_args()
    if args.rescore:
        report(json.loads(Path(args.rescore).read_text()), args.clock, args.statistic)
        return
    torch.set_num_threads(1)
    path = Path(args.json) if args.json else None
    doc = json.loads(path.read_text()) if path and path.exists() else {"spaces": {}}
    keep = {k: v for k, v in vars(args).items() if k not in ("spaces", "json", "rescore", "clock", "statistic")}
    if "header" in doc and doc["header"]["args"] != keep:
        parser.error(f"{path} was measured with {doc['header']['args']}; use another --json to change settings")
    doc.setdefault("header", {"machine": platform.processor() or platform.machine(), "cpus": os.cpu_count(),
                              "torch": torch.__version__, "args": keep})
    doc["header"].setdefault("runs", []).append({"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                                                 "spaces": args.spaces,
                                                 "load_average": [round(v, 2) for v in os.getloadavg()]})
    path_state[0] = doc
    for name in args.spaces:
        measure_space(name, args, doc, path)
    report(doc, args.clock, args.statistic)


if __name__ == "__main__":
    main()
