"""Execution of trials outside the study's process (isolated, parallel; local or on Ray)."""

from ._pool import Event, WorkerPool, describe_exit
from ._ray import RayExecutor

__all__ = ["Event", "RayExecutor", "WorkerPool", "describe_exit"]
