"""``score(model, batch, proxy)``: one zero-cost proxy of an untrained network, computed on a
private copy so the caller's model (weights, buffers, gradients, train/eval mode) and the
global random state are left exactly as they were."""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Iterable

import torch
import torch.nn.functional as F
from torch import nn

from ..core import UserInputError
from ._registry import REGISTRY


def _check_batch(batch) -> tuple[torch.Tensor, torch.Tensor]:
    try:
        inputs, labels = batch
    except (TypeError, ValueError):
        raise UserInputError("a proxy batch must be a pair (inputs, labels); got "
                             f"{type(batch).__name__}") from None
    if not isinstance(inputs, torch.Tensor) or inputs.dim() < 2:
        raise UserInputError("proxy inputs must be a tensor (N, features...) with a batch dimension; got "
                             f"{getattr(inputs, 'shape', type(inputs).__name__)}")
    if not isinstance(labels, torch.Tensor) or labels.shape[:1] != inputs.shape[:1]:
        raise UserInputError(f"proxy labels must be a tensor with one label per input ({inputs.shape[0]}); got "
                             f"{getattr(labels, 'shape', type(labels).__name__)}")
    return inputs, labels


def _prepare(work: nn.Module) -> nn.Module:
    """``work`` (a model the proxy may change) with every parameter taking gradients and its
    activations working out of place (hooks read activations an in-place op would overwrite)."""
    for p in work.parameters():
        p.requires_grad_(True)
        p.grad = None
    for m in work.modules():
        if getattr(m, "inplace", False) is True:
            m.inplace = False
    return work


def score(model: nn.Module, batch, proxy: str, *, seed: int = 0,
          loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None) -> float:
    """The zero-cost proxy ``proxy`` of ``model`` on ``batch`` = ``(inputs, labels)``; higher
    predicts a better network after training.

    Inputs may be images ``(N, C, H, W)``, sequences ``(N, C, L)`` or tabular rows ``(N, F)``,
    whatever ``model`` accepts. ``loss`` (default: cross-entropy) is what the gradient-based
    proxies differentiate. The same model, batch and ``seed`` give the same score. See
    :func:`names` for the proxies; an unknown name raises an error listing them.
    """
    return _score_owned(copy.deepcopy(model), batch, proxy, seed, loss)


def _score_owned(work: nn.Module, batch, proxy: str, seed: int, loss) -> float:
    """:func:`score` of a model the caller gives away (the proxy changes it as it likes)."""
    fn = REGISTRY.factory(proxy)
    inputs, labels = _check_batch(batch)
    _prepare(work)
    device = next(work.parameters(), torch.empty(0)).device
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices), torch.enable_grad():
        torch.manual_seed(seed)  # only dropout-like layers draw from it; the caller's stream is restored
        value = fn(work, inputs.to(device), labels.to(device), loss or F.cross_entropy, seed)
    return float(value)


def score_all(model: nn.Module, batch, proxies: Iterable[str], *, seed: int = 0,
              loss=None) -> tuple[dict[str, float], dict[str, float]]:
    """Several proxies of one model: ``(scores, seconds)``, each a dict by proxy name."""
    scores, seconds = {}, {}
    for name in proxies:
        start = time.perf_counter()
        scores[name] = score(model, batch, name, seed=seed, loss=loss)
        seconds[name] = time.perf_counter() - start
    return scores, seconds


def names(pattern: str = "*") -> list[str]:
    """The registered proxies (wildcards allowed)."""
    return REGISTRY.names(pattern)


__all__ = ["names", "score", "score_all"]
