"""Constraints in a study: rejecting an architecture before training, and finding out up
front whether any architecture can meet them.

Before a trial trains, the study asks the estimator for the constrained metrics it
knows without training (:meth:`~nasforge.core.Estimator.costs`: parameters and FLOPs
of the built model, a table's recorded latency). An architecture that breaks a
constraint is recorded as a pruned trial whose ``request_meta["rejected"]`` says why,
and never trains. Metrics only training reveals (accuracy, or a cost the estimator
cannot give beforehand) are checked on the result: a trial that breaks a constraint
then is pruned too, so every successful trial meets every constraint.

Up front (:func:`check_feasible`): where the estimator knows the costs of every
architecture (a tabular benchmark) the check is exact over the whole table; otherwise
``samples`` architectures sampled from the space (seeded) are built and measured, and
a constraint none of them meets is refused, naming the best value seen.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..core import Arch, Estimator, UserInputError
from ..core.objectives import Constraint, violations

REJECTED = "ConstraintViolated"  # the error text of a trial rejected or pruned by a constraint


def precheck(estimator: Estimator, constraints: Sequence[Constraint], arch: Arch) -> tuple[dict[str, float], list[str]]:
    """The costs of ``arch`` known before training (only the constrained ones) and the constraints they break."""
    if not constraints:
        return {}, []
    costs = estimator.costs(arch, {c.metric for c in constraints})
    return costs, violations(constraints, costs)


def _best_seen(constraint: Constraint, rows: list[dict[str, float]]) -> str:
    values = [r[constraint.metric] for r in rows if constraint.metric in r]
    if not values:
        return ""
    best = min(values) if constraint.op in ("<", "<=") else max(values)
    return f"{'smallest' if constraint.op in ('<', '<=') else 'largest'} {constraint.metric} {best:g}"


def check_feasible(estimator: Estimator, constraints: Sequence[Constraint], seed: int = 0,
                   samples: int = 20) -> str:
    """Raise UserInputError if no architecture can meet ``constraints`` (as far as the costs known
    before training tell); else one line saying how it was checked and how many met them."""
    if not constraints:
        return ""
    metrics = {c.metric for c in constraints}
    rows = estimator.cost_table(metrics)
    exact = rows is not None
    if not exact:
        rng = np.random.default_rng([seed, 2024])
        rows = [estimator.costs(estimator.space.sample(rng), metrics) for _ in range(samples)]
    checkable = [c for c in constraints if any(c.metric in r for r in rows)]
    if not checkable:
        return "constraints are checked on each trial's results (none is known before training)"
    met = sum(not violations(checkable, r) for r in rows)
    how = (f"all {len(rows)} architectures of the table" if exact else
           f"{len(rows)} architectures sampled from the space (seeded)")
    if met == 0:
        alone = [c for c in checkable if all(c.satisfied(r) is False for r in rows if c.metric in r)]
        why = "; ".join(f"{c} ({_best_seen(c, rows)})" for c in alone) or "they cannot all hold at once"
        raise UserInputError(f"no architecture can meet the constraints {', '.join(map(str, checkable))}: checked "
                             f"{how}; {why}. Relax the limit(s)")
    return f"{met} of {how} meet {', '.join(map(str, checkable))}"


__all__ = ["REJECTED", "check_feasible", "precheck"]
