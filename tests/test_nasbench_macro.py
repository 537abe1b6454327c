"""NAS-Bench-Macro: the space builds the benchmark's networks (parameter counts equal the
table's), the table loads as an objective, and search on it beats random search."""

import json

import numpy as np
import pytest

from nasforge import benchmarks, spaces, strategies
from nasforge.core import Arch, Fidelity, UserInputError
from nasforge.spaces._nasbench_macro import CHOICES, key

from conftest import shared_file


@pytest.fixture(scope="module")
def table_path():
    return shared_file("nas-bench-macro_cifar10.json")


def test_parameter_counts_equal_the_benchmark_table(table_path):
    raw = json.loads(table_path.read_text())
    space = spaces.get("nasbench-macro")
    keys = sorted(raw)[::33]  # 199 of the 6,561 networks, spread over the table
    for k in keys:
        arch = Arch("nasbench-macro", {f"layer{i}": CHOICES[int(c)] for i, c in enumerate(k)})
        assert key(arch) == k
        model = space.build(arch, (3, 32, 32), 10)
        assert sum(p.numel() for p in model.parameters()) == raw[k]["params"], k


def test_the_table_is_an_objective_and_evolution_beats_random(table_path):
    bench = benchmarks.nasbench_macro(table_path, noisy=False)
    assert len(bench.table) == 6561 == spaces.get("nasbench-macro").size
    best_key, best = bench.best()
    space = bench.space

    def regret(name, seed, n=60):
        s = strategies.get(name, space, seed=seed)
        top = 0.0
        for _ in range(n):
            req = s.ask()
            res = bench.evaluate(req.arch, Fidelity(), seed)
            s.tell(req, res)
            top = max(top, res.metrics["val_accuracy"])
        return best / 100 - top

    evo = np.mean([regret("evolution", s) for s in range(10)])
    rnd = np.mean([regret("random", s) for s in range(10)])
    assert evo < rnd, (evo, rnd)


def test_missing_table_says_where_to_get_it(tmp_path):
    with pytest.raises(UserInputError, match="NASFORGE_NASBENCH_MACRO"):
        benchmarks.nasbench_macro(tmp_path / "nope.json")
