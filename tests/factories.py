"""Payload builders for the tests: valid defaults, any field replaced by keyword."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from boiler_agent.telemetry.payloads import Birth, State, Telemetry
from boiler_agent.telemetry.samples import telemetry_fields

NOW = datetime(2025, 1, 31, 18, 0, tzinfo=UTC)


def telemetry(**changes: Any) -> Telemetry:
    """A telemetry message of boot `b1`, seq 7, made at NOW."""
    envelope: dict[str, Any] = {"boot_id": "b1", "seq": 7, "msg_id": "b1-7", "ts": NOW}
    return Telemetry.model_validate({**envelope, **telemetry_fields(), **changes})


def birth(**changes: Any) -> Birth:
    """The birth of room heater `h1` of fleet `north`, boot `b1`."""
    fields: dict[str, Any] = {
        "heater_id": "h1",
        "fleet": "north",
        "boot_id": "b1",
        "agent_version": "0.1.0",
        "firmware_version": "1.2.0",
        "protocol_version": 1,
        "heater_kind": "room",
        "rated_power_w": 500.0,
        "cpu_count": 8,
        "capabilities": ["jobs", "ha_discovery"],
        "actuators": ["cgroup", "rapl"],
        "config_digest": "sha256:abc",
        "started_at": NOW,
    }
    return Birth.model_validate({**fields, **changes})


def state(**changes: Any) -> State:
    """Heating to 19 °C on the schedule, taking no jobs, no safety trip."""
    fields: dict[str, Any] = {
        "mode": "heat",
        "setpoint_c": 19.0,
        "setpoint_source": "schedule",
        "accepting_jobs": False,
        "safety_trips": [],
    }
    return State.model_validate({**fields, **changes})
