"""The CPU package temperature, for the safety interlock that throttles near critical."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import psutil

log = logging.getLogger(__name__)

# hwmon drivers that report the CPU package, and the labels of the package sensor.
CPU_DRIVERS = ("coretemp", "k10temp", "zenpower", "cpu_thermal", "soc_thermal")
PACKAGE_LABELS = ("package id", "tctl", "tdie")  # an unlabelled sensor counts too (ARM SoCs)
DEFAULT_CRITICAL_C = 100.0  # when the driver gives no critical value (Intel's usual TjMax)

Reader = Callable[[], Mapping[str, Sequence[Any]]]


def cpu_package_temperature(
    read: Reader = psutil.sensors_temperatures,
) -> tuple[float, float] | None:
    """(current, critical) in °C of the hottest CPU package, or None where there is none."""
    try:
        sensors = read()
    except (OSError, AttributeError) as exc:  # AttributeError: psutil on a platform without it
        log.debug("no temperature sensors: %s", exc)
        return None
    hottest: tuple[float, float] | None = None
    for driver in CPU_DRIVERS:
        for entry in sensors.get(driver, ()):
            label = (entry.label or "").lower()
            if label and not label.startswith(PACKAGE_LABELS):
                continue  # a single core, not the package
            critical = entry.critical or entry.high or DEFAULT_CRITICAL_C
            if hottest is None or entry.current > hottest[0]:
                hottest = (float(entry.current), float(critical))
    return hottest
