"""Random search: the baseline every other strategy must beat."""

from __future__ import annotations

from ..core import Strategy, TrialRequest
from ._common import register


@register("random")
class RandomSearch(Strategy):
    """Uniform samples from the space, without repeats where the space allows.

    >>> import numpy as np
    >>> from nasforge import spaces
    >>> s = RandomSearch(spaces.get("macro-cnn"), seed=0)
    >>> s.ask().arch.space
    'macro-cnn'
    """

    name = "random"
    multi_objective = True  # ignores every objective: the baseline of single- and multi-objective search

    def __init__(self, space, seed=0, initial: list | None = None):
        """``initial`` architectures (e.g. a space's ``priors()``) are asked first, each once."""
        super().__init__(space, seed)
        self._set_initial(initial)

    def config(self):
        return {"initial": self.initial} if self.initial else {}

    def ask(self):
        initial = self._next_initial()
        if initial is not None:
            return TrialRequest(initial, meta={"origin": "initial"})
        return TrialRequest(self.fresh(lambda: self.space.sample(self.rng)))

    def tell(self, request, result):
        pass
