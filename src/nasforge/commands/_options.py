"""Command-line values (``KEY=VALUE`` options, positive numbers), shared by the central parser and the command modules."""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..core import UserInputError


def key_values(pairs: list[str] | None, flag: str) -> dict[str, Any]:
    """``flag``'s ``KEY=VALUE`` pairs as a dict; values read as JSON where they parse (true, 3, "x")."""
    out: dict[str, Any] = {}
    for pair in pairs or []:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise UserInputError(f"{flag} takes KEY=VALUE; got {pair!r}")
        try:
            out[key] = json.loads(value)
        except json.JSONDecodeError:
            out[key] = value
    return out


def _positive(convert, what: str):
    """An argparse type: ``convert(text)`` (int or float), refused unless > 0 with "expected a positive {what}"."""
    def parse(text: str):
        try:
            value = convert(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a positive {what}, got {text!r}") from None
        if not value > 0:  # for floats also refuses nan
            raise argparse.ArgumentTypeError(f"expected a positive {what}, got {text!r}")
        return value

    parse.__name__ = f"positive_{convert.__name__}"
    return parse


positive_int = _positive(int, "integer")  # an integer >= 1
positive_float = _positive(float, "number")  # a number > 0
