"""The power actuator port: a knob that exists or not, with a range, set by a fraction."""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Protocol

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class KnobInfo:
    """What a probe found: the knob's range in its own unit, and why it is skipped, if it is."""

    name: str
    unit: str
    minimum: float
    maximum: float
    current: float
    skip_reason: str | None = None

    @property
    def usable(self) -> bool:
        return self.skip_reason is None

    def describe(self) -> str:
        state = "usable" if self.usable else f"skipped ({self.skip_reason})"
        return (
            f"{self.name}: {state}, range {self.minimum:g}..{self.maximum:g} {self.unit}, "
            f"now {self.current:g} {self.unit}"
        )


class PowerKnob(Protocol):
    """One way to limit CPU power. `apply` and `current` speak fractions 0..1 of the range."""

    name: str

    def probe(self) -> KnobInfo | None:
        """The knob's range and state, or None when it does not exist on this machine."""
        ...

    def apply(self, fraction: float) -> None:
        """Set the knob to `fraction` of its range (clamped); a no-op when it is skipped."""
        ...

    def current(self) -> float:
        """The knob's setting as a fraction of its range (1.0 when it cannot be read)."""
        ...


def clamp_fraction(fraction: float) -> float:
    """`fraction` within 0..1; NaN counts as 0, the safe end for a heater."""
    if math.isnan(fraction):
        return 0.0
    return min(1.0, max(0.0, fraction))


def to_fraction(value: float, info: KnobInfo) -> float:
    """A value in the knob's unit as a fraction of its range."""
    span = info.maximum - info.minimum
    if span <= 0:
        return 1.0
    return clamp_fraction((value - info.minimum) / span)


def from_fraction(fraction: float, info: KnobInfo) -> int:
    """A fraction of the range as the integer the kernel expects, within the range."""
    value = info.minimum + clamp_fraction(fraction) * (info.maximum - info.minimum)
    return round(min(info.maximum, max(info.minimum, value)))


def skip(name: str, reason: str, *, warn: bool = False) -> None:
    """The one log line that says a knob is left alone, and why."""
    log.log(logging.WARNING if warn else logging.INFO, "power knob %s skipped: %s", name, reason)


class SysfsKnob:
    """Shared plumbing: probe once, log a skip once, clamp, and stop after a refused write."""

    name = "knob"

    def __init__(self) -> None:
        self._info: KnobInfo | None = None
        self._probed = False
        self._logged_reason: str | None = None

    def _probe(self) -> KnobInfo | None:
        raise NotImplementedError

    def _absent_reason(self) -> str:
        return "not present"

    def _write(self, fraction: float, info: KnobInfo) -> bool:
        raise NotImplementedError

    def _read(self) -> float | None:
        raise NotImplementedError

    def probe(self) -> KnobInfo | None:
        info = self._probe()
        self._info, self._probed = info, True
        reason = self._absent_reason() if info is None else info.skip_reason
        if reason is not None and reason != self._logged_reason:
            skip(self.name, reason, warn=reason.startswith("read-only"))
        self._logged_reason = reason
        return info

    def _cached(self) -> KnobInfo | None:
        return self._info if self._probed else self.probe()

    def apply(self, fraction: float) -> None:
        info = self._cached()
        if info is None or not info.usable:
            return
        if not self._write(clamp_fraction(fraction), info):
            reason = "write refused by the kernel"
            self._info = KnobInfo(
                info.name, info.unit, info.minimum, info.maximum, info.current, reason
            )
            skip(self.name, reason, warn=True)
            self._logged_reason = reason

    def current(self) -> float:
        info = self._cached()
        value = self._read() if info is not None else None
        return 1.0 if info is None or value is None else to_fraction(value, info)
