"""Random search: the baseline every other strategy must beat."""

from __future__ import annotations

from ._base import Strategy, TrialRequest


class RandomSearch(Strategy):
    """Uniform samples from the space, without repeats where the space allows.

    >>> import numpy as np
    >>> from nasforge import spaces
    >>> s = RandomSearch(spaces.get("macro-cnn"), seed=0)
    >>> s.ask().arch.space
    'macro-cnn'
    """

    name = "random"

    def __init__(self, space, seed=0):
        super().__init__(space, seed)

    def ask(self):
        return TrialRequest(self.fresh(lambda: self.space.sample(self.rng)))

    def tell(self, request, result):
        pass
