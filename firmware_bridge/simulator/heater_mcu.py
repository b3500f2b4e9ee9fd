"""A simulated heater's MCU set-up and fault knobs, shared by the pty simulator and the
in-process one: what firmware a preset runs, and how a test breaks it."""

from __future__ import annotations

import zlib

from firmware_bridge.protocol import PROTOCOL_VERSION
from firmware_bridge.simulator.mcu import McuConfig, SimulatedMcu
from firmware_bridge.simulator.world import SimulatedHeater

SENSOR_FAULTS = ("open", "short", "frozen")


def mcu_config_for(
    heater: SimulatedHeater,
    *,
    report_interval_ms: int = 500,
    protocol_version: int = PROTOCOL_VERSION,
    serial_number: str | None = None,
) -> McuConfig:
    """The firmware configuration of a preset; the serial number is stable per preset."""
    prefix = "QB1" if heater.kind.name == "WATER_BOILER" else "QH1"
    default_serial = f"{prefix}-{zlib.crc32(heater.name.encode()) % 1_000_000:06d}"
    return McuConfig(
        serial_number=serial_number or default_serial,
        heater_kind=heater.kind,
        rated_power_w=heater.rated_power_w,
        min_temp_c=heater.min_temp_c,
        max_temp_c=heater.max_temp_c,
        sensors=heater.sensors,
        report_interval_ms=report_interval_ms,
        protocol_version=protocol_version,
    )


def set_sensor_fault(mcu: SimulatedMcu, index: int, fault: str | None) -> None:
    """fault: "open", "short", "frozen", or None to repair the sensor."""
    faults = mcu.faults
    groups = {
        "open": faults.open_sensors,
        "short": faults.short_sensors,
        "frozen": faults.frozen_sensors,
    }
    if fault is not None and fault not in groups:
        raise ValueError(f"sensor fault must be one of {', '.join(SENSOR_FAULTS)}, got {fault!r}")
    for group in groups.values():
        group.discard(index)
    if fault is not None:
        groups[fault].add(index)


def set_line_noise(mcu: SimulatedMcu, *, crc_error_rate: float, garbage_rate: float) -> None:
    for name, rate in (("crc_error_rate", crc_error_rate), ("garbage_rate", garbage_rate)):
        if not 0.0 <= rate <= 1.0:
            raise ValueError(f"{name} must be 0..1, got {rate}")
    mcu.faults.crc_error_rate = crc_error_rate
    mcu.faults.garbage_rate = garbage_rate
