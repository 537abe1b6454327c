"""Arch: an immutable, hashable, JSON-serialisable genotype.

An architecture is data: the name of its search space and a mapping of
decision names to values. It knows nothing about how to build a network;
its space does that.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from .errors import InvalidArchError

Value = Any  # JSON scalars, or tuples of them (lists become tuples)


def _freeze(value: Value, where: str) -> Value:
    if value is None or isinstance(value, (bool, int, float, str)):
        if isinstance(value, float) and value != value:
            raise InvalidArchError(f"decision {where!r} is NaN; architectures hold finite values")
        return value
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v, where) for v in value)
    if hasattr(value, "item") and callable(value.item):  # numpy / torch scalars
        return _freeze(value.item(), where)
    raise InvalidArchError(
        f"decision {where!r} has a value of type {type(value).__name__}; "
        "allowed: None, bool, int, float, str or lists of them"
    )


def _thaw(value: Value) -> Value:
    return [_thaw(v) for v in value] if isinstance(value, tuple) else value


class Arch:
    """A frozen architecture: ``space`` name plus ``decisions``.

    >>> a = Arch("macro-cnn", {"stem": 16, "ops": ["conv3x3", "identity"]})
    >>> Arch.from_json(a.to_json()) == a
    True
    """

    __slots__ = ("_space", "_decisions", "_key", "_hash")

    def __init__(self, space: str, decisions: Mapping[str, Value]):
        if not isinstance(space, str) or not space:
            raise InvalidArchError(f"an Arch needs a space name; got {space!r}")
        frozen = {}
        for name in sorted(decisions):
            if not isinstance(name, str):
                raise InvalidArchError(f"decision names must be strings; got {name!r}")
            frozen[name] = _freeze(decisions[name], name)
        object.__setattr__(self, "_space", space)
        object.__setattr__(self, "_decisions", MappingProxyType(frozen))
        key = (space, tuple((k, type(v).__name__, v) for k, v in frozen.items()))
        object.__setattr__(self, "_key", key)
        object.__setattr__(self, "_hash", hash(key))

    def __setattr__(self, name, value):
        raise AttributeError("Arch is immutable; use .replace(...) to derive a new one")

    @property
    def space(self) -> str:
        return self._space

    @property
    def decisions(self) -> Mapping[str, Value]:
        return self._decisions

    def __getitem__(self, name: str) -> Value:
        return self._decisions[name]

    def get(self, name: str, default: Value = None) -> Value:
        return self._decisions.get(name, default)

    def replace(self, **changes: Value) -> Arch:
        """A copy with some decisions changed (``None`` values are kept as None)."""
        return Arch(self._space, {**self._decisions, **changes})

    def __reduce__(self):
        return (Arch, (self._space, dict(self._decisions)))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Arch) and self._key == other._key

    def __hash__(self) -> int:
        return self._hash

    def __repr__(self) -> str:
        body = ", ".join(f"{k}={v!r}" for k, v in self._decisions.items())
        return f"Arch({self._space!r}, {body})"

    def to_dict(self) -> dict[str, Any]:
        return {"space": self._space, "decisions": {k: _thaw(v) for k, v in self._decisions.items()}}

    def to_json(self) -> str:
        """Canonical JSON: equal archs give identical strings."""
        return json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), allow_nan=False)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Arch:
        if not isinstance(data, Mapping) or "space" not in data or "decisions" not in data:
            raise InvalidArchError("an architecture is a JSON object with 'space' and 'decisions'")
        if not isinstance(data["decisions"], Mapping):
            raise InvalidArchError("'decisions' of an architecture must be a JSON object")
        return cls(data["space"], data["decisions"])

    @classmethod
    def from_json(cls, text: str) -> Arch:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InvalidArchError(f"not valid architecture JSON: {exc}") from None
        return cls.from_dict(data)

    @property
    def digest(self) -> str:
        """A short stable identifier (sha1 of the canonical JSON)."""
        return hashlib.sha1(self.to_json().encode()).hexdigest()[:16]
