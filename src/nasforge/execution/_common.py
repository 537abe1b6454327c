"""The registry of executors by name ("process", "ray"), each registered beside its
class with ``@register("name")``. A registered executor is built as
``factory(size, estimator_factory, **options)``."""

from __future__ import annotations

from ..core import Executor, Registry

REGISTRY: Registry[Executor] = Registry("executor")
register = REGISTRY.register

# A worker says STARTED when it begins a trial's own work: a trial's timeout counts from then, so a
# worker's start-up (a fresh process, loading the data) and time queued on a busy machine do not count.
STARTED = "started"
# A trial whose worker has not begun it this many seconds after it was submitted is stopped like one
# past its timeout: a start-up that hangs must not hang the study.
START_LIMIT_S = 300.0

__all__ = ["REGISTRY", "START_LIMIT_S", "STARTED", "register"]
