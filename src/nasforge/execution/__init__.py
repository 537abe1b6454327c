"""Execution of trials outside the study's process (isolated, parallel; local or on Ray)."""

from ..core import Event, Executor
from ._pool import WorkerPool, describe_exit
from ._ray import RayExecutor

__all__ = ["Event", "Executor", "RayExecutor", "WorkerPool", "describe_exit"]
