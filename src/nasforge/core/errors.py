"""One root exception and the specific errors users act on.

Every message names what was wrong, what is allowed and what was received,
so the CLI can print it as a single line.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class NasforgeError(Exception):
    """Root of every error nasforge raises on purpose."""


class UserInputError(NasforgeError, ValueError):
    """An option, name or value given by the user is not valid."""


class UnknownNameError(UserInputError, KeyError):
    """A registry lookup for a name that is not registered."""

    def __init__(self, kind: str, name: str, known: Iterable[str]):
        known = sorted(known)
        close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
        hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
        super().__init__(f"unknown {kind} {name!r}; known: {', '.join(known)}.{hint}")
        self.kind, self.name, self.known = kind, name, known

    def __str__(self) -> str:  # KeyError would add quotes around the message
        return self.args[0]


class InvalidArchError(UserInputError):
    """An architecture does not belong to its search space."""


class SpaceDefinitionError(UserInputError):
    """A search-space definition (file or define-by-run function) is malformed."""


class DatasetNotFoundError(NasforgeError):
    """A data set is not installed; the message says how to get it."""


class StudyError(NasforgeError):
    """A study file is missing, foreign, corrupted or incompatible."""


class StudyExistsError(StudyError):
    """A new study was asked for at a path where one exists (or was just created by another process)."""


class StudyBusyError(StudyError):
    """Another process is writing the study; a study has one writer at a time."""


class MissingDependencyError(NasforgeError, ImportError):
    """An optional extra is not installed; the message names the pip command."""


class TrialError(NasforgeError):
    """A trial could not produce a usable result (e.g. the loss became NaN)."""


def require(module: str, extra: str):
    """Import an optional dependency or explain which extra installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise MissingDependencyError(
            f"{module!r} is needed for this feature but is not installed; "
            f"install it with: pip install 'nasforge[{extra}]'"
        ) from exc
