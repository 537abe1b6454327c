"""The predictor registry: ``@register("name")`` beside each family's class, so a new
predictor is one file plus its import in ``__init__``."""

from __future__ import annotations

from ..core import Registry

REGISTRY: Registry = Registry("predictor")
register = REGISTRY.register
