"""One snapshot of the agent per period, projected into telemetry, state and status.

The loop fills a `Snapshot` with everything it knows; the MQTT telemetry, the retained state
and `boiler-agent status` are each a projection of that one value, so the three never drift
apart in what they say or how they name it.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from boiler_agent import __version__
from boiler_agent.control.setpoint import Target
from boiler_agent.daemon.uplink import UplinkHealth
from boiler_agent.runtime.status_model import AgentStatus, HeaterInfo
from boiler_agent.telemetry.payloads import State
from firmware_bridge.events import HeaterIdentity
from firmware_bridge.protocol import SensorKind

SENSOR_NAMES = {
    SensorKind.ROOM_AIR: "air",
    SensorKind.TANK_TOP: "water",
    SensorKind.TANK_BOTTOM: "water_bottom",
    SensorKind.HEATER_BODY: "heater_body",
    SensorKind.OUTDOOR: "outdoor",
}
TELEMETRY_TEMP_RANGE_C = (-60.0, 150.0)  # what the telemetry schema accepts


def sensor_name(kind: SensorKind) -> str:
    return SENSOR_NAMES.get(kind, kind.name.lower())


@dataclass(frozen=True)
class JobCounts:
    running: int = 0
    queued: int = 0  # waiting or preempted
    done: int = 0
    failed: int = 0


@dataclass(frozen=True)
class LinkHealth:
    state: str
    up: bool  # an MCU is connected and accepted
    frames_rx: int
    frames_bad: int
    reconnects: int
    last_reading_age_s: float | None
    refused: str | None  # why the connected MCU is not accepted


@dataclass(frozen=True)
class Snapshot:
    heater_id: str
    heater_kind: str
    state: str  # starting, running, reloading, stopping, stopped
    started_at: datetime
    taken_at: datetime
    identity: HeaterIdentity | None
    temperatures_c: dict[str, float | None]
    controlled_c: float | None
    outdoor_c: float | None
    cpu_package_c: float | None
    target: Target | None
    override_until: datetime | None
    demand_w: float
    allowed: float
    measured_w: float
    workers_running: int
    workers_max: int
    duty: float
    frequency_mhz: float | None
    jobs: JobCounts | None  # None: not counted in this snapshot
    accepting_jobs: bool
    link: LinkHealth
    uplink: UplinkHealth | None
    trips: dict[str, str] = field(default_factory=dict)
    energy_total_kwh: float = 0.0
    energy_wanted_kwh: float = 0.0
    telemetry_sent: int = 0
    heat_problem: str | None = None  # heat asked for and allowed, none made (HeatWatch)
    store_errors: int = 0  # job-store writes the disk refused (jobs degrade, heat goes on)
    checkpoint_errors: int = 0  # checkpoints the workers could not write
    power_estimated: bool = True  # the power is a model of CPU time until a meter is wired


def plant_time_to_wall(until_s: float | None, plant_now: float, wall_now: float) -> datetime | None:
    """An end time on the plant clock as a wall-clock time, or None beyond datetime's range."""
    if until_s is None:
        return None
    with contextlib.suppress(ValueError, OverflowError, OSError):
        return datetime.fromtimestamp(wall_now + (until_s - plant_now), tz=UTC)
    return None


def telemetry_fields(snapshot: Snapshot) -> dict[str, Any]:
    """The periodic telemetry payload, less the sequence fields the uplink adds."""
    controlled = "water_c" if snapshot.heater_kind == "boiler" else "air_c"
    jobs = snapshot.jobs or JobCounts()
    target = snapshot.target
    uplink = snapshot.uplink
    return {
        "temperatures": {
            controlled: _bounded(snapshot.controlled_c),
            "outdoor_c": _bounded(snapshot.outdoor_c),
            "cpu_package_c": _bounded(snapshot.cpu_package_c),
        },
        "setpoint_c": target.setpoint_c if target else 0.0,
        "base_setpoint_c": target.base_setpoint_c if target else None,
        "mode": target.mode if target else None,
        "heat_demand_w": max(0.0, snapshot.demand_w),
        "power_w": max(0.0, snapshot.measured_w),
        "power_estimated": snapshot.power_estimated,
        "workers_running": snapshot.workers_running,
        "workers_max": snapshot.workers_max,
        "frequency_mhz": snapshot.frequency_mhz,
        "duty": min(1.0, max(0.0, snapshot.duty)),
        "heat_problem": snapshot.heat_problem[:300] if snapshot.heat_problem else None,
        "jobs": {"running": jobs.running, "queued": jobs.queued, "done": jobs.done},
        "energy": {
            "total_kwh": round(snapshot.energy_total_kwh, 6),
            "wanted_kwh": round(min(snapshot.energy_wanted_kwh, snapshot.energy_total_kwh), 6),
        },
        "link": {
            "frames_ok": snapshot.link.frames_rx,
            "frames_bad": snapshot.link.frames_bad,
            "reconnects": snapshot.link.reconnects,
            "up": snapshot.link.up,
        },
        "outbox": {
            "queued": uplink.outbox_queued if uplink else 0,
            "dropped": uplink.outbox_dropped if uplink else 0,
        },
    }


def state_payload(snapshot: Snapshot) -> State:
    """The retained state: published when it changes."""
    target = snapshot.target
    return State(
        mode=target.mode if target else "heat",
        setpoint_c=target.setpoint_c if target else 0.0,
        base_setpoint_c=target.base_setpoint_c if target else None,
        setpoint_source=target.source if target else "schedule",
        override_until=snapshot.override_until,
        accepting_jobs=snapshot.accepting_jobs,
        safety_trips=sorted(snapshot.trips),
    )


def agent_status(snapshot: Snapshot) -> AgentStatus:
    """What `boiler-agent status` shows."""
    identity = snapshot.identity
    target = snapshot.target
    uplink = snapshot.uplink
    broker: dict[str, Any] = {"url": uplink.url if uplink else None}
    if uplink is not None:
        broker.update(
            connected=uplink.connected,
            outbox_queued=uplink.outbox_queued,
            outbox_dropped=uplink.outbox_dropped,
            last_error=uplink.last_error,
            outbox_writes_failing=uplink.outbox_writes_failing,
            oversized_dropped=uplink.oversized_dropped,
            replies_redirected=uplink.replies_redirected,
        )
    link = snapshot.link
    jobs = snapshot.jobs
    return AgentStatus(
        agent_version=__version__,
        heater_id=snapshot.heater_id,
        pid=os.getpid(),
        started_at=snapshot.started_at,
        updated_at=snapshot.taken_at,
        state=snapshot.state,
        heater=HeaterInfo(
            kind=snapshot.heater_kind,
            serial=identity.serial_number,
            firmware=identity.firmware_version,
            rated_power_w=float(identity.rated_power_w),
        )
        if identity
        else None,
        temperatures_c=snapshot.temperatures_c,
        outdoor_c=snapshot.outdoor_c,
        setpoint_c=target.setpoint_c if target else None,
        setpoint_source=target.source if target else None,
        mode=target.mode if target else None,
        heat_demand_w=round(snapshot.demand_w, 1),
        power_w=round(snapshot.measured_w, 1),
        power_estimated=snapshot.power_estimated,
        workers_running=snapshot.workers_running,
        workers_max=snapshot.workers_max,
        duty=round(snapshot.duty, 3),
        jobs={
            **(vars(jobs) if jobs is not None else {}),
            "store_errors": snapshot.store_errors,
            "checkpoint_errors": snapshot.checkpoint_errors,
        },
        link={
            "state": link.state,
            "frames_rx": link.frames_rx,
            "frames_bad": link.frames_bad,
            "reconnects": link.reconnects,
            "last_reading_age_s": link.last_reading_age_s,
            "refused": link.refused,
        },
        broker=broker,
        safety_trips=[f"{kind}: {reason}" for kind, reason in sorted(snapshot.trips.items())],
        energy_kwh=round(snapshot.energy_total_kwh, 4),
        heat_problem=snapshot.heat_problem,
    )


def _bounded(value: float | None) -> float | None:
    low, high = TELEMETRY_TEMP_RANGE_C
    if value is None or not low <= value <= high:
        return None
    return value
