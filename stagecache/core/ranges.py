"""Range checks for parameters, for the ``validate()`` methods of stages and config classes.

Each raises ``ValueError("[Section] key must be ..., got value")``: the configuration check
(:mod:`stagecache.configcheck`) finds where the key was set (``file:line`` or the command-line
flag) from that message. A value of the wrong type (a string in a list of sizes, a boolean
where a number belongs) fails the same way instead of raising ``TypeError`` later, and a
float must be finite (``nan`` and ``inf`` parse as floats).
"""

from __future__ import annotations

import math
from numbers import Real

#: Upper bounds for counts of work (passes, updates, generated points): a value past them is a typing
#: mistake (``99999999999999999999`` epochs would train for ever), not an experiment.
MAX_EPOCHS = 100_000
MAX_STEPS = 10_000_000
MAX_ITEMS = 100_000_000


def _section(owner) -> str:
    family = getattr(owner, "get_task_family", None)
    return family() if callable(family) else str(owner)


def _fail(owner, key: str, what: str, value) -> None:
    shown = value if isinstance(value, (int, float)) and not isinstance(value, bool) else repr(value)
    phrase = what if what.startswith("lie ") else f"be {what}"
    raise ValueError(f"[{_section(owner)}] {key} must {phrase}, got {shown}")


def _is_number(value, integer: bool) -> bool:
    if isinstance(value, bool) or not isinstance(value, (int if integer else Real)):
        return False
    return integer or math.isfinite(value)


def check(
    owner,
    key: str,
    value,
    *,
    integer: bool = False,
    low=None,
    high=None,
    low_open: bool = False,
    high_open: bool = False,
) -> None:
    """``value`` is a number (an integer with ``integer``) in the given range, or ``ValueError``."""
    words = _range_words(low, high, low_open, high_open)
    if not _is_number(value, integer):
        _fail(owner, key, ("an integer" if integer else "a finite number") + (" " + words if words else ""), value)
    too_low = low is not None and (value <= low if low_open else value < low)
    too_high = high is not None and (value >= high if high_open else value > high)
    if too_low or too_high:
        _fail(owner, key, "lie " + words if words.startswith("in ") else words, value)


def _range_words(low, high, low_open: bool, high_open: bool) -> str:
    if low is not None and high is not None:
        return f"in {'(' if low_open else '['}{low}, {high}{')' if high_open else ']'}"
    if low is not None:
        return f"{'>' if low_open else '>='} {low}"
    if high is not None:
        return f"{'<' if high_open else '<='} {high}"
    return ""


def positive(owner, integer: bool = False, **values) -> None:
    """Every value is a number > 0 (the existing message: ``[Task] lr must be > 0, got -0.1``)."""
    for key, value in values.items():
        check(owner, key, value, integer=integer, low=0, low_open=True)


def at_least(owner, minimum, integer: bool = True, **values) -> None:
    """Every value is a number >= ``minimum``."""
    for key, value in values.items():
        check(owner, key, value, integer=integer, low=minimum)


def at_most(owner, maximum, integer: bool = True, **values) -> None:
    """Every value is a number <= ``maximum`` (check the lower bound first, for its own message)."""
    for key, value in values.items():
        check(owner, key, value, integer=integer, high=maximum)


def seed(owner, key: str, value) -> None:
    """A random seed numpy accepts: an integer in [0, 2**32 - 1]."""
    check(owner, key, value, integer=True, low=0, high=2**32 - 1)


def each(owner, key: str, values, *, length: int | None = None, nonempty: bool = False, **rule) -> None:
    """``values`` is a list (of ``length`` items, or at least one with ``nonempty``), each passing :func:`check`."""
    if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__len__"):
        _fail(owner, key, "a list", values)
    if length is not None and len(values) != length:
        _fail(owner, key, f"a list of {length} items", list(values))
    if nonempty and not values:
        _fail(owner, key, "a non-empty list", list(values))
    for i, value in enumerate(values):
        check(owner, f"{key}[{i}]", value, **rule)


def strings(owner, key: str, values, *, nonempty: bool = True) -> None:
    """``values`` is a list of non-empty strings (with ``nonempty``, at least one)."""
    if isinstance(values, (str, bytes, dict)) or not hasattr(values, "__len__"):
        _fail(owner, key, "a list of strings", values)
    if nonempty and not values:
        _fail(owner, key, "a non-empty list", list(values))
    for i, value in enumerate(values):
        if not isinstance(value, str) or not value:
            _fail(owner, f"{key}[{i}]", "a non-empty string", value)
