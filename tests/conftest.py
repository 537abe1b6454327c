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
