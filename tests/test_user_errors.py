"""Bad input is answered in one line on stderr with exit status 2, no traceback, and no study file
created or changed (issue 18, items 6 and 8-13), run as a user would: real `nasforge` processes on
tiny data. Checks that need no process (every form of a bad space file, every .npz mistake) run
in-process, where they are cheap."""

import hashlib
import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from conftest import run_cli, run_cli_here
from nasforge import data, spaces
from nasforge.core import SpaceDefinitionError, UserInputError

QUICK = ["--dataset", "digits", "--strategy", "random", "--trials", "1", "--epochs", "1", "--subset", "0.1",
         "--quiet"]


def digest(path):
    return hashlib.sha256(path.read_bytes()).hexdigest() if path.exists() else None


def assert_one_line(proc, expected):
    """Exit 2, and stderr is exactly one line holding ``expected``."""
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert len(lines) == 1 and expected in lines[0], proc.stderr
    assert "New study" not in proc.stdout


def search_fails(tmp_path, expected, *args):
    """A search that must be refused before it creates its study file."""
    study = tmp_path / "s.db"
    assert_one_line(run_cli_here("search", *args, "--study", study, cwd=tmp_path), expected)
    assert not study.exists()


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A one-trial study to point train/export/show at."""
    import nasforge

    path = tmp_path_factory.mktemp("study") / "s.db"
    # closed here: an open study keeps s.db-wal beside the file, and the close that folds it into s.db
    # came from the garbage collector at a random later moment, once in the middle of a digest check
    nasforge.search(study=path, trials=1, dataset="digits", strategy="random", epochs=1, subset=0.1).close()
    return path


def write_space(tmp_path, doc):
    path = tmp_path / "space.json"
    path.write_text(json.dumps(doc))
    return str(path)


# -- item 6: output paths and closed pipes ------------------------------------------------------

@pytest.mark.parametrize("args, expected", [
    (["export", "--format", "torchscript", "--out", "{dir}"], "--out '{dir}' is a folder; give the file to write"),
    (["export", "--format", "torchscript", "--out", "{file}/m.pt"], "is under '{file}', which is a file"),
    (["train", "--epochs", "1", "--out", "{file}"], "--out '{file}' is a file; give a folder"),
    (["train", "--epochs", "1", "--out", "{file}/sub"], "is under '{file}', which is a file"),
])
def test_output_paths_that_cannot_be_written_are_refused_first(tmp_path, study, args, expected):
    (tmp_path / "folder").mkdir()
    (tmp_path / "notes.txt").write_text("keep me")
    names = {"dir": str(tmp_path / "folder"), "file": str(tmp_path / "notes.txt")}
    before = digest(study)
    proc = run_cli_here(*[a.format(**names) for a in args], "--study", study)
    assert_one_line(proc, expected.format(**names))
    assert digest(study) == before and (tmp_path / "notes.txt").read_text() == "keep me"


def test_auto_out_on_a_file_is_refused(tmp_path):
    (tmp_path / "notes.txt").write_text("keep me")
    proc = run_cli("auto", "--dataset", "digits", "--time-budget", "5", "--out", tmp_path / "notes.txt")
    assert_one_line(proc, "is a file; give a folder")
    assert (tmp_path / "notes.txt").read_text() == "keep me"


@pytest.mark.parametrize("args", [["show", "--json"], ["show", "--format", "csv"], ["show"], ["strategies"]])
def test_a_closed_output_pipe_ends_quietly(study, args):
    read, write = os.pipe()
    os.close(read)  # the reader went away, as `head -1` does once it has its line
    try:
        proc = subprocess.run([sys.executable, "-m", "nasforge.cli", *[str(a) for a in args],
                               *(["--study", str(study)] if args[0] == "show" else [])],
                              stdout=write, stderr=subprocess.PIPE, text=True, timeout=120)
    finally:
        os.close(write)
    assert proc.stderr == "" and proc.returncode == 141


# -- item 8 and 12: layers space files ---------------------------------------------------------

@pytest.mark.parametrize("layers, expected", [
    (["flatten", {"linear": -5}], "layer 1 (linear): -5 is not allowed; linear takes a positive integer"),
    (["flatten", {"linear": 0}], "layer 1 (linear): 0 is not allowed"),
    (["flatten", 0], "layer 1: unknown layer 0"),
    ([{"conv": -8}], "layer 0 (conv): -8 is not allowed; conv takes a positive integer (channels)"),
    (["flatten", {"repeat": -2, "layers": [{"linear": 8}]}], "layer 1 (repeat): -2 is not allowed; repeat takes an "
                                                             "integer >= 0"),
    (["flatten", {"conv": 8}], "layer 1 (conv): conv needs (C, L) or (C, H, W) samples"),  # item 12
])
def test_bad_layers_files_are_refused_before_the_study_exists(tmp_path, layers, expected):
    space = write_space(tmp_path, {"family": "layers", "layers": layers})
    search_fails(tmp_path, expected, "--space", space, *QUICK)


@pytest.mark.parametrize("layers, expected", [
    (["flatten", {"linear": 2.5}], "2.5 is not allowed; linear takes a positive integer"),
    (["flatten", {"linear": {"int": [50, 10]}}], "{int: [50, 10]} needs low <= high"),
    (["flatten", {"linear": {"int": [8, 64], "step": 8}}], "a value is a literal or one of"),
    (["flatten", {"linear": {"choice": [16, -1]}}], "-1 is not allowed"),
    (["flatten", {"dropout": 1.5}], "1.5 is not allowed; dropout takes a probability in [0, 1)"),
    (["flatten", {"activation": {"choice": ["relu", "swish"]}}], "'swish' is not allowed; activation takes one of"),
    ([{"pool": "min"}], "'min' is not allowed; pool takes 'max' or 'avg'"),
    ([{"flatten": 3}], "'flatten' takes no value; got 3"),
    ([{"conv": {"channels": 8, "stride": 2}}], "conv takes 'channels' and 'kernel'"),
    ([{"conv": {"channels": 8, "kernel": 0}}], "kernel: 0 is not allowed"),
    ([{"repeat": {"int": [1, 2]}, "layers": [{"conv": 4}, "flatten"]}], "repeated: layer 0 (conv): conv needs"),
    ([{"repeat": {"int": [0, 1]}, "layers": ["flatten"]}, {"pool": "max"}], "layer 1 (pool): pool needs"),
])
def test_every_value_of_a_layers_file_is_checked_when_it_loads(tmp_path, layers, expected):
    with pytest.raises(SpaceDefinitionError) as info:
        spaces.get(write_space(tmp_path, {"family": "layers", "layers": layers}))
    assert expected in str(info.value)


def test_layers_that_can_run_still_load(tmp_path):
    space = spaces.get(write_space(tmp_path, {"family": "layers", "layers": [
        {"repeat": {"int": [0, 2]}, "layers": [{"conv": {"channels": {"choice": [4, 8]}, "kernel": 3}},
                                                {"pool": "max"}]},
        {"repeat": 1, "layers": [{"conv": 4}, "flatten"]}, {"linear": {"int": [8, 32, 8]}},
        {"dropout": {"float": [0.0, 0.5]}}, {"activation": "gelu"}, "batchnorm"]}))
    for seed in range(4):
        arch = space.sample(np.random.default_rng(seed))
        assert space.build(arch, (1, 8, 8), 10)(torch.randn(2, 1, 8, 8)).shape == (2, 10)


# -- items 9 and 13: .npz data sets -----------------------------------------------------------

def npz(tmp_path, **arrays):
    path = tmp_path / "d.npz"
    np.savez(path, **arrays)
    return str(path)


def images(n, seed=0, shape=(8, 8)):
    rng = np.random.default_rng(seed)
    return rng.random((n, *shape)).astype(np.float32), np.arange(n) % 3


def test_nan_in_x_is_refused_with_count_and_position(tmp_path):
    x, y = images(120)
    x[7, 2, 3], x[9, 0, 0], x[50, 1, 1] = np.nan, np.inf, np.nan
    search_fails(tmp_path, "'x' has 3 value(s) that are not finite (2 NaN, 1 infinite), the first at x[7, 2, 3]",
                 "--dataset", npz(tmp_path, x=x, y=y), *QUICK[2:])


@pytest.mark.parametrize("extra, expected", [
    ({"x_test": images(20, shape=(8, 8, 1))[0], "y_test": images(20)[1]},
     "'x_test' samples have shape (8, 8, 1) but 'x' samples have (8, 8)"),
    ({"x_test": images(20)[0]}, "has 'x_test' but no 'y_test'; a test split needs both"),
])
def test_a_test_split_unlike_the_training_data_is_refused(tmp_path, extra, expected):
    x, y = images(120)
    search_fails(tmp_path, expected, "--dataset", npz(tmp_path, x=x, y=y, **extra), *QUICK[2:])


@pytest.mark.parametrize("arrays, expected", [
    ({"y_test": np.arange(20) % 3}, "has 'y_test' but no 'x_test'"),
    ({"x_test": images(20)[0], "y_test": np.arange(19) % 3}, "'x_test' has 20 samples but 'y_test' has 19"),
    ({"x_test": np.full((20, 8, 8), np.inf), "y_test": np.arange(20) % 3}, "'x_test' has 1280 value(s) that are not"),
    ({"y": np.where(np.arange(120) == 4, np.nan, np.arange(120) % 3)}, "'y' has 1 value(s) that are not finite"),
    ({"y": np.eye(3)[np.arange(120) % 3]}, "one label per sample, shape (N,) or (N, 1); got shape (120, 3)"),
    ({"x_train": images(120)[0], "y_train": images(120)[1]}, "has both 'x'/'y' and 'x_train'/'y_train'"),
])
def test_npz_mistakes_name_the_array(tmp_path, arrays, expected):
    x, y = images(120)
    with pytest.raises(UserInputError) as info:
        data.load(npz(tmp_path, **{"x": x, "y": y, **arrays}))
    assert expected in str(info.value)


def test_keras_style_npz_files_are_accepted(tmp_path):
    x, y = images(150)
    path = npz(tmp_path, x_train=x[:120], y_train=y[:120, None], x_test=x[120:], y_test=y[120:, None])
    ds = data.load(path)
    assert ds.input_shape == (1, 8, 8) and ds.num_classes == 3 and len(ds.y_train) + len(ds.y_val) == 120
    assert len(ds.test()[1]) == 30
    proc = run_cli("search", "--dataset", path, *QUICK[2:], "--study", tmp_path / "k.db")
    assert proc.returncode == 0, proc.stderr
    with pytest.raises(UserInputError, match="needs arrays 'x' and 'y' \\(or Keras-style 'x_train' and 'y_train'\\)"):
        data.load(npz(tmp_path, x_train=x))


# -- item 10: options, usage mistakes and training settings -------------------------------------

def test_a_usage_mistake_is_one_line_with_where_the_help_is(tmp_path):
    proc = run_cli_here("search", "--epochs", "0", "--study", tmp_path / "s.db")
    assert_one_line(proc, "nasforge search: error: argument --epochs: expected a positive integer, got '0'; "
                          "see `nasforge search --help`")
    assert not (tmp_path / "s.db").exists()


@pytest.mark.parametrize("args, expected", [
    (["--space-option", "nosuch=1"], "unknown option(s) ['nosuch'] for space 'macro-cnn'; known: num_stages "
                                     "(default 3), stem (default None), stages (default None)"),
    (["--train-option", "nosuch=1"], "unknown training option(s) ['nosuch']; known: batch_size (default 64), "
                                     "lr (default 0.003)"),
    (["--train-option", "lr=-1"], "The 'lr' training option must be a positive number. Got -1 instead."),
    (["--train-option", "device=gpu"], "The 'device' training option must be 'auto', 'cpu', 'cuda'"),
])
def test_bad_options_are_refused_with_what_is_allowed(tmp_path, args, expected):
    search_fails(tmp_path, expected, *args, *QUICK)


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
def test_a_device_this_machine_lacks_is_refused_before_the_first_trial(tmp_path):
    search_fails(tmp_path, "training device 'cuda' is not available: this machine has 0 CUDA device(s)",
                 "--train-option", "device=cuda", *QUICK)


def test_a_space_choosing_training_settings_that_cannot_work_is_refused(tmp_path):
    space = write_space(tmp_path, {"family": "layers", "layers": ["flatten", {"linear": 8}],
                                   "training": {"lr": -1}})
    search_fails(tmp_path, f"space {space!r} chooses training settings that cannot work: The 'lr' training option "
                           "must be a positive number. Got -1 instead.", "--space", space, *QUICK)
    code = tmp_path / "dbr.py"
    code.write_text("from torch import nn\n\n\ndef build(hp):\n    hp.training(batch_size=hp.choice('b', [0, 1]))\n"
                    "    return nn.Sequential(nn.Flatten(), nn.LazyLinear(hp.num_classes))\n")
    search_fails(tmp_path, "The 'batch_size' training option must be an int >= 2", "--space", f"{code}:build", *QUICK)


def test_a_change_that_cannot_run_is_not_recorded_in_the_study(tmp_path, study):
    copy = tmp_path / "copy.db"
    copy.write_bytes(study.read_bytes())
    proc = run_cli_here("search", "--study", copy, "--dataset", "digits", "--strategy", "random", "--epochs", "1",
                   "--subset", "0.1", "--trials", "2", "--train-option", "lr=-1", "--allow-changes")
    assert_one_line(proc, "The 'lr' training option must be a positive number. Got -1 instead.")
    assert digest(copy) == digest(study)
