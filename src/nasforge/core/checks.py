"""Shared argument checks with one message style everywhere, as scikit-learn words it:
"The 'x' parameter of Y must be ... Got ... instead."

``owner`` names the component (a strategy, a space); ``kind`` says what the
value is ("parameter", "option", "fidelity").
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from .errors import UserInputError


def _fail(owner: str | None, name: str, kind: str, want: str, value: Any):
    where = f"The {name!r} {kind}" + (f" of {owner}" if owner else "")
    raise UserInputError(f"{where} must be {want}. Got {value!r} instead.")


def check_int(owner: str | None, name: str, value: Any, low: int | None = None, high: int | None = None,
              kind: str = "parameter") -> int:
    """``value`` if it is an int in [low, high] (either bound optional), else a UserInputError naming it."""
    ok = isinstance(value, int) and not isinstance(value, bool)
    if not (ok and (low is None or value >= low) and (high is None or value <= high)):
        if low is not None and high is not None:
            want = f"an int in [{low}, {high}]"
        elif low is not None or high is not None:
            want = f"an int >= {low}" if low is not None else f"an int <= {high}"
        else:
            want = "an int"
        _fail(owner, name, kind, want, value)
    return value


def check_float(owner: str | None, name: str, value: Any, low: float | None = None, high: float | None = None,
                open_low: bool = False, kind: str = "parameter", want: str | None = None) -> float:
    """``value`` as a float if it is a finite number in the interval (``open_low``: strictly above ``low``)."""
    ok = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    ok = ok and (low is None or (value > low if open_low else value >= low)) and (high is None or value <= high)
    if not ok:
        if want is None and low is not None and high is not None:
            want = f"a number in {'(' if open_low else '['}{low:g}, {high:g}]"
        elif want is None and low is not None:
            want = f"a number {'>' if open_low else '>='} {low:g}"
        elif want is None:
            want = "a number" + (f" <= {high:g}" if high is not None else "")
        _fail(owner, name, kind, want, value)
    return float(value)


def check_choice(owner: str | None, name: str, value: Any, allowed: Iterable[Any], kind: str = "parameter") -> Any:
    """``value`` if it is one of ``allowed``, else a UserInputError listing them."""
    allowed = tuple(allowed)
    if value not in allowed:
        _fail(owner, name, kind, f"one of {', '.join(repr(a) for a in allowed)}", value)
    return value
