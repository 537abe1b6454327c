"""benchmarks/budgeted_search.py's tables: the random test splits and the mean per table and system."""

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from nasforge import data

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "budgeted_search.py"


@pytest.fixture(scope="module")
def bench():
    pytest.importorskip("sklearn")
    spec = importlib.util.spec_from_file_location("budgeted_search", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def rows_of(x):
    return {r.tobytes() for r in np.asarray(x, np.float32)}


def test_each_split_holds_out_its_own_fifth_and_nasforge_tests_on_it(bench, tmp_path):
    one = bench.write_tables(tmp_path / "one")
    assert [Path(p).name for p in one] == ["breast-cancer.npz", "wine.npz", "synthetic.npz"]
    paths = bench.write_tables(tmp_path / "split", 2)
    assert [Path(p).name for p in paths][:2] == ["breast-cancer-split0.npz", "breast-cancer-split1.npz"]
    assert len(paths) == 6
    whole = np.load(one[1])  # wine
    tests = []
    for path in paths[2:4]:
        f = np.load(path)
        assert len(f["y_test"]) == len(whole["y"]) // 5 and len(f["y"]) + len(f["y_test"]) == len(whole["y"])
        assert rows_of(f["x"]).isdisjoint(rows_of(f["x_test"]))
        assert rows_of(f["x"]) | rows_of(f["x_test"]) == rows_of(whole["x"])
        x_test, _ = data.load(path).test()
        assert len(x_test) == len(f["y_test"])  # the file's test rows are the ones nasforge tests on
        tests.append(rows_of(f["x_test"]))
    assert tests[0] != tests[1]  # each split its own


def test_the_means_count_runs_at_or_above_the_better_baseline(bench, capsys):
    def run(dataset, system, acc, lr, gb):
        return {"dataset": dataset, "system": system, "test_accuracy": acc,  # baselines as fit_baselines gives them
                "baselines": {"logistic_regression": {"test_accuracy": lr}, "gradient_boosting": {"test_accuracy": gb},
                              "best": "logistic_regression" if lr >= gb else "gradient_boosting"}}

    bench.print_table_means([run("t/wine-split0.npz", "auto", 0.9, 0.8, 0.9),
                             run("t/wine-split1.npz", "auto", 0.7, 0.8, 0.6),
                             run("t/wine-split0.npz", "auto-recipe", 1.0, 0.8, 0.9)])
    lines = capsys.readouterr().out.splitlines()
    assert "| wine | auto | 2 | 0.8000 | 0.8500 | 1 |" in lines
    assert "| wine | auto-recipe | 1 | 1.0000 | 0.9000 | 1 |" in lines


def test_the_table_says_which_precision_auto_chose(bench):
    row = {"precision": "auto", "training_conditions": {"final_precision": "bf16"}}
    assert bench.precision_cell(row) == "auto → bf16"
    assert bench.precision_cell({"precision": "fp32", "training_conditions": {"final_precision": "fp32"}}) == "fp32"
    assert bench.precision_cell({"precision": "auto", "training_conditions": None}) == "auto"  # older results
