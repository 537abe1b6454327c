"""A deterministic, instant objective over any DecisionSpace, for testing study and
strategy *logic* (the real trainer is tested on real data elsewhere)."""

import time

import numpy as np

from nasforge.estimation import FAILED, OK, Estimator, Result


class MatchTarget(Estimator):
    """Score = fraction of decisions equal to a hidden target architecture (+ seeded noise)."""

    def __init__(self, space, target_seed=99, noise=0.0, sleep=0.0, fail_every=0, interrupt_at=()):
        self.space = space
        self.target = space.sample(np.random.default_rng(target_seed))
        self.noise, self.sleep, self.fail_every = noise, sleep, fail_every
        self.interrupt_at = set(interrupt_at)
        self.calls = 0

    def evaluate(self, arch, fidelity, seed, on_epoch=None):
        self.calls += 1
        if self.calls in self.interrupt_at:
            raise KeyboardInterrupt
        if self.sleep:
            time.sleep(self.sleep)
        if self.fail_every and self.calls % self.fail_every == 0:
            return Result(FAILED, fidelity=fidelity.to_dict(), error="RuntimeError: injected failure")
        match = np.mean([arch[k] == v for k, v in self.target.decisions.items()])
        score = float(match + self.noise * np.random.default_rng(seed).normal())
        return Result(OK, {"val_accuracy": score}, [{"epoch": 1, "val_accuracy": score}], fidelity.to_dict(), 0.0)
