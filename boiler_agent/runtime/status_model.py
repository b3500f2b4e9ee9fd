"""What `boiler-agent status` shows: the model of one snapshot of the running agent."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError


class StatusError(Exception):
    """The status cannot be served or read; the message is one line for the operator."""


class StatusUnavailableError(StatusError):
    """Nothing answers on the status socket."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path} does not answer ({reason})")
        self.path = path
        self.reason = reason


class AgentAlreadyRunningError(StatusError):
    """Another agent is live on the status socket this one wants."""


class HeaterInfo(BaseModel):
    """Who the heater is, as its microcontroller introduced itself."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    kind: str = Field(description="room or boiler")
    serial: str | None = None
    firmware: str | None = None
    rated_power_w: float | None = None


class AgentStatus(BaseModel):
    """One snapshot of the running agent, as `boiler-agent status` shows it."""

    # NaN is refused: JSON has no NaN, and an unknown value is None, which the views show.
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)

    agent_version: str
    heater_id: str
    pid: int
    started_at: AwareDatetime
    updated_at: AwareDatetime = Field(description="when this snapshot was taken")
    state: str = Field(description="starting, running, reloading, stopping")
    heater: HeaterInfo | None = None
    temperatures_c: dict[str, float | None] = Field(
        default_factory=dict,
        description="by sensor: air, water, cpu_package, ...; None: no reading",
    )
    outdoor_c: float | None = None
    setpoint_c: float | None = None
    setpoint_source: str | None = None
    mode: str | None = None
    heat_demand_w: float = 0.0
    power_w: float = 0.0
    power_estimated: bool = False
    workers_running: int = 0
    workers_max: int = 0
    duty: float = 0.0
    jobs: dict[str, int] = Field(default_factory=dict, description="running/queued/done/failed")
    link: dict[str, Any] = Field(
        default_factory=dict,
        description="state, frames_rx, frames_bad, reconnects, last_reading_age_s",
    )
    broker: dict[str, Any] = Field(
        default_factory=dict,
        description="url, connected, outbox_queued, outbox_dropped, last_error",
    )
    safety_trips: list[str] = Field(default_factory=list, description="active trips, reasons")
    energy_kwh: float = 0.0
    heat_problem: str | None = Field(
        default=None, description="why no heat is made although it is asked for and allowed"
    )


def parse_status(data: bytes | str, source: str) -> AgentStatus:
    """The status in `data`; StatusError naming `source` when it is not one."""
    try:
        return AgentStatus.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "document"
        raise StatusError(
            f"{source} is not a valid agent status: {where}: {first['msg']}"
            + (f" (and {exc.error_count() - 1} more errors)" if exc.error_count() > 1 else "")
        ) from None


def age_s(status: AgentStatus, now: datetime | None = None) -> float:
    """Seconds since the snapshot was taken (large for a state file left by a dead agent)."""
    now = now or datetime.now(UTC)
    return max(0.0, (now - status.updated_at).total_seconds())
