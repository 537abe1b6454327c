"""Execution of trials outside the study's process (isolated, parallel; local or on Ray).

Executors are registered by name: ``get("ray")`` is the factory a study calls as
``factory(workers, estimator_factory, **options)``.
"""

from ..core import Event, Executor
from ._common import REGISTRY
from ._pool import WorkerPool, describe_exit
from ._ray import RayExecutor


def get(name: str):
    """The executor factory registered as ``name`` (an unknown name lists the known ones)."""
    return REGISTRY.factory(name)


def names(pattern: str = "*") -> list[str]:
    return REGISTRY.names(pattern)


__all__ = ["REGISTRY", "Event", "Executor", "RayExecutor", "WorkerPool", "describe_exit", "get", "names"]
