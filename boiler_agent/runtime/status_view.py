"""The status as operators read it: a rich table for the terminal, one line for STATUS=."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rich.table import Table
from rich.text import Text

from boiler_agent.runtime.status_model import AgentStatus, HeaterInfo, age_s

# A snapshot older than this is flagged: the agent rewrites its state file far more often, so
# an old one means the agent stopped or hangs.
STALE_AFTER_S = 60.0
# The temperature the controller acts on, per heater kind: (key in temperatures_c, label).
CONTROLLED_SENSOR = {"room": ("air", "room"), "boiler": ("water", "water")}
JOB_STATES = ("running", "queued", "done", "failed")


def format_age(seconds: float) -> str:
    """`2 s`, `5 min`, `3 h 10 min`, `2 d 4 h`: as precise as an operator needs."""
    whole = round(seconds)
    if whole < 120:
        return f"{whole} s"
    if whole < 7200:
        return f"{whole // 60} min"
    if whole < 2 * 86400:
        return f"{whole // 3600} h {whole % 3600 // 60} min"
    return f"{whole // 86400} d {whole % 86400 // 3600} h"


def status_line(status: AgentStatus) -> str:
    """One line for systemd's STATUS=, e.g. `room 19.2°C → 19.0°C, demand 310 W, ...`."""
    parts: list[str] = []
    if status.safety_trips:
        parts.append("TRIP " + "; ".join(status.safety_trips))  # first: what matters most
    if status.heat_problem:
        parts.append("NO HEAT " + status.heat_problem)
    controlled = _controlled(status)
    if controlled is not None:
        label, value = controlled
        target = "" if status.setpoint_c is None else f" → {_celsius(status.setpoint_c, '')}"
        parts.append(f"{label} {_celsius(value, '')}{target}")
    parts += [
        f"demand {status.heat_demand_w:.0f} W",
        f"power {status.power_w:.0f} W",
        f"{status.workers_running}/{status.workers_max} workers",
        f"{status.jobs.get('running', 0)} jobs",
    ]
    link_state = status.link.get("state")
    if link_state not in (None, "up"):
        parts.append(f"link {link_state}")
    if status.broker:
        queued = status.broker.get("outbox_queued") or 0
        down = "broker down" + (f" ({queued} queued)" if queued else "")
        parts.append("broker ok" if status.broker.get("connected") else down)
    line = ", ".join(parts)
    return line if status.state == "running" else f"{status.state}: {line}"


def render_status(status: AgentStatus, now: datetime | None = None) -> Table:
    """The main figures as a two-column rich table, with ages relative to `now`."""
    age = age_s(status, now)
    table = Table(title=f"boiler-agent on {status.heater_id}", show_header=False)
    table.add_column("what", style="bold")
    table.add_column("value")
    for label, value, style in _rows(status, age):
        # Text, not markup: an error message or a serial number may contain brackets.
        table.add_row(label, Text(value, style=style))
    return table


def _rows(status: AgentStatus, age: float) -> list[tuple[str, str, str]]:
    uptime = (status.updated_at - status.started_at).total_seconds()
    started = f"{status.started_at.astimezone():%Y-%m-%d %H:%M:%S}, up {format_age(uptime)}"
    stale = age > STALE_AFTER_S
    updated = f"{format_age(age)} ago" + (": stale, the agent may have stopped" if stale else "")
    rows = [
        ("agent", f"{status.state}, pid {status.pid}, version {status.agent_version}", ""),
        ("started", started, ""),
        ("updated", updated, "yellow" if stale else ""),
    ]
    if status.heater is not None:
        rows.append(("heater", _heater(status.heater), ""))
    rows += [(name, _celsius(value), "") for name, value in status.temperatures_c.items()]
    rows.append(("outdoor", _celsius(status.outdoor_c), ""))
    setpoint = _celsius(status.setpoint_c)
    if status.setpoint_source:
        setpoint += f" from {status.setpoint_source}"
    if status.mode:
        setpoint += f", mode {status.mode}"
    power = f"{status.power_w:.0f} W" + (" (estimated)" if status.power_estimated else "")
    workers = f"{status.workers_running} of {status.workers_max} running, duty {status.duty:.0%}"
    connected = bool(status.broker.get("connected"))
    safety = "; ".join(status.safety_trips) or "ok"
    rows += [
        ("setpoint", setpoint, ""),
        ("heat demand", f"{status.heat_demand_w:.0f} W", ""),
        ("power", power, ""),
        ("workers", workers, ""),
        ("jobs", _jobs(status.jobs), ""),
        ("link", _link(status.link, age), "" if status.link.get("state") == "up" else "yellow"),
        ("broker", _broker(status.broker), "" if connected else "yellow"),
        ("safety", safety, "bold red" if status.safety_trips else ""),
        ("heat", status.heat_problem or "ok", "bold red" if status.heat_problem else ""),
        ("energy", f"{status.energy_kwh:.3f} kWh", ""),
    ]
    return rows


def _heater(heater: HeaterInfo) -> str:
    details = [heater.kind]
    if heater.rated_power_w is not None:
        details.append(f"{heater.rated_power_w:.0f} W rated")
    if heater.serial:
        details.append(f"serial {heater.serial}")
    if heater.firmware:
        details.append(f"firmware {heater.firmware}")
    return ", ".join(details)


def _controlled(status: AgentStatus) -> tuple[str, float | None] | None:
    kind = status.heater.kind if status.heater is not None else ""
    key, label = CONTROLLED_SENSOR.get(kind, ("", ""))
    if key in status.temperatures_c:
        return label, status.temperatures_c[key]
    # An unknown kind or sensor set: the first sensor is still better than nothing.
    return next(iter(status.temperatures_c.items()), None)


def _celsius(value: float | None, space: str = " ") -> str:
    return "--" if value is None else f"{value:.1f}{space}°C"


def _jobs(jobs: dict[str, int]) -> str:
    names = [*JOB_STATES, *(name for name in jobs if name not in JOB_STATES)]
    return ", ".join(f"{jobs.get(name, 0)} {name}" for name in names)


def _link(link: dict[str, Any], age: float) -> str:
    if not link:
        return "--"
    parts = [str(link.get("state", "?"))]
    reading_age = link.get("last_reading_age_s")
    if isinstance(reading_age, int | float):
        # The age was measured when the snapshot was taken: add the snapshot's own age.
        parts.append(f"reading {format_age(reading_age + age)} ago")
    else:
        parts.append("no reading yet")
    for key, label in (
        ("frames_rx", "frames"),
        ("frames_bad", "bad"),
        ("reconnects", "reconnects"),
    ):
        if key in link:
            parts.append(f"{link[key]} {label}")
    return ", ".join(parts)


def _broker(broker: dict[str, Any]) -> str:
    if not broker:
        return "--"
    url = broker.get("url") or "no broker configured"
    if broker.get("connected"):
        text = f"connected to {url}"
    else:
        error = broker.get("last_error")
        text = f"not connected to {url}" + (f": {error}" if error else "")
    queued, dropped = broker.get("outbox_queued"), broker.get("outbox_dropped")
    if queued is not None or dropped is not None:
        text += f", outbox {queued or 0} queued, {dropped or 0} dropped"
    return text
