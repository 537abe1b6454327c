"""Scoring many architectures of a space: a seeded batch, a seeded sample of distinct
architectures, and one row of proxy scores per architecture (what ``nasforge proxies`` and the
proxy warm start of a search compute)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from ..core import Arch, SearchSpace, check_int
from ._registry import REGISTRY
from ._score import _score_owned

DEFAULT_BATCH = 64


def batch_from(dataset, size: int = DEFAULT_BATCH, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``size`` training samples of ``dataset`` picked by ``seed``: the batch the proxies read."""
    check_int("proxies", "batch_size", size, 2)
    order = np.random.default_rng(seed).permutation(len(dataset.y_train))[:size]
    index = torch.from_numpy(np.sort(order))
    return dataset.x_train[index], dataset.y_train[index]


def sample_distinct(space: SearchSpace, n: int, seed: int | Sequence[int] = 0, tries_per_arch: int = 20) -> list[Arch]:
    """Up to ``n`` different architectures sampled from ``space`` with ``seed`` (an int or a
    sequence of them; fewer only when the space runs out of new ones)."""
    check_int("proxies", "n", n, 1)
    rng = np.random.default_rng(seed)
    found: dict[str, Arch] = {}
    for _ in range(n * tries_per_arch):
        if len(found) == n:
            break
        arch = space.sample(rng)
        found.setdefault(arch.digest, arch)
    return list(found.values())


def build_seed(seed: int, arch: Arch) -> int:
    """The seed an architecture's network is initialised with: fixed by the seed and the
    architecture alone, so a score does not depend on which others were scored before it."""
    return int(np.random.SeedSequence([seed, int(arch.digest[:8], 16)]).generate_state(1)[0] & 0x7FFFFFFF)


@dataclass
class ScoredArch:
    """One architecture's proxy scores and the seconds each took (building the network it
    scored included): wall-clock ``seconds`` and this process's ``cpu_seconds`` (the cost on
    one core, whatever else the machine runs)."""

    arch: Arch
    scores: dict[str, float]
    seconds: dict[str, float]
    cpu_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def total_s(self) -> float:
        return sum(self.seconds.values())


@dataclass
class Screening:
    """Scores of a list of architectures, in the order given."""

    rows: list[ScoredArch] = field(default_factory=list)

    @property
    def seconds(self) -> float:
        return sum(r.total_s for r in self.rows)

    def ranked(self, proxy: str) -> list[ScoredArch]:
        """Best first by ``proxy`` (higher is better; NaN last); ties keep the sampling order."""
        def key(r):
            v = r.scores[proxy]
            return (0, -v) if v == v else (1, 0.0)

        return sorted(self.rows, key=key)


def build(space: SearchSpace, arch: Arch, input_shape, num_classes: int, seed: int = 0) -> torch.nn.Module:
    """``arch``'s network initialised by :func:`build_seed` (the global random state is left alone)."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(build_seed(seed, arch))
        return space.build(arch, tuple(input_shape), num_classes)


def score_archs(space: SearchSpace, archs: Sequence[Arch], batch, num_classes: int, proxies: Sequence[str],
                seed: int = 0, on_scored: Callable[[ScoredArch], None] | None = None) -> Screening:
    """Score each architecture's network (initialised by :func:`build_seed`) with every proxy;
    ``on_scored`` is called after each architecture (for progress).

    Each proxy gets a freshly built network rather than a copy (building is cheaper than
    ``copy.deepcopy`` of a module tree), with the same initial weights."""
    for name in proxies:
        REGISTRY.factory(name)  # an unknown name fails before any work, listing the known proxies
    screening = Screening()
    for arch in archs:
        scores, seconds, cpu = {}, {}, {}
        for name in proxies:
            start, start_cpu = time.perf_counter(), time.process_time()
            scores[name] = _score_owned(build(space, arch, batch[0].shape[1:], num_classes, seed), batch, name,
                                        seed, None)
            seconds[name], cpu[name] = time.perf_counter() - start, time.process_time() - start_cpu
        row = ScoredArch(arch, scores, seconds, cpu)
        screening.rows.append(row)
        if on_scored is not None:
            on_scored(row)
    return screening


WARM_START_STREAM = 0x5EED  # the warm start's sample is drawn apart from the strategy's own (same study seed)


def warm_start(space: SearchSpace, dataset, n: int, proxy: str, top: int, seed: int = 0,
               batch_size: int = DEFAULT_BATCH, on_scored=None) -> tuple[list[Arch], Screening]:
    """Score ``n`` sampled architectures with ``proxy`` on a batch of ``dataset``: the ``top``
    best (best first) and every score. Nothing is trained."""
    check_int("proxy warm start", "top", top, 1)
    REGISTRY.factory(proxy)
    archs = sample_distinct(space, n, [seed, WARM_START_STREAM])
    screening = score_archs(space, archs, batch_from(dataset, batch_size, seed), dataset.num_classes, [proxy], seed,
                            on_scored)
    return [r.arch for r in screening.ranked(proxy)[:top]], screening


__all__ = ["DEFAULT_BATCH", "ScoredArch", "Screening", "batch_from", "build", "build_seed", "sample_distinct",
           "score_archs", "warm_start"]
