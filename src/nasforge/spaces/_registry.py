"""The registry of spaces by name; each space registers itself beside its class::

    @register("macro-cnn")
    class MacroCNNSpace(DecisionSpace): ...
"""

from __future__ import annotations

from ..core import Registry, SearchSpace

REGISTRY: Registry[SearchSpace] = Registry("space")
register = REGISTRY.register
