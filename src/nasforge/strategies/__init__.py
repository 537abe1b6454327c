"""Search strategies behind one ask/tell interface, by name.

Each strategy lives in its own module and registers itself beside its class
(``@register("name")`` from ``_common``); importing the module here is what
makes it known.

>>> from nasforge import spaces, strategies
>>> s = strategies.get("evolution", spaces.get("macro-cnn"), seed=0, population_size=8)
>>> s.ask().arch.space
'macro-cnn'
"""

from __future__ import annotations

import inspect
from typing import Any

from ..core import Strategy, TrialRequest, UserInputError
from ._asha import ASHA
from ._bananas import Bananas
from ._common import REGISTRY
from ._cost_random import CostRandomSearch
from ._evolution import RegularizedEvolution
from ._gp_bo import GPBO
from ._hyperband import BOHB, Hyperband
from ._local import LocalSearch
from ._mo_asha import MOASHA
from ._mo_bo import MOBO
from ._mo_evolution import MORegularizedEvolution
from ._nsga2 import NSGA2
from ._parego import ParEGO
from ._pareto_local import ParetoLocalSearch
from ._random import RandomSearch
from ._reinforce import Reinforce
from ._tpe import TPE
from ._warm_start import WarmStart, warm_start


def options(name: str) -> dict[str, Any]:
    """The tunable options of a strategy and their defaults."""
    params = inspect.signature(REGISTRY.factory(name)).parameters
    return {k: p.default for k, p in params.items() if k not in ("space", "seed")}


def get(name: str, space, seed: int = 0, **config: Any) -> Strategy:
    """A strategy by name, for ``space``, seeded, with its options."""
    known = options(name)
    unknown = set(config) - set(known)
    if unknown:
        raise UserInputError(f"unknown option(s) {sorted(unknown)} for strategy {name!r}; "
                             f"known: {', '.join(f'{k} (default {v!r})' for k, v in known.items()) or 'none'}")
    return REGISTRY.factory(name)(space, seed=seed, **config)


def names(pattern: str = "*") -> list[str]:
    return REGISTRY.names(pattern)


__all__ = ["ASHA", "BOHB", "GPBO", "MOBO", "REGISTRY", "TPE", "Bananas", "CostRandomSearch", "Hyperband",
           "LocalSearch", "MOASHA",
           "MORegularizedEvolution", "NSGA2", "ParEGO", "ParetoLocalSearch", "RandomSearch", "RegularizedEvolution",
           "Reinforce", "Strategy", "TrialRequest", "WarmStart", "get", "names", "options", "warm_start"]
