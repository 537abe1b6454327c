"""nasforge's MNIST-1D benchmark: the generator (study runtime, resumable, packed table)
and the multi-fidelity lookup, on a three-cell table made here with real training."""

import importlib.util
import os
import subprocess
import sys
import types
from collections import Counter
from pathlib import Path

import pytest

from nasforge.benchmarks import mnist1d_table
from nasforge.core import DatasetNotFoundError, Fidelity
from nasforge.spaces import nb201

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "mnist1d_nb201.py"


def load_generator():
    spec = importlib.util.spec_from_file_location("mnist1d_gen", SCRIPT)
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    return gen


def test_the_generator_trains_twice_trained_cells_first_and_refuses_other_settings():
    gen = load_generator()
    items = gen.todo({})
    keys = [nb201.canonical(a) for a, _ in items]
    assert len(items) == 4930 + gen.SECOND_PASS and len(set(keys)) == 4930
    head = items[:2 * gen.SECOND_PASS]
    assert [run for _, run in head] == [0, 1] * gen.SECOND_PASS and keys[0:2 * gen.SECOND_PASS:2] == keys[1::2][:gen.SECOND_PASS]
    assert {run for _, run in items[2 * gen.SECOND_PASS:]} == {0}
    assert gen.todo({keys[0]: 1})[0] == items[1]  # a cell trained once gets its second run next
    # a fixed random order, not the enumeration order: a partial table is a uniform sample
    def first_edge_shares(archs):
        ops = Counter(nb201.to_string(a).split("|")[1].split("~")[0] for a in archs)
        return {op: n / len(archs) for op, n in ops.items()}

    everywhere, early = first_edge_shares(nb201.unique_archs()), first_edge_shares([a for a, _ in items[:1000]])
    assert all(abs(early.get(op, 0.0) - share) < 0.05 for op, share in everywhere.items())
    gen.check_setting(gen.setting(), "here")
    with pytest.raises(SystemExit, match="another setting"):
        gen.check_setting({**gen.setting(), "epochs": 200}, "an old table")


@pytest.fixture(scope="module")
def small_table(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mnist1d")
    gen = load_generator()
    gen.TABLE, gen.EPOCHS = tmp / "t.json.gz", 2
    full_todo = gen.todo
    with_conv = [a for a, run in full_todo({}) if run == 0 and nb201.to_string(a).count("nor_conv_3x3") >= 2]
    sizes = Counter(nb201.canonical(a) for a in nb201.all_archs())
    with_twins = next(a for a in with_conv if sizes[nb201.canonical(a)] > 1)
    # three cells that can learn, one of them with isomorphic twins; first pass only
    chosen = {nb201.canonical(a) for a in with_conv[:2] + [with_twins]}
    gen.todo = lambda done: [(a, run) for a, run in full_todo(done) if nb201.canonical(a) in chosen and run == 0]
    args = types.SimpleNamespace(study=str(tmp / "s.db"), hours=1.0, workers=1)
    gen.generate(args)
    gen.generate(args)  # resumed: nothing left to do, nothing repeated
    gen.pack(args)
    gen.pack(args)  # packing twice adds nothing
    return tmp / "t.json.gz"


def test_the_table_holds_real_curves_and_the_epoch_fidelity_reads_them(small_table):
    bench = mnist1d_table(small_table, noisy=False)
    assert len(bench.table) == 3 and all(len(r["curves"]) == 1 for r in bench.table.values())
    arch = nb201.from_string(next(iter(bench.table.values()))["arch"])
    one, two = bench.evaluate(arch, Fidelity(epochs=1), 0), bench.evaluate(arch, Fidelity(epochs=2), 0)
    rec = bench.record(arch)
    assert one.metrics["val_accuracy"] == rec["curves"][0][0] and two.metrics["val_accuracy"] == rec["curves"][0][1]
    assert one.cost_s == pytest.approx(two.cost_s / 2)
    assert "test_accuracy" in two.metrics and "test_accuracy" not in one.metrics
    assert 0.2 < two.metrics["test_accuracy"] <= 1.0  # chance is 0.1 and rec["params"] > 0 and rec["latency_ms"] > 0


def test_an_isomorphic_cell_reads_the_same_entry(small_table):
    bench = mnist1d_table(small_table, noisy=False)
    groups = [[a for a in nb201.all_archs() if nb201.canonical(a) == key] for key in bench.table]
    members = max(groups, key=len)
    assert len(members) > 1
    assert len({bench.evaluate(a, Fidelity(epochs=2), 0).metrics["val_accuracy"] for a in members}) == 1


def test_cli_search_on_the_benchmark_and_a_missing_table(small_table, tmp_path):
    env = {**os.environ, "NASFORGE_MNIST1D_NB201": str(small_table)}
    run = subprocess.run([sys.executable, "-m", "nasforge.cli", "search", "--benchmark", "mnist1d-nb201",
                          "--strategy", "random", "--trials", "5", "--epochs", "1", "--study", "s.db", "--quiet",
                          "--max-failures", "10"], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert run.returncode == 0, run.stderr
    with pytest.raises(DatasetNotFoundError, match="generate it with"):
        mnist1d_table(tmp_path / "missing.json.gz")
