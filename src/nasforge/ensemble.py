"""Several trained copies of one architecture that predict together.

On a small table one network's test accuracy swings by a row or two with
its seed (breast cancer: 0.939-0.982 for the same architecture and epochs),
and averaging a few copies' probabilities removes much of that swing
(measured in docs/results/auto-v2.md; AutoGluon-Tabular, Erickson et al.
2020, ensembles for the same reason). ``auto`` uses it for the final model
of a cross-validated small table, where a network trains in under a second.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
from torch import nn


class Ensemble(nn.Module):
    """The members' averaged class probabilities, returned as logits (their log), so that
    cross-entropy, ``argmax`` and every export treat the ensemble like one network."""

    def __init__(self, members: Sequence[nn.Module]):
        super().__init__()
        if not members:
            raise ValueError("an ensemble needs at least one member")
        self.members = nn.ModuleList(members)

    def forward(self, x):
        log_probs = torch.stack([torch.log_softmax(m(x), dim=1) for m in self.members])
        return torch.logsumexp(log_probs, dim=0) - math.log(len(self.members))


def member_count(model: nn.Module) -> int:
    """How many networks ``model`` holds: its members for an :class:`Ensemble`, else 1."""
    return len(model.members) if isinstance(model, Ensemble) else 1
