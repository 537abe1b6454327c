"""The registry of executors by name ("process", "ray"), each registered beside its
class with ``@register("name")``. A registered executor is built as
``factory(size, estimator_factory, **options)``."""

from __future__ import annotations

from ..core import Executor, Registry

REGISTRY: Registry[Executor] = Registry("executor")
register = REGISTRY.register

__all__ = ["REGISTRY", "register"]
