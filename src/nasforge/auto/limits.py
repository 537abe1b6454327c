"""``auto`` under deployment limits (``--max-params``, ``--max-latency-ms``): candidates whose
parameters or latency exceed a limit are never trained, and the final model is checked.

Both limits can be checked *before* training: the parameter count and the batch-1 CPU latency of a
network do not depend on its weights, so a candidate is built, measured and, if it exceeds a limit,
recorded as a pruned trial (with why) at the cost of a build instead of a training. The winner is
the most accurate candidate that meets the limits; its latency is measured again on the final
model (the same way every trial's is: median of batch-1 runs on one thread), and a miss — latency
measured under a different load can differ — is reported loudly in the log, ``summary.json`` and
``report.md``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch

from ..core import Arch, Estimator, Fidelity, Result, TrialStatus, UserInputError
from ..estimation import count_params, measure_latency_ms

SCREEN_SAMPLES = 30  # architectures sampled up front to tell whether a --max-params limit can be met


@dataclass(frozen=True)
class Limits:
    """Deployment limits of the final model; None: no limit."""

    max_params: int | None = None
    max_latency_ms: float | None = None

    def __post_init__(self):
        if self.max_params is not None and not (isinstance(self.max_params, int) and self.max_params > 0):
            raise UserInputError(f"--max-params must be a positive whole number; got {self.max_params!r}")
        if self.max_latency_ms is not None and not (isinstance(self.max_latency_ms, (int, float))
                                                    and self.max_latency_ms > 0):
            raise UserInputError(f"--max-latency-ms must be a positive number; got {self.max_latency_ms!r}")

    @property
    def active(self) -> bool:
        return self.max_params is not None or self.max_latency_ms is not None

    def violations(self, params: float | None, latency_ms: float | None = None) -> list[str]:
        """One phrase per limit that ``params`` / ``latency_ms`` exceed (unknown values pass)."""
        out = []
        if self.max_params is not None and params is not None and params > self.max_params:
            out.append(f"{int(params):,} parameters > --max-params {self.max_params:,}")
        if self.max_latency_ms is not None and latency_ms is not None and latency_ms > self.max_latency_ms:
            out.append(f"latency {latency_ms:.3f} ms > --max-latency-ms {self.max_latency_ms:g}")
        return out

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class LimitedEstimator(Estimator):
    """The study's estimator behind a gate: a candidate exceeding a limit is not trained but
    recorded as pruned, with its measured costs and why. Everything else is the inner estimator's."""

    def __init__(self, inner, limits: Limits):
        self.inner, self.limits = inner, limits
        self._costs: dict[str, dict[str, float]] = {}

    def __getattr__(self, name):  # dataset, space, train_config, run_for, continue_runs, ...
        return getattr(self.inner, name)

    def config(self):
        return self.inner.config()

    def costs(self, arch: Arch, width_multiplier: float = 1.0) -> dict[str, float]:
        """Parameters (and, with a latency limit, batch-1 latency) of ``arch``, untrained; cached."""
        key = f"{arch.to_json()}|{width_multiplier}"
        if key not in self._costs:
            ds = self.inner.dataset
            with torch.random.fork_rng(devices=[]):
                model = self.inner.space.build(arch, ds.input_shape, ds.num_classes, width_multiplier)
            costs = {"params": count_params(model)}
            if self.limits.max_latency_ms is not None:
                costs["latency_ms"] = measure_latency_ms(model, ds.input_shape)
            self._costs[key] = costs
        return self._costs[key]

    def allows(self, arch: Arch) -> bool:
        """Whether ``arch`` (untrained, full width) meets the limits."""
        costs = self.costs(arch)
        return not self.limits.violations(costs["params"], costs.get("latency_ms"))

    def evaluate(self, arch: Arch, fidelity: Fidelity, seed: int, on_epoch=None) -> Result:
        costs = self.costs(arch, fidelity.width_multiplier)
        why = self.limits.violations(costs["params"], costs.get("latency_ms"))
        if why:
            return Result(TrialStatus.PRUNED, dict(costs), [], fidelity.to_dict(), 0.0,
                          f"not trained: {'; '.join(why)}")
        return self.inner.evaluate(arch, fidelity, seed, on_epoch=on_epoch)


def screen(space, ds, limits: Limits, seed: int) -> str | None:
    """A warning when none of the space's priors and ``SCREEN_SAMPLES`` sampled architectures meets
    ``--max-params`` (None when one does, or there is no such limit): said before any training."""
    if limits.max_params is None:
        return None
    rng = np.random.default_rng(seed)
    archs = [*space.priors(), *(space.sample(rng) for _ in range(SCREEN_SAMPLES))]
    sizes = []
    for arch in archs:
        with torch.random.fork_rng(devices=[]):
            sizes.append(count_params(space.build(arch, ds.input_shape, ds.num_classes)))
        if sizes[-1] <= limits.max_params:
            return None
    return (f"none of {len(archs)} architectures tried (the space's priors and random samples) has at most "
            f"{limits.max_params:,} parameters (the smallest has {min(sizes):,}); the search may find none")


def check_final(summary: dict[str, Any], limits: Limits) -> dict[str, Any]:
    """The summary's ``constraints`` entry: the limits, the final model's measured costs, whether it meets them."""
    why = limits.violations(summary["params"], summary["latency_ms"])
    return {**limits.to_dict(), "params": summary["params"], "latency_ms": summary["latency_ms"], "met": not why,
            "violations": why}
