"""Gaussian-process Bayesian optimisation over architecture encodings.

The surrogate is the shared ``gp`` predictor
(:class:`nasforge.predictors.GaussianProcess`): a kernel exponential in the
L1 distance between encodings (on one-hot encodings, the exponentiated-Hamming
kernel used for BO over categorical inputs), its lengthscale and
noise-to-signal ratio chosen on a small grid by marginal likelihood. Acquisition is
expected improvement (Jones et al. 1998) or an upper confidence bound
(Srinivas et al. 2010), optimised over mutations of the best architectures
plus random samples. Pending (asked, untold) architectures are added as
observations at their posterior mean ("kriging believer"), which shrinks
the uncertainty around them so parallel asks spread out. Pure numpy.
"""

from __future__ import annotations

import numpy as np

from ..core import check_choice, check_float
from ..predictors import GaussianProcess, gaussian_ranks, normal_cdf, normal_pdf
from ._common import register
from ._predictor import PredictorStrategy

@register("gp-bo")
class GPBO(PredictorStrategy):
    """Bayesian optimisation with a Gaussian process on architecture encodings.

    Options (besides those of every predictor strategy: ``initial`` random
    trials, a pool of ``num_candidates`` candidates — mutations of the
    ``top_k`` best plus a ``random_fraction`` of random samples —, ``epsilon``
    = probability of a random proposal, and ``max_data`` kept observations,
    which bounds the cubic cost of the GP):

    - ``acquisition``: ``'ei'`` (expected improvement over the best observed
      score, default) or ``'ucb'`` (mean + ``beta`` x standard deviation).
    - ``beta``: exploration weight of UCB (ignored by EI).
    - ``xi``: EI's margin: improvement is counted above the incumbent + ``xi``
      (in standard-normal units of the rank-transformed scores; larger explores more).
    """

    name = "gp-bo"

    def __init__(self, space, seed=0, initial: int = 10, num_candidates: int = 150, top_k: int = 10,
                 random_fraction: float = 0.2, epsilon: float = 0.0, max_data: int = 400,
                 acquisition: str = "ei", beta: float = 2.0, xi: float = 0.0):
        super().__init__(space, seed, initial, num_candidates, top_k, random_fraction, epsilon, max_data)
        self.acquisition_name = check_choice(self.name, "acquisition", acquisition, ("ei", "ucb"))
        self.beta = check_float(self.name, "beta", beta, 0.0, 100.0)
        self.xi = check_float(self.name, "xi", xi, 0.0, 10.0)

    def config(self):
        return {**super().config(), "acquisition": self.acquisition_name, "beta": self.beta, "xi": self.xi}

    def fit(self) -> GaussianProcess:
        """The GP on the evaluated data (scores as :func:`gaussian_ranks`), plus pending
        architectures at their predicted mean."""
        x = self.encode_all([a for a, _ in self.data])
        y = gaussian_ranks(np.array([s for _, s in self.data]))
        gp = GaussianProcess().fit(x, y)
        if self.pending:
            xp = self.encode_all(list(self.pending.values()))
            believed, _ = gp.predict(xp)
            gp = GaussianProcess(gp.lengthscale_, gp.noise_ratio_).fit(np.vstack([x, xp]),
                                                                        np.concatenate([y, believed]))
        return gp

    def acquisition(self, pool):
        gp = self.fit()
        mean, std = gp.predict(self.encode_all(pool))
        if self.acquisition_name == "ucb":
            return mean + self.beta * std
        # the incumbent is the best posterior mean at an evaluated architecture, not the best raw score:
        # with noisy evaluations a lucky draw would otherwise set a bar nothing seems to clear
        fitted, _ = gp.fitted()
        fitted = fitted[: len(self.data)]
        improvement = mean - (fitted.max() + self.xi)
        z = improvement / std
        return improvement * normal_cdf(z) + std * normal_pdf(z)
