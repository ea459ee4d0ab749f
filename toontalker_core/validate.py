"""Numbers that users and files give, checked once where they enter (CLI flags, keyframe files, node widgets,
motion files), each message written once here."""
from __future__ import annotations

import math

from .errors import InputError

MAX_FPS = 1000.0
MAX_SECONDS = 24 * 3600.0  # a day of video: longer is a typo (and 1e308 s overflows every frame count)


def number(value, what: str, low: float | None = None, high: float | None = None, *,
           above: bool = False, whole: bool = False):
    """`value` as a finite float (or int when `whole`) in [low, high] (`above`: strictly > low), else one
    InputError naming `what`, the value and the range."""
    try:
        x = float(value)
    except (TypeError, ValueError, OverflowError):
        raise InputError(f"{what} must be a number, got {value!r}") from None
    if isinstance(value, bool) or not math.isfinite(x):
        raise InputError(f"{what} must be a finite number, got {value!r}")
    if whole and x != int(x):
        raise InputError(f"{what} must be a whole number, got {value!r}")
    too_low = low is not None and (x <= low if above else x < low)
    too_high = high is not None and x > high
    if too_low or too_high:
        lo = "" if low is None else (f"> {low:g}" if above else f">= {low:g}")
        hi = "" if high is None else f"<= {high:g}"
        raise InputError(f"{what} must be {' and '.join(p for p in (lo, hi) if p)}, got {value!r}")
    return int(x) if whole else x


def fps(value, what: str = "fps") -> float:
    return number(value, what, 0, MAX_FPS, above=True)


def seconds(value, what: str = "seconds") -> float:
    return number(value, what, 0, MAX_SECONDS)
