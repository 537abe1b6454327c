"""Search spaces from YAML/JSON files: both families build, search and fail clearly."""

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from nasforge import data, spaces
from nasforge.core import Arch, SpaceDefinitionError, UserInputError

EXAMPLES = Path(__file__).parent.parent / "examples"


@pytest.fixture(scope="module")
def batch():
    ds = data.load("digits")
    return ds.x_train[:16], ds.y_train[:16]


@pytest.mark.parametrize("name", ["small_cnn.yaml", "mlp.yaml"])
def test_example_files_sample_build_train_and_round_trip(name, batch):
    space = spaces.get(str(EXAMPLES / name))
    rng = np.random.default_rng(0)
    x, y = batch
    lengths = set()
    for _ in range(40):
        arch = space.sample(rng)
        model = space.build(arch, tuple(x.shape[1:]), 10)
        loss = torch.nn.functional.cross_entropy(model(x), y)
        loss.backward()
        assert torch.isfinite(loss)
        space.validate(space.mutate(arch, rng))
        space.validate(space.crossover(arch, space.sample(rng), rng))
        assert Arch.from_json(arch.to_json()) == arch
        lengths.add(len(space.encode(arch)))
    assert len(lengths) == 1


def test_macro_file_choices_are_the_space(tmp_path):
    f = tmp_path / "s.json"
    f.write_text(json.dumps({"family": "macro", "stem": [8],
                             "stages": [{"op": ["conv3x3", "sep3x3"], "blocks": [1], "width": [16],
                                         "down": [False], "residual": [True]}]}))
    space = spaces.get(str(f))
    assert space.size == 2
    assert {space.sample(np.random.default_rng(i))["s0.op"] for i in range(20)} == {"conv3x3", "sep3x3"}


def test_layers_file_training_choices_reach_the_trainer(tmp_path):
    f = tmp_path / "t.yaml"
    f.write_text("family: layers\nlayers:\n  - conv: {channels: {choice: [4, 8]}}\n  - pool: max\n"
                 "training:\n  lr: {float: [0.001, 0.01], log: true}\n")
    space = spaces.get(str(f))
    arch = space.sample(np.random.default_rng(0))
    assert 0.001 <= space.training_config(arch)["lr"] <= 0.01
    assert space.build(arch, (1, 8, 8), 10)(torch.randn(2, 1, 8, 8)).shape == (2, 10)


@pytest.mark.parametrize("text, message", [
    ("family: macro\nstages:\n  - {op: [conv9x9]}\n", "stage 0 op: unknown op 'conv9x9'; known: conv3x3"),
    ("family: macro\nstages:\n  - {width: [0]}\n", "stage 0 width: 0 is not a positive integer"),
    ("family: macro\nstages:\n  - {kernel: [3]}\n", "unknown key(s) ['kernel']"),
    ("family: macro\n", "needs 'stages'"),
    ("family: graph\n", "unknown family 'graph'; known: macro, layers"),
    ("family: layers\nlayers:\n  - lstm: 3\n", "layer 0: unknown layer"),
    ("family: layers\nlayers:\n  - flatten\ntraining:\n  momentum: 0.9\n", "unknown setting 'momentum'"),
    ("family: [unclosed\n", "not valid YAML"),
    ("- just a list\n", "a space file is a mapping"),
])
def test_bad_space_files_name_the_problem(tmp_path, text, message):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(SpaceDefinitionError) as info:
        spaces.get(str(f))
    assert message in str(info.value)


def test_missing_file_and_options_are_user_errors(tmp_path):
    with pytest.raises(UserInputError, match="does not exist"):
        spaces.get(str(tmp_path / "nope.yaml"))
    with pytest.raises(UserInputError, match="takes no options"):
        spaces.get(str(EXAMPLES / "mlp.yaml"), depth=3)


def test_search_and_resume_a_file_space_from_the_cli(tmp_path):
    cmd = [sys.executable, "-m", "nasforge.cli", "search", "--space", str(EXAMPLES / "small_cnn.yaml"),
           "--dataset", "digits", "--trials", "2", "--epochs", "1", "--study", "s.db", "--quiet"]
    first = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert first.returncode == 0, first.stderr
    cmd[cmd.index("--trials") + 1] = "3"
    again = subprocess.run(cmd, capture_output=True, text=True, cwd=tmp_path, timeout=300)
    assert again.returncode == 0, again.stderr
    assert "Resuming study" in again.stdout and "3 trials finished" in again.stdout


@pytest.mark.parametrize("text, message", [
    ("family: layers\nlayers:\n  - {conv: 16, kernel: 5}\n", "one layer per entry"),
    ("family: layers\nlayers:\n  - dropout\n", "'dropout' needs a value"),
    ("family: layers\nlayers:\n  - activation: swish\n", "'swish' is not allowed; activation takes one of relu, gelu"),
    ("family: layers\nlayers:\n  - {repeat: 2, layers: [flatten], times: 3}\n", "got also ['times']"),
    ("family: macro\nstages:\n  - conv3x3\n", "stage 0: expected a dict of choices"),
])
def test_layer_and_stage_mistakes_fail_when_the_file_loads(tmp_path, text, message):
    f = tmp_path / "bad.yaml"
    f.write_text(text)
    with pytest.raises(SpaceDefinitionError) as info:
        spaces.get(str(f))
    assert message in str(info.value)


def test_repeat_blocks_in_either_key_order_and_even_kernels_build(tmp_path):
    f = tmp_path / "ok.yaml"
    f.write_text("family: layers\nlayers:\n  - {layers: [{conv: {channels: 4, kernel: 4}}], repeat: 2}\n"
                 "  - flatten\n  - linear: 8\n")
    space = spaces.get(str(f))
    arch = space.sample(np.random.default_rng(0))
    assert space.build(arch, (1, 8, 8), 10)(torch.randn(2, 1, 8, 8)).shape == (2, 10)


def test_a_single_stem_width_is_a_valid_choice():
    space = spaces.get("macro-cnn", stem=32, stages=[{"op": "conv3x3"}])
    assert space.sample(np.random.default_rng(0))["stem"] == 32
