"""nasforge's MNIST-1D benchmark: the generator (study runtime, resumable, packed table)
and the multi-fidelity lookup, on a three-cell table made here with real training."""

import importlib.util
import os
import subprocess
import sys
import types
from pathlib import Path

import pytest

from nasforge.benchmarks import mnist1d_table
from nasforge.errors import DatasetNotFoundError
from nasforge.estimation import Fidelity
from nasforge.spaces import nb201

SCRIPT = Path(__file__).parent.parent / "benchmarks" / "mnist1d_nb201.py"


@pytest.fixture(scope="module")
def small_table(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("mnist1d")
    spec = importlib.util.spec_from_file_location("mnist1d_gen", SCRIPT)
    gen = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(gen)
    gen.TABLE, gen.EPOCHS = tmp / "t.json.gz", 2
    full_todo = gen.todo
    with_conv = [a for a, run in full_todo({}) if run == 0 and nb201.to_string(a).count("nor_conv_3x3") >= 2]
    chosen = {nb201.canonical(a) for a in with_conv[:3]}  # three cells that can learn, first pass only
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
    key = next(iter(bench.table))
    members = [a for a in nb201.all_archs() if nb201.canonical(a) == key]
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
