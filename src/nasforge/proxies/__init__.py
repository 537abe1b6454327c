"""Zero-cost proxies: scores of an untrained network, from one batch, that predict how well it
will train (Abdelfattah et al., ICLR 2021; Mellor et al., ICML 2021; Lin et al., ICCV 2021).

Each proxy lives in its own module and registers itself beside its function
(``@register("name")`` from ``_registry``); importing the module here makes it known.

>>> import torch
>>> from nasforge import proxies
>>> net = torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 3))
>>> batch = (torch.randn(16, 4), torch.randint(0, 3, (16,)))
>>> proxies.score(net, batch, "params")
67.0
"""

from __future__ import annotations

from . import _cost, _jacob_cov, _naswot, _pruning, _synflow, _zen  # noqa: F401  (they register the proxies)
from ._correlation import kendall, spearman
from ._registry import REGISTRY, register
from ._score import names, score, score_all
from ._screen import (DEFAULT_BATCH, ScoredArch, Screening, batch_from, build, build_seed, sample_distinct,
                      score_archs, warm_start)

__all__ = ["DEFAULT_BATCH", "REGISTRY", "ScoredArch", "Screening", "batch_from", "build", "build_seed", "kendall",
           "names", "register", "sample_distinct", "score", "score_all", "score_archs", "spearman", "warm_start"]
