"""Checks of values at the boundary (CLI options and the Python API), one message style.

Torch-free; each raises :class:`edgelnn.errors.InputError` naming the value and what it must be.
"""
from __future__ import annotations

import math
import numbers

from .errors import InputError


def integer(value, name: str, minimum: int | None = None) -> int:
    """An int (not a bool, not 2.7, not "3") of at least ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise InputError(f"{name} must be an integer, got {value!r}")
    if minimum is not None and value < minimum:
        raise InputError(f"{name} must be an integer >= {minimum}, got {value}")
    return int(value)


def positive_int(value, name: str) -> int:
    return integer(value, name, 1)


def number(value, name: str, *, minimum: float | None = None, positive: bool = False) -> float:
    """A finite real number (not NaN, not inf), > 0 when ``positive``, >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise InputError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise InputError(f"{name} must be a finite number, got {value}")
    if positive and value <= 0:
        raise InputError(f"{name} must be > 0, got {value}")
    if minimum is not None and value < minimum:
        raise InputError(f"{name} must be >= {minimum}, got {value}")
    return value


def positive_number(value, name: str) -> float:
    return number(value, name, positive=True)
