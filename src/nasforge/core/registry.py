"""Name -> factory registries, so the CLI, config files and studies refer to
components by stable names."""

from __future__ import annotations

import fnmatch
from collections.abc import Callable
from typing import Generic, TypeVar

from .errors import UnknownNameError

T = TypeVar("T")


class Registry(Generic[T]):
    """A mapping of names to factories with helpful lookup errors."""

    def __init__(self, kind: str):
        self.kind = kind
        self._factories: dict[str, Callable[..., T]] = {}
        self._summaries: dict[str, str] = {}

    def register(self, name: str, summary: str = "") -> Callable[[Callable[..., T]], Callable[..., T]]:
        """Decorator: register ``factory`` under ``name``."""

        def decorate(factory: Callable[..., T]) -> Callable[..., T]:
            if name in self._factories:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._factories[name] = factory
            doc = (factory.__doc__ or "").strip().splitlines()
            self._summaries[name] = summary or (doc[0] if doc else "")
            return factory

        return decorate

    def unregister(self, name: str) -> None:
        self._factories.pop(name, None)
        self._summaries.pop(name, None)

    def factory(self, name: str) -> Callable[..., T]:
        try:
            return self._factories[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self._factories) from None

    def names(self, pattern: str = "*") -> list[str]:
        return sorted(n for n in self._factories if fnmatch.fnmatch(n, pattern))

    def summary(self, name: str) -> str:
        self.factory(name)
        return self._summaries[name]

    def __contains__(self, name: str) -> bool:
        return name in self._factories
