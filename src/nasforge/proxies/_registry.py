"""The proxy registry: each zero-cost proxy registers its scoring function beside it
(``@register("name")``), so ``score(model, batch, "name")``, the CLI and the study
files refer to proxies by stable names."""

from __future__ import annotations

from collections.abc import Callable

from ..core import Registry

# A scoring function takes (private copy of the model, inputs, labels, loss, seed) and returns a float,
# higher meaning "predicted to train better". It may change the copy as it likes.
ProxyFunction = Callable[..., float]

REGISTRY: Registry[ProxyFunction] = Registry("proxy")
register = REGISTRY.register

__all__ = ["REGISTRY", "ProxyFunction", "register"]
