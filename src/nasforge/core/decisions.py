"""A generic search space of fixed, discrete decisions (numpy only), and its Decision.

Strategies that model decisions one by one (REINFORCE, TPE) require a DecisionSpace."""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from .arch import Arch
from .errors import InvalidArchError, UserInputError
from .space import SearchSpace


@dataclass(frozen=True)
class Decision:
    """One discrete decision. ``ordinal`` choices have a meaningful order
    (mutations and neighbours step to adjacent values; encodings are scalar)."""

    name: str
    choices: tuple
    ordinal: bool = False

    def index(self, value: Any) -> int:
        for i, c in enumerate(self.choices):
            if c == value and type(c) is type(value):
                return i
        raise InvalidArchError(
            f"decision {self.name!r}: {value!r} is not allowed; "
            f"known: {', '.join(repr(c) for c in self.choices)}"
        )


class DecisionSpace(SearchSpace):
    """A space made of a fixed list of discrete decisions.

    Subclasses list their decisions and implement ``build``; sampling,
    mutation, crossover, neighbours, encoding and validation come from here.
    ``crossover_groups`` keeps related decisions (e.g. one stage) together.
    """

    def __init__(self, decisions: Sequence[Decision]):
        names = [d.name for d in decisions]
        if len(set(names)) != len(names):
            raise ValueError(f"duplicate decision names in {names}")
        self.decisions = tuple(decisions)

    def crossover_groups(self) -> list[list[str]]:
        return [[d.name] for d in self.decisions]

    def sample(self, rng):
        return Arch(self.name, {d.name: d.choices[rng.integers(len(d.choices))] for d in self.decisions})

    def validate(self, arch):
        self._check_space(arch)
        expected = {d.name for d in self.decisions}
        missing = expected - set(arch.decisions)
        extra = set(arch.decisions) - expected
        if missing:
            raise InvalidArchError(f"space {self.name!r}: missing decision(s) {sorted(missing)}")
        if extra:
            raise InvalidArchError(
                f"space {self.name!r}: unknown decision(s) {sorted(extra)}; known: {sorted(expected)}"
            )
        for d in self.decisions:
            d.index(arch[d.name])

    def _alternatives(self, d: Decision, value: Any) -> list[Any]:
        i = d.index(value)
        if d.ordinal:
            return [d.choices[j] for j in (i - 1, i + 1) if 0 <= j < len(d.choices)]
        return [c for j, c in enumerate(d.choices) if j != i]

    def mutate(self, arch, rng):
        self.validate(arch)
        mutable = [d for d in self.decisions if len(d.choices) > 1]
        d = mutable[rng.integers(len(mutable))]
        options = self._alternatives(d, arch[d.name])
        return arch.replace(**{d.name: options[rng.integers(len(options))]})

    def crossover(self, a, b, rng):
        self.validate(a)
        self.validate(b)
        child = dict(a.decisions)
        for group in self.crossover_groups():
            if rng.random() < 0.5:
                child.update({n: b[n] for n in group})
        return Arch(self.name, child)

    def neighbors(self, arch):
        self.validate(arch)
        return [arch.replace(**{d.name: v}) for d in self.decisions
                for v in self._alternatives(d, arch[d.name])]

    def encode(self, arch):
        self.validate(arch)
        parts: list[float] = []
        for d in self.decisions:
            i = d.index(arch[d.name])
            if d.ordinal:
                parts.append(i / max(1, len(d.choices) - 1))
            else:
                one_hot = [0.0] * len(d.choices)
                one_hot[i] = 1.0
                parts.extend(one_hot)
        return np.asarray(parts, dtype=np.float32)

    @property
    def encoding_length(self):
        return sum(1 if d.ordinal else len(d.choices) for d in self.decisions)

    @property
    def size(self):
        n = 1
        for d in self.decisions:
            n *= len(d.choices)
        return n
