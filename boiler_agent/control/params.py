"""Checked numeric parameters for the control laws: every error names the parameter and value."""

from __future__ import annotations

import math


def positive(name: str, value: float) -> float:
    """`value` as a float if finite and > 0, else ValueError naming `name`."""
    number = float(value)
    if not (math.isfinite(number) and number > 0):
        raise ValueError(f"{name} must be finite and > 0, got {value!r}")
    return number


def non_negative(name: str, value: float) -> float:
    number = float(value)
    if not (math.isfinite(number) and number >= 0):
        raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    return number


def in_range(name: str, value: float, low: float, high: float) -> float:
    number = float(value)
    if not (math.isfinite(number) and low <= number <= high):
        raise ValueError(f"{name} must be within {low:g}..{high:g}, got {value!r}")
    return number


def clamp(value: float, low: float, high: float) -> float:
    return min(high, max(low, value))
