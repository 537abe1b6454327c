"""Parametric learning-curve models: an ensemble of curve families fit by least squares.

Domhan, Springenberg and Hutter (IJCAI 2015, "Speeding up automatic hyperparameter
optimization of deep neural networks by extrapolation of learning curves") model a
validation curve with a combination of parametric families (pow3, exp3, log-power,
Janoschek, MMF, Weibull, ilog2, ...) and extrapolate it by MCMC. This module keeps
their families but fits each by regularised least squares (batched Levenberg-Marquardt,
many curves at once; a weak prior on the parameters keeps fits to one or two points
defined) and combines them into an equal-weight mixture of normals: each family's
extrapolation, with the residual noise plus an extrapolation term that shrinks as
more of the curve is seen. Numpy only, no torch.

Parameters are unconstrained: asymptotes and start values pass through a sigmoid
(accuracies stay in (0, 1)), rates and exponents through ``exp``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ._forecast import Forecast


def _sig(x):
    return 1.0 / (1.0 + np.exp(-np.clip(x, -30, 30)))


def _exp(x):
    return np.exp(np.clip(x, -20, 20))


@dataclass(frozen=True)
class Family:
    """One curve family: ``f(t, theta)`` for epochs ``t`` (``(n,)``) and parameters ``theta``
    (``(B, k)``), a prior centre (``None`` entries start at the curve's best value so far) and
    prior widths."""

    name: str
    f: Callable[[np.ndarray, np.ndarray], np.ndarray]
    centre: tuple[float | None, ...]
    width: tuple[float, ...]


def _asym(theta):
    return _sig(theta[:, :1])


def _saturating(gap):
    """The four-parameter families: ``alpha - (alpha - beta) * gap(kappa, delta, t)``."""
    return lambda t, p: _asym(p) - (_asym(p) - _sig(p[:, 1:2])) * gap(_exp(p[:, 2:3]), _exp(p[:, 3:4]), t)


FAMILIES = (
    # c - a t^-alpha
    Family("pow3", lambda t, p: _asym(p) - _exp(p[:, 1:2]) * t ** -_exp(p[:, 2:3]),
           (None, -1.0, -0.5), (3.0, 1.5, 1.0)),
    # c - a exp(-b t)
    Family("exp3", lambda t, p: _asym(p) - _exp(p[:, 1:2]) * np.exp(-_exp(p[:, 2:3]) * t),
           (None, -0.5, -1.0), (3.0, 1.5, 1.0)),
    # a / (1 + (t / e^b)^-c)
    Family("log_power", lambda t, p: _asym(p) / (1.0 + (t / _exp(p[:, 1:2])) ** -_exp(p[:, 2:3])),
           (None, 0.0, 0.0), (3.0, 1.5, 1.0)),
    # alpha - (alpha - beta) exp(-kappa t^delta)
    Family("janoschek", _saturating(lambda k, d, t: np.exp(-k * t ** d)),
           (None, -2.0, -1.0, 0.0), (3.0, 2.0, 1.5, 1.0)),
    # alpha - (alpha - beta) / (1 + (kappa t)^delta)
    Family("mmf", _saturating(lambda k, d, t: 1.0 / (1.0 + (k * t) ** d)),
           (None, -2.0, -1.0, 0.0), (3.0, 2.0, 1.5, 1.0)),
    # alpha - (alpha - beta) exp(-(kappa t)^delta)
    Family("weibull", _saturating(lambda k, d, t: np.exp(-(k * t) ** d)),
           (None, -2.0, -1.0, 0.0), (3.0, 2.0, 1.5, 1.0)),
    # c - a / log(t + 1)
    Family("ilog2", lambda t, p: _asym(p) - _exp(p[:, 1:2]) / np.log(t + 1.0),
           (None, -1.5), (3.0, 1.5)),
)
FAMILY_NAMES = tuple(f.name for f in FAMILIES)
PRIOR_WEIGHT = 0.05  # how much the parameter prior counts against the squared residuals


def _logit(y):
    y = np.clip(y, 1e-4, 1 - 1e-4)
    return np.log(y / (1 - y))


def fit_family(family: Family, curves: np.ndarray, iters: int = 40) -> np.ndarray:
    """Least-squares parameters ``(B, k)`` of ``family`` for ``curves`` (``(B, n)``, epochs 1..n),
    with a Gaussian prior of the family's widths (MAP); batched Levenberg-Marquardt."""
    curves = np.asarray(curves, float)
    b, n = curves.shape
    t = np.arange(1, n + 1, dtype=float)[None, :]
    centre = np.array([[c if c is not None else 0.0 for c in family.centre]] * b)
    centre[:, 0] = _logit(np.minimum(curves.max(axis=1) + 0.02, 0.995))  # asymptote just above the best so far
    inv_w = 1.0 / np.asarray(family.width)
    k = len(family.width)

    def residuals(theta):
        fit = curves - family.f(t, theta)
        prior = (theta - centre) * inv_w * PRIOR_WEIGHT  # weak: keeps fits to one or two points defined
        return np.concatenate([fit, prior], axis=1)

    theta, mu = centre.copy(), np.full(b, 1e-2)
    r = residuals(theta)
    loss = (r ** 2).sum(axis=1)
    eye = np.eye(k)
    for _ in range(iters):
        jac = np.stack([(residuals(theta + 1e-5 * eye[j]) - r) / 1e-5 for j in range(k)], axis=2)  # (B, m, k)
        jtj = np.einsum("bmi,bmj->bij", jac, jac)
        jtr = np.einsum("bmi,bm->bi", jac, r)
        step = np.linalg.solve(jtj + (mu[:, None, None] + 1e-9) * eye, -jtr[..., None])[..., 0]
        trial = theta + np.clip(step, -3, 3)
        r_trial = residuals(trial)
        loss_trial = (r_trial ** 2).sum(axis=1)
        better = np.isfinite(loss_trial) & (loss_trial < loss)
        theta = np.where(better[:, None], trial, theta)
        r = np.where(better[:, None], r_trial, r)
        loss = np.where(better, loss_trial, loss)
        mu = np.where(better, mu / 3, mu * 3).clip(1e-7, 1e7)
    return theta


class ParametricEnsemble:
    """Predicts a curve's final value with the families of Domhan et al. (2015), each fit by
    least squares, combined as an equal-weight mixture of normals.

    Each family's normal is centred on its extrapolation to the horizon; its variance is the
    residual noise (a scaled-inverse-chi-square posterior with ``noise`` as prior guess, weight
    two points) plus ``(extrapolation * (1 - last value) * (1 - seen / horizon))**2``: the room
    left to learn times the part of the curve not seen yet. ``extrapolation`` was set so that
    90% intervals cover about 90% of curves from :mod:`._curve_prior`."""

    name = "parametric"
    min_points = 3  # as many as a family has parameters: fewer leave it to the prior alone

    def __init__(self, families: tuple[str, ...] = FAMILY_NAMES, noise: float = 0.02, extrapolation: float = 0.3,
                 iters: int = 40):
        unknown = sorted(set(families) - set(FAMILY_NAMES))
        if unknown:
            raise ValueError(f"unknown curve families {unknown}; known: {', '.join(FAMILY_NAMES)}")
        self.families = tuple(f for f in FAMILIES if f.name in families)
        self.noise, self.extrapolation, self.iters = noise, extrapolation, iters

    def extrapolations(self, curves: np.ndarray, horizon: int) -> tuple[np.ndarray, np.ndarray]:
        """(means, residual variances), each ``(B, families)``: every family's value at ``horizon``."""
        curves = np.asarray(curves, float)
        n = curves.shape[1]
        t = np.arange(1, n + 1, dtype=float)[None, :]
        means, variances = [], []
        for family in self.families:
            theta = fit_family(family, curves, self.iters)
            rss = ((curves - family.f(t, theta)) ** 2).sum(axis=1)
            means.append(family.f(np.array([[float(horizon)]]), theta)[:, 0])
            variances.append((rss + 2 * self.noise ** 2) / (n + 2))
        means = np.clip(np.nan_to_num(np.stack(means, axis=1), nan=0.5), 0.0, 1.0)
        return means, np.stack(variances, axis=1)

    def predict(self, curves: np.ndarray, horizon: int) -> Forecast:
        """The final value (at epoch ``horizon``) of each of ``curves`` (``(B, n)``, epochs 1..n)."""
        curves = np.asarray(curves, float)
        means, variances = self.extrapolations(curves, horizon)
        unseen = max(0.0, 1.0 - curves.shape[1] / horizon)
        room = 1.0 - curves[:, -1:]  # what is left to learn
        stds = np.sqrt(variances + (self.extrapolation * room * unseen) ** 2)
        return Forecast.normal_mixture(means, stds)


class LastValue:
    """The baseline: the final value is the last value seen (no uncertainty)."""

    name = "last"
    min_points = 1

    def predict(self, curves: np.ndarray, horizon: int) -> Forecast:
        return Forecast.point(np.asarray(curves, float)[:, -1])


class TwoPointPowerLaw:
    """``auto``'s rule (``_curves.extrapolate_accuracy``): error falls as a power of training
    time through the first and last look, epochs standing in for seconds (no uncertainty)."""

    name = "power-law"
    min_points = 2

    def predict(self, curves: np.ndarray, horizon: int) -> Forecast:
        from ._curves import extrapolate_accuracy

        curves = np.asarray(curves, float)
        n = curves.shape[1]
        values = [extrapolate_accuracy([(1.0, row[0]), (float(n), row[-1])] if n > 1 else [(1.0, row[0])],
                                       float(horizon)) for row in curves]
        return Forecast.point(np.array(values))
