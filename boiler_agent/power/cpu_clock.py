"""The machine's mean CPU clock in MHz, for telemetry (psutil reads cpufreq's sysfs)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import psutil

log = logging.getLogger(__name__)


def cpu_frequency_mhz(read: Callable[[], Any] = psutil.cpu_freq) -> float | None:
    """The mean current clock of the CPUs, or None where the machine does not say."""
    try:
        frequency = read()
    except (OSError, AttributeError, NotImplementedError) as exc:
        log.debug("no CPU frequency: %s", exc)
        return None
    current = getattr(frequency, "current", None)
    if not isinstance(current, int | float) or current <= 0:
        return None
    return round(float(current), 1)
