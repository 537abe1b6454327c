"""An ensemble of small ReLU MLPs in plain numpy (BANANAS's surrogate, White et al. 2021):
the members differ only in their initialisation; their spread is the uncertainty."""

from __future__ import annotations

import numpy as np

from ..core import UserInputError, check_float, check_int
from ._base import Predictor
from ._registry import register


def check_hidden(owner: str, hidden) -> tuple[int, ...]:
    """``hidden`` as a tuple of layer widths >= 1, else a UserInputError naming it."""
    if not isinstance(hidden, (list, tuple)) or not hidden or not all(
            isinstance(h, int) and not isinstance(h, bool) and h >= 1 for h in hidden):
        raise UserInputError(f"The 'hidden' parameter of {owner} must be a non-empty list of layer widths >= 1. "
                             f"Got {hidden!r} instead.")
    return tuple(hidden)


@register("mlp-ensemble")
class MLPEnsemble(Predictor):
    """``members`` independent ReLU MLPs trained together (stacked weights) by full-batch
    Adam on mean squared error of standardised targets; mean and spread over the members.

    Inputs are standardised per column on the training rows. A column constant there (an op
    never tried on some edge) is divided by ``constant_scale`` instead of its zero spread;
    ``constant_scale=0`` divides by 1e-6 as BANANAS always has, so an architecture with an
    unseen value gets inputs near 1e6: huge predictions and spread, which Thompson sampling
    turns into exploration of unseen ops, but which wreck a ranking of held-out architectures.
    """

    name = "mlp-ensemble"

    def __init__(self, members: int = 5, hidden: tuple[int, ...] = (32, 32), epochs: int = 150,
                 learning_rate: float = 0.01, weight_decay: float = 1e-2, constant_scale: float = 1.0,
                 seed: int | np.random.Generator = 0, features: int = 0):
        super().__init__(seed, features)
        n = self.name
        self.members = check_int(n, "members", members, 2)
        self.hidden = check_hidden(n, hidden)
        self.epochs = check_int(n, "epochs", epochs, 1)
        self.learning_rate = check_float(n, "learning_rate", learning_rate, 0.0, 10.0, open_low=True)
        self.weight_decay = check_float(n, "weight_decay", weight_decay, 0.0, 10.0)
        self.constant_scale = check_float(n, "constant_scale", constant_scale, 0.0)

    def config(self):
        return {**super().config(), "members": self.members, "hidden": list(self.hidden), "epochs": self.epochs,
                "learning_rate": self.learning_rate, "weight_decay": self.weight_decay,
                "constant_scale": self.constant_scale}

    def _fit(self, x, y, rng):
        spread = x.std(0)
        self.x_mean, self.x_scale = x.mean(0), np.where(spread > 0, spread, self.constant_scale) + 1e-6
        self.y_mean, self.y_scale = y.mean(), y.std() + 1e-12
        x = (x - self.x_mean) / self.x_scale
        t = ((y - self.y_mean) / self.y_scale)[None, :, None]
        sizes = (x.shape[1], *self.hidden, 1)
        shapes = [s for a, b in zip(sizes[:-1], sizes[1:]) for s in ((self.members, a, b), (self.members, 1, b))]
        # every weight and bias is a view into one flat vector, so each Adam step is a few array ops
        flat = np.zeros(sum(int(np.prod(s)) for s in shapes))
        self.params, grad_views, offset = [], [], 0
        flat_grad = np.zeros_like(flat)
        for shape in shapes:
            size = int(np.prod(shape))
            self.params.append(flat[offset:offset + size].reshape(shape))
            grad_views.append(flat_grad[offset:offset + size].reshape(shape))
            offset += size
        for w in self.params[0::2]:
            bound = np.sqrt(6.0 / w.shape[1])  # He-uniform for ReLU layers
            w[...] = rng.uniform(-bound, bound, w.shape)
        m, v = np.zeros_like(flat), np.zeros_like(flat)
        b1, b2 = 0.9, 0.999
        for step in range(1, self.epochs + 1):
            acts = self._forward(x)
            for view, g in zip(grad_views, self._backward(acts, 2.0 * (acts[-1] - t) / x.shape[0])):
                view[...] = g
            g = flat_grad + self.weight_decay * flat
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * g * g
            flat -= self.learning_rate * (m / (1 - b1 ** step)) / (np.sqrt(v / (1 - b2 ** step)) + 1e-8)

    def _forward(self, x):
        acts = [np.broadcast_to(x, (self.members, *x.shape))]
        n_layers = len(self.params) // 2
        for k in range(n_layers):
            z = acts[-1] @ self.params[2 * k] + self.params[2 * k + 1]
            acts.append(np.maximum(z, 0.0) if k < n_layers - 1 else z)
        return acts

    def _backward(self, acts, grad):
        grads = [None] * len(self.params)
        for k in range(len(self.params) // 2 - 1, -1, -1):
            grads[2 * k] = acts[k].transpose(0, 2, 1) @ grad
            grads[2 * k + 1] = grad.sum(axis=1, keepdims=True)
            if k:
                grad = (grad @ self.params[2 * k].transpose(0, 2, 1)) * (acts[k] > 0)
        return grads

    def _members(self, x):
        out = self._forward((x - self.x_mean) / self.x_scale)[-1][:, :, 0]
        return out * self.y_scale + self.y_mean

    def _predict(self, x):
        preds = self._members(x)
        return preds.mean(0), preds.std(0)

    def member_predictions(self, X) -> np.ndarray:
        """Every member's prediction, shape (members, len(X)), in target units."""
        return self._members(self._input(X))
