"""Latency prediction: how close are predicted latencies to measured ones on this machine?

For each space, random architectures are split into a calibration set (which
fits the predictors' few coefficients) and a disjoint test set (default 100).
Every unit (stem, block or cell, head) of every network is measured once in
isolation for the per-unit table; every whole network is measured twice, in
two separate passes, so the run also shows how repeatable a measurement is on
this machine (the noise floor no predictor can beat). Predictors compared on
the test set, each against the first pass:

- ``table sum``: the sum of the table over the network's units, nothing fitted;
- ``table + overhead``: scale x sum + overhead, a robust line through the
  calibration networks (what ``nasforge profile-latency`` saves);
- ``learned``: ridge regression on FLOPs, activation elements, operator calls
  and parameters, fitted to the calibration networks;
- ``FLOPs only`` (the reference): latency proportional to FLOPs plus a constant,
  fitted the same way;
- ``2nd measurement``: the second pass as a "prediction" of the first.

Rows marked ``vs best of 2`` compare against the lower of the two passes of
each test network (60 timed runs instead of 30), a steadier ground truth on
a loaded machine.

Every timed run is read by two clocks: the wall clock (the latency a user
sees; what trials store by default) and the measuring thread's CPU time
(``clock="cpu"``), which does not count time spent waiting for a core, so it
stays repeatable when other processes share the CPU. For each clock both the
median of the timed runs (what trials store) and the minimum are reported.
All timing uses 1 thread, batch 1, PyTorch eager.

    nice -n 10 python benchmarks/latency_prediction.py                       # all three spaces
    python benchmarks/latency_prediction.py --spaces macro-cnn --test 100 --calibrate 30 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from nasforge import spaces  # noqa: E402
from nasforge.estimation import (FeaturePredictor, LatencyTable, LutPredictor, network_features,  # noqa: E402
                                 prediction_errors, units)
from nasforge.estimation._hardware import measure_latency_clocks  # noqa: E402
from nasforge.estimation._latency_lut import theil_sen  # noqa: E402

SPACE_OPTIONS = {"macro-cnn": {}, "mobilenet-elastic": {}, "nb201": {"dead_edges": "keep"}}
VARIANTS = (("wall", "median"), ("wall", "min"), ("cpu", "median"), ("cpu", "min"))  # (clock, statistic)


def _values(clocks):
    return [clocks[c].median_ms if s == "median" else clocks[c].min_ms for c, s in VARIANTS]


def measure_networks(space, archs, shape, classes, repeats, warmup):
    """Each whole network's latency in ms, one column per variant (same timed runs)."""
    return np.array([_values(measure_latency_clocks(space.build(a, shape, classes), shape, repeats=repeats,
                                                    warmup=warmup)) for a in archs])


def fill_tables(unit_lists, repeats, warmup):
    """One measurement per unit key, kept as one table per variant."""
    tables = [LatencyTable() for _ in VARIANTS]
    for unit_list in unit_lists:
        for u in unit_list:
            if u.key not in tables[0].entries:
                values = _values(measure_latency_clocks(u.module, u.input_shape, repeats=repeats, warmup=warmup,
                                                        example=u.example))
                for table, v in zip(tables, values):
                    table.entries[u.key] = v
    return tables


def run_space(name, args):
    space = spaces.get(name, **SPACE_OPTIONS.get(name, {}))
    shape, classes = tuple(args.input_shape), args.num_classes
    rng = np.random.default_rng(args.seed)
    seen, archs = set(), []
    while len(archs) < args.calibrate + args.test:  # distinct architectures
        a = space.sample(rng)
        if a.to_json() not in seen:
            seen.add(a.to_json())
            archs.append(a)
    calib, test = archs[:args.calibrate], archs[args.calibrate:]
    t0 = time.perf_counter()
    unit_lists = [units(space, a, shape, classes) for a in archs]
    tables = fill_tables(unit_lists, args.repeats, args.warmup)
    t_units = time.perf_counter() - t0
    first = measure_networks(space, archs, shape, classes, args.repeats, args.warmup)
    second = measure_networks(space, test, shape, classes, args.repeats, args.warmup)
    features = [network_features(space.build(a, shape, classes), shape) for a in archs]
    seconds = time.perf_counter() - t0
    rows = []
    n = args.calibrate
    for s, (clock, stat) in enumerate(VARIANTS):
        table = tables[s]
        y_cal, y_test = first[:n, s], first[n:, s]
        raw = LutPredictor(table)
        fitted = LutPredictor(table).fit(unit_lists[:n], y_cal)
        learned = FeaturePredictor().fit(features[:n], y_cal)
        slope, icpt = theil_sen([f["flops"] for f in features[:n]], y_cal)
        preds = {
            "table sum": [raw.predict(u) for u in unit_lists[n:]],
            "table + overhead": [fitted.predict(u) for u in unit_lists[n:]],
            "learned (features)": [learned.predict(f) for f in features[n:]],
            "FLOPs only (reference)": [slope * f["flops"] + icpt for f in features[n:]],
            "2nd measurement": list(second[:, s]),
        }
        for method, p in preds.items():
            rows.append({"space": name, "clock": clock, "statistic": stat, "method": method,
                         **prediction_errors(p, y_test)})
        careful = np.minimum(y_test, second[:, s])  # the lower of the two passes: less of the load's noise
        for method in ("table sum", "table + overhead", "FLOPs only (reference)"):
            rows.append({"space": name, "clock": clock, "statistic": stat, "method": method + " vs best of 2",
                         **prediction_errors(preds[method], careful)})
    names = [f"{c}_{s}" for c, s in VARIANTS]
    points = [{"arch": space.describe(a), "calibration": i < n, "flops": feat["flops"],
               "table_sum": dict(zip(names, (t.lookup(u) for t in tables))),
               "first": dict(zip(names, map(float, f))),
               "second": dict(zip(names, map(float, sec))) if sec is not None else None}
              for i, (a, u, f, sec, feat) in enumerate(zip(archs, unit_lists, first, [None] * n + list(second),
                                                            features))]
    info = {"space": name, "space_options": SPACE_OPTIONS.get(name, {}), "table_entries": len(tables[0].entries),
            "unit_seconds": round(t_units, 1), "seconds": round(seconds, 1),
            "median_latency_ms": float(np.median(first[n:, 0])),
            "latency_range_ms": [float(first[n:, 0].min()), float(first[n:, 0].max())],
            "median_cpu_latency_ms": float(np.median(first[n:, 2]))}
    return rows, info, points


def rescore(points_by_space):
    """The table, FLOPs and 2nd-measurement rows again from a saved run's points (``--rescore``)."""
    rows = []
    for name, points in points_by_space.items():
        cal = [p for p in points if p["calibration"]]
        test = [p for p in points if not p["calibration"]]
        for clock, stat in VARIANTS:
            v = f"{clock}_{stat}"
            y_cal = [p["first"][v] for p in cal]
            y_test = np.array([p["first"][v] for p in test])
            best = np.minimum(y_test, [p["second"][v] for p in test])
            sums = [p["table_sum"][v] for p in test]
            table = LatencyTable({str(i): p["table_sum"][v] for i, p in enumerate(cal)})
            fitted = LutPredictor(table).fit([[_stub(str(i))] for i in range(len(cal))], y_cal)
            slope, icpt = theil_sen([p["flops"] for p in cal], y_cal)
            preds = {"table sum": sums,
                     "table + overhead": [fitted.scale * t + fitted.overhead_ms for t in sums],
                     "FLOPs only (reference)": [slope * p["flops"] + icpt for p in test],
                     "2nd measurement": [p["second"][v] for p in test]}
            for method, pred in preds.items():
                rows.append({"space": name, "clock": clock, "statistic": stat, "method": method,
                             **prediction_errors(pred, y_test)})
                if method != "2nd measurement":
                    rows.append({"space": name, "clock": clock, "statistic": stat, "method": method + " vs best of 2",
                                 **prediction_errors(pred, best)})
    return rows


def _stub(key):
    from nasforge.estimation._latency_lut import Unit

    return Unit(key, torch.nn.Identity(), (1,), torch.zeros(1, 1))


def print_rows(rows):
    print(f"{'space':18s} {'clock':5s} {'stat':6s} {'method':35s} {'MAPE %':>7s} {'within 10%':>10s} {'tau':>6s}")
    for r in rows:
        print(f"{r['space']:18s} {r['clock']:5s} {r['statistic']:6s} {r['method']:35s} {r['mape']:7.1f} "
              f"{100 * r['within_10']:9.0f}% {r['kendall_tau']:6.3f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--spaces", nargs="+", default=["macro-cnn", "mobilenet-elastic", "nb201"])
    parser.add_argument("--test", type=int, default=100)
    parser.add_argument("--calibrate", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--input-shape", type=int, nargs="+", default=[1, 28, 28], help="Fashion-MNIST's by default")
    parser.add_argument("--num-classes", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the rows here")
    parser.add_argument("--rescore", default=None, metavar="JSON",
                        help="measure nothing: score the predictors again on a saved run's points")
    args = parser.parse_args()
    if args.rescore:
        print_rows(rescore(json.loads(Path(args.rescore).read_text())["points"]))
        return
    torch.set_num_threads(1)
    header = {"date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "machine": platform.processor() or
              platform.machine(), "cpus": os.cpu_count(), "torch": torch.__version__,
              "load_average_start": [round(v, 2) for v in os.getloadavg()], "args": vars(args)}
    print(json.dumps(header))
    all_rows, infos, all_points = [], [], {}
    for name in args.spaces:
        rows, info, all_points[name] = run_space(name, args)
        info["load_average_end"] = [round(v, 2) for v in os.getloadavg()]
        all_rows += rows
        infos.append(info)
        print(json.dumps(info))
        print_rows(rows)
        sys.stdout.flush()
        if args.json:  # after every space, so a long run's finished spaces are kept
            Path(args.json).write_text(json.dumps({"header": header, "spaces": infos, "rows": all_rows,
                                                    "points": all_points}, indent=1))


if __name__ == "__main__":
    main()
