"""Sample payloads with a real message's shape and size, for the tests and the benchmarks."""

from __future__ import annotations

from typing import Any


def telemetry_fields(**changes: Any) -> dict[str, Any]:
    """A telemetry message's body as JSON values (no envelope: schema, boot_id, seq, msg_id,
    historical, ts), as the agent fills it each period; `changes` replace whole keys."""
    fields: dict[str, Any] = {
        "temperatures": {"air_c": 19.02, "outdoor_c": 3.4, "cpu_package_c": 61.0},
        "setpoint_c": 19.0,
        "heat_demand_w": 412.5,
        "power_w": 409.8,
        "power_estimated": False,
        "workers_running": 4,
        "workers_max": 8,
        "frequency_mhz": 2400,
        "duty": 0.83,
        "jobs": {"running": 2, "queued": 5, "done": 118},
        "energy": {"total_kwh": 1234.567, "wanted_kwh": 1230.001},
        "link": {"frames_ok": 1234567, "frames_bad": 3, "reconnects": 1, "up": True},
        "outbox": {"queued": 0, "dropped": 0},
    }
    return {**fields, **changes}
