"""Helpers the strategies share: the registry every strategy module adds its class to
(``@register("name")`` beside the class, so a new strategy is one file plus its import
in ``__init__``), the child of the aging evolutions, and the resource checks of the
multi-fidelity strategies."""

from __future__ import annotations

from ..core import Registry, Strategy, check_float

REGISTRY: Registry[Strategy] = Registry("strategy")
register = REGISTRY.register

RESOURCES = ("epochs", "seconds", "subset")  # what a multi-fidelity strategy spends on a trial


def evolved_child(strategy: Strategy, tournament):
    """A child of ``tournament()``'s pick, for the aging evolutions: with probability
    ``strategy.crossover_rate`` its crossover with a second pick (when not asked before),
    otherwise its mutation."""
    parent = tournament()
    if strategy.rng.random() < strategy.crossover_rate:
        child = strategy.space.crossover(parent, tournament(), strategy.rng)
        if child.digest not in strategy.seen:
            return child
    return strategy.space.mutate(parent, strategy.rng)


def check_resources(owner: str, resource: str, min_resource, max_resource) -> None:
    """``0 < min_resource <= max_resource``, and ``max_resource`` a fraction <= 1 over a data subset."""
    check_float(owner, "min_resource", min_resource, 0.0, open_low=True)
    check_float(owner, "max_resource", max_resource, min_resource, 1.0 if resource == "subset" else None)


__all__ = ["REGISTRY", "RESOURCES", "check_resources", "evolved_child", "register"]
