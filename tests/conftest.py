import contextlib
import os
import sys
from pathlib import Path

import pytest

# Tests check behaviour, not speed: one torch thread per process (subprocesses inherit it)
# keeps tiny test models fast and avoids PyTorch's multi-thread collapse on a loaded machine.
os.environ.setdefault("OMP_NUM_THREADS", "1")

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = ROOT / "examples"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Each test session caches generated data (MNIST-1D) in its own folder."""
    monkeypatch.setenv("NASFORGE_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture(scope="session")
def digits():
    from nasforge import data

    return data.load("digits")


@pytest.fixture(scope="session")
def mlp_space():
    from nasforge import spaces

    return spaces.get(f"{EXAMPLES / 'kerastuner_mlp.py'}:build_model")


def run_cli(*args, cwd=None, timeout=600, env=None):
    """Run the real `nasforge` command in a subprocess."""
    import subprocess

    return subprocess.run([sys.executable, "-m", "nasforge.cli", *map(str, args)], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, env={**os.environ, **(env or {})})


def run_cli_here(*args, cwd=None):
    """The `nasforge` command's ``main`` run in this process, for checks that end before any work
    (user errors) and for studies on benchmark tables, which train nothing: the same code as the
    program less the interpreter's start and torch's import, ~3.5 s a call on 2 cores. The entry
    point itself is covered by the tests that use :func:`run_cli`."""
    import contextlib
    import io
    import subprocess

    from nasforge.cli import main

    out, err, previous = io.StringIO(), io.StringIO(), os.getcwd()
    try:
        if cwd is not None:
            os.chdir(cwd)
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                code = main([str(a) for a in args])
            except SystemExit as exc:  # argparse's usage errors
                code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    finally:
        os.chdir(previous)
    return subprocess.CompletedProcess(args, code, out.getvalue(), err.getvalue())


SHARED_DATA = ROOT.parent / "shared" / "data"


def shared_file(name):
    """A reference table from ../shared/data (always present in CI; skipped elsewhere)."""
    path = SHARED_DATA / name
    if not path.exists():
        if os.environ.get("CI"):
            raise FileNotFoundError(f"{path} is missing; CI must have ../shared/data")
        pytest.skip(f"{path} not available outside the project workspace")
    return path


@contextlib.contextmanager
def ctrl_c_in_supernet_epoch(epoch: int):
    """Inside the block, a one-shot supernet training is interrupted (as by Ctrl-C) in its ``epoch``-th
    epoch of this process, to test that a killed run resumes."""
    from nasforge.oneshot import _training

    real, calls = _training.SupernetTraining.run_epoch, {"n": 0}

    def run_epoch(self):
        calls["n"] += 1
        if calls["n"] == epoch:
            raise KeyboardInterrupt
        return real(self)

    _training.SupernetTraining.run_epoch = run_epoch
    try:
        yield
    finally:
        _training.SupernetTraining.run_epoch = real


def train_oneshot(supernet, method, epochs_run, x, y, val=8, checkpoint=None, load=None, **options):
    """A one-shot training of ``supernet`` (3 epochs planned, batches of 8, the first ``val`` samples as
    validation) run ``epochs_run`` epochs, after loading ``load`` and before saving ``checkpoint``."""
    from nasforge.oneshot import OneShotConfig, make_training

    config = OneShotConfig(method=method, epochs=3, batch_size=8, **options)
    t = make_training(supernet, config, x, y, x[:val], y[:val])
    if load is not None:
        t.load(load)
    for _ in range(epochs_run):
        t.run_epoch()
    if checkpoint is not None:
        t.save(checkpoint)
    return t


def full_and_killed_then_resumed(cli_args, tmp_path):
    """(storage, spec) of an uninterrupted ``nasforge oneshot`` run and the storage of one killed in its
    2nd epoch and rerun; ``cli_args(study_path)`` gives the command line."""
    from nasforge import cli
    from nasforge.api import open_storage

    assert cli.main(cli_args(tmp_path / "full.db")) == 0
    with ctrl_c_in_supernet_epoch(2):
        assert cli.main(cli_args(tmp_path / "killed.db")) == 130
    assert cli.main(cli_args(tmp_path / "killed.db")) == 0
    full, spec = open_storage(tmp_path / "full.db")
    return full, spec, open_storage(tmp_path / "killed.db")[0]
