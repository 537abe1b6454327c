"""A deterministic, instant objective over any DecisionSpace, for testing study and
strategy *logic* (the real trainer is tested on real data elsewhere)."""

import time

import numpy as np

from nasforge.core import Estimator, Result, TrialStatus


class MatchTarget(Estimator):
    """Score = fraction of decisions equal to a hidden target architecture (+ seeded noise)."""

    def __init__(self, space, target_seed=99, noise=0.0, sleep=0.0, fail_every=0, interrupt_at=(), crash_mod=0,
                 hang_mod=0, allocate_mod=0):
        self.space = space
        self.target = space.sample(np.random.default_rng(target_seed))
        self.noise, self.sleep, self.fail_every = noise, sleep, fail_every
        self.interrupt_at = set(interrupt_at)
        self.crash_mod, self.hang_mod, self.allocate_mod = crash_mod, hang_mod, allocate_mod
        self.calls = 0

    def evaluate(self, arch, fidelity, seed, on_epoch=None):
        self.calls += 1
        if self.calls in self.interrupt_at:
            raise KeyboardInterrupt
        if self.sleep:
            time.sleep(self.sleep)
        h = int(arch.digest, 16)
        if self.crash_mod and h % self.crash_mod == 0:
            import os
            import signal

            os.kill(os.getpid(), signal.SIGSEGV)
        if self.hang_mod and h % self.hang_mod == 1:
            time.sleep(3600)
        if self.allocate_mod and h % self.allocate_mod == 2:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
            hog = []
            while True:  # allocate without bound until the address-space limit stops us
                hog.append(bytearray(64 << 20))
        if self.fail_every and self.calls % self.fail_every == 0:
            return Result(TrialStatus.FAILED, fidelity=fidelity.to_dict(), error="RuntimeError: injected failure")
        match = np.mean([arch[k] == v for k, v in self.target.decisions.items()])
        score = float(match + self.noise * np.random.default_rng(seed).normal())
        return Result(TrialStatus.OK, {"val_accuracy": score}, [{"epoch": 1, "val_accuracy": score}], fidelity.to_dict(), 0.0)


def slow_to_start(seconds, **kwargs):
    """An estimator factory that takes ``seconds`` to build (as a worker loading a large data set on a
    busy machine does); picklable by reference for worker processes."""
    from nasforge import spaces

    time.sleep(seconds)
    return MatchTarget(spaces.get("macro-cnn"), **kwargs)


def write_table(tmp_path, n=150, name="table.npz", seed=0, classes=3):
    """A small table of 3 (or 2) classes as an ``.npz`` (columns on different scales, as in real
    tables); its path."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, 6)) * np.array([1, 10, 100, 0.1, 1, 1000])
    y = (x[:, 0] + x[:, 1] / 10 > 0).astype(int) + (classes == 3) * (x[:, 2] > 50)
    np.savez(tmp_path / name, x=x.astype(np.float32), y=y)
    return str(tmp_path / name)
