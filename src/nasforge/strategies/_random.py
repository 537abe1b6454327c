"""Random search: the baseline every other strategy must beat."""

from __future__ import annotations

from ._base import Strategy, TrialRequest, UniqueSampler


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
        self._unique = UniqueSampler()

    def ask(self):
        return TrialRequest(self._unique.fresh(lambda: self.space.sample(self.rng)))

    def tell(self, request, result):
        pass

    def _state(self):
        return {"seen": self._unique.state()}

    def _load_state(self, state):
        self._unique.load(state["seen"])
