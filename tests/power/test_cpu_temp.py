"""Reading the CPU package temperature from psutil's hwmon view."""

from __future__ import annotations

from collections import namedtuple

from boiler_agent.power.cpu_temp import cpu_package_temperature

Temp = namedtuple("Temp", "label current high critical")


def test_hottest_intel_package_with_its_critical_value() -> None:
    sensors = {
        "coretemp": [
            Temp("Package id 0", 71.0, 84.0, 100.0),
            Temp("Core 0", 90.0, 84.0, 100.0),  # a core, not the package
            Temp("Package id 1", 76.0, 84.0, 98.0),
        ],
        "nvme": [Temp("Composite", 95.0, 80.0, 85.0)],
    }
    assert cpu_package_temperature(lambda: sensors) == (76.0, 98.0)


def test_amd_tctl_without_critical_uses_the_default() -> None:
    sensors = {"k10temp": [Temp("Tctl", 65.5, None, None)]}
    assert cpu_package_temperature(lambda: sensors) == (65.5, 100.0)


def test_no_sensors_is_none_not_an_error() -> None:
    assert cpu_package_temperature(dict) is None

    def broken() -> dict[str, list[Temp]]:
        raise OSError("no hwmon")

    assert cpu_package_temperature(broken) is None
