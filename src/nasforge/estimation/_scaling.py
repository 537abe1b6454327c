"""Compound scaling (EfficientNet, Tan & Le 2019): grow or shrink a base architecture's depth, width
and input resolution together, as far as a FLOPs or latency target allows, then train it.

Depth ``d = alpha^phi``, width ``w = beta^phi``, resolution ``r = gamma^phi``;
EfficientNet's coefficients ``alpha=1.2, beta=1.1, gamma=1.15`` satisfy
``alpha * beta^2 * gamma^2 ~ 2``, so each unit of ``phi`` about doubles the
FLOPs. :func:`grid_coefficients` searches the coefficients at ``phi = 1`` by
short trainings, as the paper's step 1 does; :func:`fit_phi` finds the largest
``phi`` whose scaled network meets the target (step 2).

How a multiplier reaches the network: width through the space's
``width_multiplier``; resolution by resizing the input at the network's
start (``Resized``); depth through the space's ordinal depth decisions
(``*.blocks``, ``*.depth``): each stage's block count becomes the choice
nearest ``d x`` the base count, so depth is capped by the space's largest
choice (the result reports the depth actually reached).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import torch
import torch.nn.functional as F
from torch import nn

from ..core import Arch, UserInputError, check_float
from ._metrics import count_flops

EFFICIENTNET = (1.2, 1.1, 1.15)  # alpha (depth), beta (width), gamma (resolution)
DEPTH_SUFFIXES = (".blocks", ".depth")


@dataclass(frozen=True)
class Scaling:
    depth: float = 1.0
    width: float = 1.0
    resolution: float = 1.0

    @classmethod
    def compound(cls, phi: float, coefficients: Sequence[float] = EFFICIENTNET) -> Scaling:
        alpha, beta, gamma = coefficients
        return cls(alpha ** phi, beta ** phi, gamma ** phi)

    def to_dict(self):
        return asdict(self)


class Resized(nn.Module):
    """Resizes its input's spatial axes to ``size`` (bilinear, or linear for sequences), then runs ``net``."""

    def __init__(self, net: nn.Module, size: Sequence[int]):
        super().__init__()
        self.net, self.size = net, tuple(int(s) for s in size)

    def forward(self, x):
        mode = "linear" if len(self.size) == 1 else "bilinear"
        return self.net(F.interpolate(x, size=self.size, mode=mode, align_corners=False))


def scale_depth(space, arch: Arch, depth: float) -> Arch:
    """``arch`` with each ordinal depth decision at the choice nearest ``depth`` x its value."""
    changes = {}
    for d in getattr(space, "decisions", ()):
        if d.name.endswith(DEPTH_SUFFIXES) and d.ordinal and all(isinstance(c, int) for c in d.choices):
            want = arch[d.name] * depth
            changes[d.name] = min(d.choices, key=lambda c: (abs(c - want), c))
    return arch.replace(**changes) if changes else arch


def build_scaled(space, arch: Arch, scaling: Scaling, input_shape: Sequence[int], num_classes: int) -> nn.Module:
    """The network of ``arch`` scaled by ``scaling``; it takes inputs of ``input_shape`` as the base does."""
    size = [max(1, int(round(s * scaling.resolution))) for s in input_shape[1:]]
    net = space.build(scale_depth(space, arch, scaling.depth), (input_shape[0], *size), num_classes,
                      width_multiplier=scaling.width)
    return net if list(size) == list(input_shape[1:]) else Resized(net, size)


def fit_phi(cost: Callable[[Scaling], float], target: float, coefficients: Sequence[float] = EFFICIENTNET,
            low: float = -3.0, high: float = 4.0, step: float = 0.25) -> tuple[float, float]:
    """The largest ``phi`` on a ``step`` grid in [low, high] whose scaled network costs at most ``target``,
    and that cost; an error if even ``low`` is too costly."""
    best = None
    for k in range(int(round((high - low) / step)) + 1):
        phi = low + k * step
        c = cost(Scaling.compound(phi, coefficients))
        if c <= target:
            best = (phi, c)
        elif best is not None and c > 1.5 * target:
            break  # costs grow with phi; no need to build larger networks
    if best is None:
        raise UserInputError(f"no compound scaling with phi >= {low} meets the target {target:g}")
    return best


def grid_coefficients(tolerance: float = 0.1, steps: Sequence[float] = (1.0, 1.05, 1.1, 1.15, 1.2, 1.25, 1.3,
                                                                     1.4)) -> list[tuple[float, float, float]]:
    """Coefficient triples with ``alpha * beta^2 * gamma^2`` within ``tolerance`` of 2 (the paper's constraint)."""
    check_float(None, "tolerance", tolerance, low=0, kind="option")
    return [(a, b, g) for a, b, g in itertools.product(steps, repeat=3)
            if abs(a * b * b * g * g - 2.0) <= tolerance * 2.0]


def flops_of(space, arch: Arch, input_shape: Sequence[int], num_classes: int) -> Callable[[Scaling], float]:
    """The FLOPs of ``arch`` scaled by a ``Scaling`` (a cost for :func:`fit_phi`)."""
    def cost(scaling: Scaling) -> float:
        return float(count_flops(build_scaled(space, arch, scaling, input_shape, num_classes), input_shape))
    return cost


def reached(space, arch: Arch, scaling: Scaling) -> dict:
    """What the scaled network really got: the depth decisions, and depth as a ratio of blocks."""
    scaled = scale_depth(space, arch, scaling.depth)
    names = [d.name for d in getattr(space, "decisions", ()) if d.name.endswith(DEPTH_SUFFIXES)]
    base, new = sum(arch[n] for n in names), sum(scaled[n] for n in names)
    return {"arch": scaled.to_dict(), "depth_ratio": (new / base) if base else math.nan}


def compound_scale(space, arch: Arch, input_shape: Sequence[int], num_classes: int, target: float,
                   cost: Callable[[Scaling], float] | None = None,
                   coefficients: Sequence[float] = EFFICIENTNET) -> dict:
    """The scaling of ``arch`` that best meets ``target`` (FLOPs unless ``cost`` says otherwise)."""
    check_float(None, "target", target, low=0, open_low=True, kind="option")
    cost = cost or flops_of(space, arch, input_shape, num_classes)
    phi, c = fit_phi(cost, target, coefficients)
    scaling = Scaling.compound(phi, coefficients)
    return {"phi": phi, "coefficients": list(coefficients), "scaling": scaling.to_dict(), "cost": c,
            "base_cost": cost(Scaling()), "target": target, **reached(space, arch, scaling)}


def train_scaled(model: nn.Module, dataset, epochs: int, config, seed: int = 0):
    """Train ``model`` on train+validation (seeded), then score it once on the test split."""
    from ._loop import evaluate_model
    from ._trainer import train_model

    x, y = dataset.train_and_val()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        curve = train_model(model, x, y, epochs, config, seed)
    accuracy, loss = evaluate_model(model, *dataset.test(), config.eval_batch_size)
    return {"test_accuracy": accuracy, "test_loss": loss, "curve": curve}
