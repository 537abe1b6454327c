"""Execution of trials outside the study's process (isolated, parallel)."""

from ._pool import Event, WorkerPool, describe_exit

__all__ = ["Event", "WorkerPool", "describe_exit"]
