"""A small prior-fitted network for learning curves (the LC-PFN idea of Adriaensen, Rakotoarison,
Müller and Hutter, "Efficient Bayesian Learning Curve Extrapolation using Prior-Data Fitted
Networks", NeurIPS 2023).

A tiny transformer reads the points seen so far, ``(t / horizon, accuracy)``, and outputs a
distribution over the final accuracy as probabilities over fixed bins. Trained once on
synthetic curves from :mod:`._curve_prior` (cross-entropy against the bin of each curve's
final value), it approximates the posterior predictive of that prior in one forward pass:
no fitting per curve. The trained weights ship with the package
(``estimation/data/lc_pfn.pt``, about 0.2 MB); if they are missing they are trained on first
use (a few CPU minutes) and cached under ``~/.cache/nasforge``. Nothing is downloaded.
Regenerate them with ``python benchmarks/learning_curves.py train-pfn``.
"""

from __future__ import annotations

import os
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ._curve_prior import sample_curves
from ._forecast import BINS, Forecast

MAX_POINTS = 32  # longer partial curves are thinned to this many evenly spaced points
HORIZONS = (4, 30)  # the prior's horizons in epochs (both inclusive)
WEIGHTS = Path(__file__).parent / "data" / "lc_pfn.pt"


class CurvePFN(nn.Module):
    """Points of a partial curve in, logits over :data:`~._forecast.BINS` final-value bins out."""

    def __init__(self, width: int = 64, heads: int = 4, layers: int = 2, bins: int = BINS):
        super().__init__()
        self.point = nn.Linear(2, width)
        self.query = nn.Parameter(torch.zeros(1, 1, width))
        layer = nn.TransformerEncoderLayer(width, heads, 2 * width, dropout=0.0, batch_first=True, norm_first=True)
        self.encoder = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        self.head = nn.Linear(width, bins)

    def forward(self, u: torch.Tensor, y: torch.Tensor, padding: torch.Tensor) -> torch.Tensor:
        """``u``, ``y``: ``(B, L)`` times (fractions of the horizon) and accuracies; ``padding``:
        ``(B, L)`` True where there is no point."""
        points = self.point(torch.stack([u, (y - 0.5) * 2], dim=-1))
        seq = torch.cat([self.query.expand(len(u), 1, -1), points], dim=1)
        pad = torch.cat([torch.zeros(len(u), 1, dtype=torch.bool), padding], dim=1)
        return self.head(self.encoder(seq, src_key_padding_mask=pad)[:, 0])


def _inputs(curves: list[np.ndarray], horizon: int) -> tuple[torch.Tensor, ...]:
    """Padded ``(u, y, padding)`` for partial curves (epochs 1..n each), thinned to MAX_POINTS."""
    rows = []
    for curve in curves:
        t = np.arange(1, len(curve) + 1)
        if len(curve) > MAX_POINTS:
            keep = np.unique(np.round(np.linspace(0, len(curve) - 1, MAX_POINTS)).astype(int))
            t, curve = t[keep], np.asarray(curve)[keep]
        rows.append((t / horizon, np.asarray(curve, float)))
    length = max(len(t) for t, _ in rows)
    u = np.zeros((len(rows), length))
    y = np.zeros((len(rows), length))
    padding = np.ones((len(rows), length), dtype=bool)
    for i, (t, c) in enumerate(rows):
        u[i, :len(t)], y[i, :len(t)], padding[i, :len(t)] = t, c, False
    return (torch.tensor(u, dtype=torch.float32), torch.tensor(y, dtype=torch.float32), torch.tensor(padding))


def train_pfn(steps: int = 3000, batch: int = 128, seed: int = 0, lr: float = 1e-3, log=None) -> CurvePFN:
    """A :class:`CurvePFN` trained on ``steps * batch`` curves of the prior (each cut after a
    random number of epochs), deterministic for ``seed``."""
    rng = np.random.default_rng(seed)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = CurvePFN()
        opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
        sched = torch.optim.lr_scheduler.OneCycleLR(opt, lr, total_steps=steps, pct_start=0.1)
        start = time.perf_counter()
        for step in range(steps):
            horizon = int(rng.integers(HORIZONS[0], HORIZONS[1] + 1))
            curves = sample_curves(rng, batch, horizon)
            seen = int(rng.integers(1, horizon))  # one cut per batch: no padding to pay for
            u, y, padding = _inputs(list(curves[:, :seen]), horizon)
            target = torch.tensor(np.minimum((curves[:, -1] * BINS).astype(int), BINS - 1))
            loss = nn.functional.cross_entropy(model(u, y, padding), target)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            if log is not None and (step % 500 == 0 or step == steps - 1):
                log(f"step {step}: loss {loss.item():.3f} ({time.perf_counter() - start:.0f}s)")
    return model.eval()


def save_pfn(model: CurvePFN, path: str | os.PathLike) -> None:
    """Half-precision weights (small enough to ship in the package)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.half() for k, v in model.state_dict().items()}, path)


def load_pfn(path: str | os.PathLike | None = None) -> CurvePFN:
    """The shipped weights, else the cached ones, else weights trained now and cached."""
    cache = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "nasforge" / "lc_pfn.pt"
    candidates = [Path(path)] if path is not None else [WEIGHTS, cache]
    for candidate in candidates:
        if candidate.is_file():
            model = CurvePFN()
            model.load_state_dict({k: v.float() for k, v in torch.load(candidate, weights_only=True).items()})
            return model.eval()
    model = train_pfn()
    save_pfn(model, cache)
    return model


class LCPFN:
    """Predicts the final value of partial curves with the trained :class:`CurvePFN`."""

    name = "pfn"
    min_points = 1

    def __init__(self, model: CurvePFN | None = None):
        self.model = model

    def predict(self, curves, horizon: int) -> Forecast:
        """The final value (at epoch ``horizon``) of each curve (epochs 1..n; rows may differ in length)."""
        if self.model is None:
            self.model = load_pfn()
        with torch.no_grad():
            logits = self.model(*_inputs([np.asarray(c, float) for c in curves], horizon))
        return Forecast(torch.softmax(logits.double(), dim=1).numpy())
