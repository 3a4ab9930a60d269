"""Small declarative checks shared by the library's public entry points."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from numbers import Integral, Real

from .errors import InputError

__all__ = ["check_choice", "check_int", "check_real", "suggest"]


def suggest(name: str, valid: Iterable[str]) -> str:
    """Return ``" Did you mean 'x'?"`` for the closest valid name, or ``""``."""
    close = difflib.get_close_matches(str(name), list(valid), n=1, cutoff=0.5)
    return f" Did you mean {close[0]!r}?" if close else ""


def check_choice(param: str, value: object, valid: Iterable[str]) -> str:
    """Check that ``value`` is one of ``valid``; the error lists the choices and a suggestion."""
    valid = list(valid)
    if value not in valid:
        raise InputError(
            f"{param} must be one of {', '.join(map(repr, valid))}; got {value!r}."
            + suggest(str(value), valid)
        )
    return str(value)


def check_int(param: str, value: object, *, low: int | None = None, high: int | None = None) -> int:
    """Check that ``value`` is an integer in ``[low, high]``."""
    if isinstance(value, bool) or not isinstance(value, Integral):
        raise InputError(f"{param} must be an integer; got {value!r} ({type(value).__name__}).")
    _check_range(param, int(value), low, high)
    return int(value)


def check_real(
    param: str,
    value: object,
    *,
    low: float | None = None,
    high: float | None = None,
    high_open: bool = False,
    low_open: bool = False,
) -> float:
    """Check that ``value`` is a real number (not NaN) in ``[low, high]``; ``low_open`` and
    ``high_open`` leave out that end."""
    if isinstance(value, bool) or not isinstance(value, Real) or value != value:
        raise InputError(f"{param} must be a number; got {value!r}.")
    value = float(value)
    if low_open and low is not None and value <= low:
        raise InputError(f"{param} must be above {low}; got {value}.")
    _check_range(param, value, low, high, high_open=high_open)
    return value


def _check_range(param: str, value: float, low: float | None, high: float | None, *,
                 high_open: bool = False) -> None:
    too_high = high is not None and (value >= high if high_open else value > high)
    if (low is not None and value < low) or too_high:
        lo = "-inf" if low is None else low
        hi = "inf" if high is None else high
        raise InputError(f"{param} must be in [{lo}, {hi}{')' if high_open else ']'}; "
                         f"got {value}.")
