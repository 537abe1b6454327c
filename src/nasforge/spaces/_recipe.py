"""``recipe``: another space's architectures *and* their training recipe, searched together.

Searching the architecture alone leaves the training settings at defaults
that suit some networks and not others; searching the recipe alone is
hyperparameter optimisation. NAS that pays for itself does both (Zela et al.
2018, "Towards automated deep learning: efficient joint neural architecture
and hyperparameter search"; Dong et al. 2021, "AutoHAS"). This space adds
recipe decisions to a base space's: learning rate, weight decay, batch size,
label smoothing, augmentation, dropout before the classifier and a width
multiplier. ``training_config`` hands the training settings to the trainer
(the search's trials and the final training alike) and ``build`` applies the
width and the dropout, so an architecture carries its recipe wherever it goes
(``nasforge train``, ``load_model``). The base space's priors enter with the
default recipe (the settings ``TrainConfig`` uses): the known starting points.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import torch.nn.functional as F
from torch import nn

from ..core import Arch, Decision, DecisionSpace, SpaceDefinitionError
from ._registry import REGISTRY, register

LRS = (1e-3, 2e-3, 3e-3, 5e-3)
WEIGHT_DECAYS = (1e-4, 1e-3, 1e-2, 5e-2)
BATCH_SIZES = (32, 64, 128)
LABEL_SMOOTHINGS = (0.0, 0.1)
AUGMENTS = ("none", "shift", "shift-flip")
DROPOUTS = (0.0, 0.1, 0.3)
WIDTHS = (0.5, 0.75, 1.0, 1.5)
DEFAULT = {"recipe.lr": 3e-3, "recipe.weight_decay": 1e-4, "recipe.batch_size": 64, "recipe.label_smoothing": 0.0,
           "recipe.augment": "none", "recipe.dropout": 0.0, "recipe.width": 1.0}  # TrainConfig's defaults
TRAINING = {"recipe.lr": "lr", "recipe.weight_decay": "weight_decay", "recipe.batch_size": "batch_size",
            "recipe.label_smoothing": "label_smoothing", "recipe.augment": "augment"}


def _dropout_before(p: float, module: nn.Module, args):
    """A forward pre-hook: dropout on the classifier's input while training."""
    return (F.dropout(args[0], p, module.training),)


@register("recipe")
class RecipeSpace(DecisionSpace):
    """A base space's decisions plus the training recipe's (``recipe.*``)."""

    name = "recipe"

    def __init__(self, base: str = "macro-cnn", augment: Sequence[str] | None = None):
        """``base``: a registered space of discrete decisions (default options); ``augment``: the
        augmentations allowed (``["none"]`` for tables, whose columns must not be shifted)."""
        if base == self.name or base not in REGISTRY.names():
            raise SpaceDefinitionError(f"recipe: unknown base space {base!r}; known: "
                                       f"{', '.join(n for n in REGISTRY.names() if n != self.name)}")
        self.base = REGISTRY.factory(base)()
        if not isinstance(self.base, DecisionSpace):
            raise SpaceDefinitionError(f"recipe: base space {base!r} is not a space of discrete decisions")
        augments = tuple(augment) if augment is not None else AUGMENTS
        if not augments or set(augments) - set(AUGMENTS):
            raise SpaceDefinitionError(f"recipe: augment must be a non-empty list of {AUGMENTS}; got {augment!r}")
        self.augments = augments
        recipe = [Decision("recipe.lr", LRS, ordinal=True), Decision("recipe.weight_decay", WEIGHT_DECAYS, ordinal=True),
                  Decision("recipe.batch_size", BATCH_SIZES, ordinal=True),
                  Decision("recipe.label_smoothing", LABEL_SMOOTHINGS, ordinal=True),
                  Decision("recipe.augment", augments), Decision("recipe.dropout", DROPOUTS, ordinal=True),
                  Decision("recipe.width", WIDTHS, ordinal=True)]
        super().__init__([*self.base.decisions, *recipe])

    def config(self) -> dict[str, Any]:
        return {"base": self.base.name, **({"augment": list(self.augments)} if self.augments != AUGMENTS else {})}

    def split(self, arch: Arch) -> tuple[Arch, dict[str, Any]]:
        """(the base space's architecture, the recipe's decisions)."""
        self.validate(arch)
        base = {k: v for k, v in arch.decisions.items() if not k.startswith("recipe.")}
        return Arch(self.base.name, base), {k: v for k, v in arch.decisions.items() if k.startswith("recipe.")}

    def with_recipe(self, base_arch: Arch, **recipe: Any) -> Arch:
        """``base_arch`` with the default recipe, changed by ``recipe`` (names without ``recipe.``)."""
        decisions = {**base_arch.decisions, **DEFAULT, **{f"recipe.{k}": v for k, v in recipe.items()}}
        if "none" not in self.augments and decisions["recipe.augment"] == "none":
            decisions["recipe.augment"] = self.augments[0]
        return Arch(self.name, decisions)

    def priors(self):
        return [self.with_recipe(a) for a in self.base.priors()]

    def crossover_groups(self):
        return [*self.base.crossover_groups(), [d.name for d in self.decisions if d.name.startswith("recipe.")]]

    def training_config(self, arch: Arch) -> dict[str, Any]:
        base, recipe = self.split(arch)
        return {**self.base.training_config(base), **{TRAINING[k]: v for k, v in recipe.items() if k in TRAINING}}

    def describe(self, arch: Arch) -> str:
        base, r = self.split(arch)
        extras = [f"lr {r['recipe.lr']:g}", f"wd {r['recipe.weight_decay']:g}", f"bs {r['recipe.batch_size']}"]
        extras += [f"ls {r['recipe.label_smoothing']:g}"] if r["recipe.label_smoothing"] else []
        extras += [f"aug {r['recipe.augment']}"] if r["recipe.augment"] != "none" else []
        extras += [f"drop {r['recipe.dropout']:g}"] if r["recipe.dropout"] else []
        extras += [f"width x{r['recipe.width']:g}"] if r["recipe.width"] != 1.0 else []
        return f"{self.base.describe(base)} [{', '.join(extras)}]"

    def drawing(self, arch: Arch):
        return self.base.drawing(self.split(arch)[0])

    def build(self, arch, input_shape, num_classes, width_multiplier=1.0):
        base, recipe = self.split(arch)
        model = self.base.build(base, input_shape, num_classes, width_multiplier * recipe["recipe.width"])
        if recipe["recipe.dropout"]:
            head = [m for m in model.modules() if isinstance(m, nn.Linear)][-1]
            head.register_forward_pre_hook(functools.partial(_dropout_before, recipe["recipe.dropout"]))
        return model
