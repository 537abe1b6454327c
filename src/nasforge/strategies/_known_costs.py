"""What the strategies that read costs known before training share (``mo-bo``, ``cost-random``).

In hardware-aware NAS a candidate's latency is measured or predicted in milliseconds and its
parameters and FLOPs counted from the built model, while its accuracy costs a training of
minutes to hours. A study therefore hands every strategy its estimator's
:meth:`~nasforge.core.Estimator.costs` (``Strategy.set_known_costs``); a
:class:`CostAwareStrategy` looks up the costs of many candidates for free (each once: the
lookups are cached and counted, never evaluations), knows which of its objectives are known
exactly before training, screens out candidates that break a constraint on a known cost,
and keeps an *archive* of the cheapest candidates it has looked up and not asked yet.

Why the archive: the cheapest architecture (the most accurate among equally cheap ones) is
always on the true front, and in a space with noisy or irregular costs it may be a needle
no mutation leads to. Lookups accumulated over many asks find it; the archive remembers it.
"""

from __future__ import annotations

import numpy as np

from ..core import Arch, Strategy, check_int
from ..core import objectives as _objectives
from ..core.objectives import violations


class CostAwareStrategy(Strategy):
    """A strategy that reads the costs known before training (see the module docstring).

    With ``skip_repeats``, a candidate whose known costs all equal those of an architecture
    already asked is taken for the same network in another encoding and not asked.

    State it adds: the archive (decisions of at most ``archive`` cheapest unasked candidates
    per known objective) and the number of lookups made.
    """

    uses_known_costs = True
    SIGNATURE = ("params", "flops")  # looked up too: equal costs in all of these mark a probable repeat
    MAX_CACHE = 100_000  # entries per cache (costs, values, digests); cleared (and looked up again) beyond

    def __init__(self, space, seed=0, archive: int = 20, skip_repeats: bool = True):
        super().__init__(space, seed)
        self.skip_repeats = bool(skip_repeats)
        self.asked_signatures: set[tuple] = set()  # of the architectures asked (and remembered)
        self.archive_size = check_int(self.name, "archive", archive, 0)
        self.archive: list[Arch] = []
        self.lookups = 0  # calls of the cost lookup (cache misses): free, but reported
        self._cost_cache: dict[Arch, dict[str, float]] = {}
        self._values: dict[Arch, np.ndarray | None] = {}  # known objectives in minimisation form
        self._known: tuple[str, ...] | None = None  # objectives the lookup knows (fixed at its first answer)
        self._digests: dict[Arch, str] = {}  # Arch.digest hashes JSON each time; pools ask it thousands of times

    def digest(self, arch: Arch) -> str:
        """``arch.digest``, memoised."""
        d = self._digests.get(arch)
        if d is None:
            if len(self._digests) >= self.MAX_CACHE:
                self._digests.clear()
            d = self._digests[arch] = arch.digest
        return d

    def unasked(self, arch: Arch) -> bool:
        """Not asked before, and (with ``skip_repeats``) not a probable repeat of an asked architecture."""
        if self.digest(arch) in self.seen:
            return False
        if not self.skip_repeats or self.known_costs is None:
            return True
        signature = self.signature(arch)
        return signature is None or signature not in self.asked_signatures

    def signature(self, arch: Arch) -> tuple | None:
        """Every cost known before training, as one value; None when nothing is known. Two
        encodings with equal signatures are most likely one network (NB201's 15,625 encodings
        are 4,930 distinct cells, and isomorphic cells share parameters, FLOPs and latency)."""
        costs = self.costs_of(arch)
        return tuple(sorted(costs.items())) if costs else None

    def mark_asked(self, arch: Arch) -> None:
        self.seen.add(self.digest(arch))
        if self.skip_repeats and self.known_costs is not None and (signature := self.signature(arch)):
            self.asked_signatures.add(signature)

    def remember(self, archs) -> None:
        archs = list(archs)
        super().remember(archs)
        if self.skip_repeats and self.known_costs is not None:
            self.asked_signatures.update(s for a in archs if (s := self.signature(a)))

    # -- lookups ------------------------------------------------------------------------------------

    def costs_of(self, arch: Arch) -> dict[str, float]:
        """The costs of ``arch`` known before training (objectives and constrained metrics), cached."""
        if self.known_costs is None:
            return {}
        cached = self._cost_cache.get(arch)
        if cached is None:
            if len(self._cost_cache) >= self.MAX_CACHE:
                self._cost_cache.clear()
            wanted = set(self.objectives) | {c.metric for c in self.constraints} | set(self.SIGNATURE)
            cached = self._cost_cache[arch] = dict(self.known_costs(arch, wanted))
            self.lookups += 1
        return cached

    @property
    def known_objectives(self) -> tuple[str, ...]:
        """The objectives known before training (empty without a lookup), in objective order."""
        if self.known_costs is None:
            return ()
        if self._known is None:
            probe = self.costs_of(self.space.sample(np.random.default_rng([self.seed, 17])))
            self._known = tuple(o for o in self.objectives if o in probe)
        return self._known

    def set_objectives(self, names) -> None:
        super().set_objectives(names)
        self._known, self._cost_cache, self._values = None, {}, {}

    def set_known_costs(self, lookup, constraints=()) -> None:
        super().set_known_costs(lookup, constraints)
        self._known, self._cost_cache, self._values = None, {}, {}

    def known_values(self, arch: Arch) -> np.ndarray | None:
        """The known objectives of ``arch`` in minimisation form, or None if one is missing (memoised)."""
        if arch in self._values:
            return self._values[arch]
        costs, out = self.costs_of(arch), []
        for name in self.known_objectives:
            if name not in costs:
                out = None
                break
            out.append(_objectives.get(name).sign * float(costs[name]))
        if len(self._values) >= self.MAX_CACHE:
            self._values.clear()
        self._values[arch] = None if out is None else np.array(out)
        return self._values[arch]

    def allowed(self, arch: Arch) -> bool:
        """No constraint on a cost known before training is broken (the study would reject it)."""
        return not self.constraints or not violations(self.constraints, self.costs_of(arch))

    def sample_allowed(self, tries: int = 200) -> Arch:
        """A random architecture not asked before that meets the constraints on known costs (after
        ``tries`` failures, the last one drawn: the study rejects it); marked as asked."""
        for _ in range(tries):
            arch = self.space.sample(self.rng)
            if self.unasked(arch) and self.allowed(arch):
                break
        self.mark_asked(arch)
        return arch

    # -- the archive of the cheapest --------------------------------------------------------------

    def update_archive(self, candidates: list[Arch]) -> None:
        """Keep the ``archive`` cheapest of the archive and ``candidates`` (unasked, allowed, with
        known costs) in each known objective (ties: the earlier first)."""
        if not self.archive_size or not self.known_objectives:
            return
        pool = [a for a in dict.fromkeys([*self.archive, *candidates]) if self.unasked(a) and self.allowed(a)]
        archs = [a for a in pool if self.known_values(a) is not None]
        if not archs:
            self.archive = []
            return
        values = np.array([self.known_values(a) for a in archs])
        keep: dict[Arch, None] = {}
        for j in range(values.shape[1]):
            for i in np.argsort(values[:, j], kind="stable")[: self.archive_size]:
                keep[archs[i]] = None
        self.archive = list(keep)

    def cheapest_unasked(self, objective: int = 0) -> Arch | None:
        """The archive's cheapest architecture in known objective ``objective`` not asked yet."""
        archs = [a for a in self.archive if self.unasked(a) and self.known_values(a) is not None]
        if not archs:
            return None
        return min(archs, key=lambda a: self.known_values(a)[objective])

    # -- state --------------------------------------------------------------------------------------

    def _cost_state(self) -> dict:
        return {"archive": [dict(a.to_dict()["decisions"]) for a in self.archive], "lookups": self.lookups}

    def _load_cost_state(self, state) -> None:
        self.archive = [Arch(self.space.name, d) for d in state.get("archive", [])]
        self.lookups = int(state.get("lookups", 0))


__all__ = ["CostAwareStrategy"]
