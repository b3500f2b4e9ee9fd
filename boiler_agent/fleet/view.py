"""The fleet as its messages show it: one row per heater, the latest of each thing it said.

`FleetView.apply(message)` folds a message in (after de-duplication by `StreamTracker`); `rows()`
gives the table `fleet watch` shows and `--json` prints. Valorisation is the share of the
heater's energy made while heat was wanted (`energy.wanted_kwh / energy.total_kwh`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from boiler_agent.fleet.messages import FleetMessage
from boiler_agent.fleet.streams import StreamTracker


@dataclass
class HeaterRow:
    heater: str
    fleet: str
    available: str | None = None  # online / offline, as the heater's will and birth say
    kind: str | None = None
    rated_power_w: float | None = None
    temperature_c: float | None = None  # the controlled one: air for a room, water for a boiler
    outdoor_c: float | None = None
    setpoint_c: float | None = None
    mode: str | None = None
    heat_demand_w: float | None = None
    power_w: float | None = None
    energy_total_kwh: float | None = None
    energy_wanted_kwh: float | None = None
    jobs_running: int | None = None
    jobs_queued: int | None = None
    jobs_done: int | None = None
    outbox_queued: int | None = None
    outbox_dropped: int | None = None
    trips: list[str] = field(default_factory=list)
    link_up: bool | None = None
    link_reconnects: int | None = None
    heat_problem: str | None = None
    dropped_reported: int = 0  # telemetry the heater said its outbox dropped (never sent)
    last_ts: str | None = None

    @property
    def valorisation(self) -> float | None:
        total, wanted = self.energy_total_kwh, self.energy_wanted_kwh
        if total is None or wanted is None or total <= 0:
            return None
        return round(wanted / total, 4)

    def as_dict(self) -> dict[str, Any]:
        row = {name: getattr(self, name) for name in self.__dataclass_fields__}
        row["valorisation"] = self.valorisation
        return row


class FleetView:
    def __init__(self) -> None:
        self.heaters: dict[str, HeaterRow] = {}
        self.streams = StreamTracker()
        self.jobs: dict[str, dict[str, Any]] = {}  # job_id -> latest status (and heater)
        self.messages = 0
        self.skipped = 0  # duplicates

    def apply(self, message: FleetMessage) -> bool:
        """Fold one message in; False for a duplicate (already seen, ignored)."""
        self.messages += 1
        body = message.body
        if message.sequenced and message.heater is not None:
            verdict = self.streams.observe(
                message.heater,
                message.kind,
                str(body["boot_id"]),
                _int(body.get("seq")) or 0,
                msg_id=str(body.get("msg_id", message.topic)),
                historical=bool(body.get("historical", False)),
            )
            if verdict == "duplicate":
                self.skipped += 1
                return False
            if verdict == "late" or body.get("historical"):
                return True  # counted, but an old message must not overwrite the latest state
        if message.heater is None:
            return True
        row = self.heaters.get(message.heater)
        if row is None:
            row = self.heaters[message.heater] = HeaterRow(message.heater, message.fleet)
        handler = _HANDLERS.get(message.kind)
        if handler is not None:
            handler(row, body, self, message)
        return True

    def rows(self) -> list[HeaterRow]:
        return [self.heaters[name] for name in sorted(self.heaters)]

    def summary(self) -> dict[str, Any]:
        rows = self.rows()
        total = sum(r.energy_total_kwh or 0.0 for r in rows)
        wanted = sum(r.energy_wanted_kwh or 0.0 for r in rows)
        return {
            "heaters": len(rows),
            "online": sum(1 for r in rows if r.available == "online"),
            "power_w": round(sum(r.power_w or 0.0 for r in rows), 1),
            "energy_total_kwh": round(total, 3),
            "fleet_valorisation": round(wanted / total, 4) if total > 0 else None,
            "trips": sum(len(r.trips) for r in rows),
            "messages": self.messages,
            "duplicates": self.streams.duplicates,
            "missing": self.streams.missing(),
            "late": self.streams.late(),
        }


def section(body: dict[str, Any], key: str) -> dict[str, Any]:
    """A nested object of a message, or an empty one when it is missing or not an object."""
    value = body.get(key)
    return value if isinstance(value, dict) else {}


def _int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _float(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def _availability(row: HeaterRow, body: dict[str, Any], *_: Any) -> None:
    row.available = str(body.get("value"))


def _birth(row: HeaterRow, body: dict[str, Any], *_: Any) -> None:
    row.kind = body.get("heater_kind") if isinstance(body.get("heater_kind"), str) else row.kind
    row.rated_power_w = _float(body.get("rated_power_w")) or row.rated_power_w


def _state(row: HeaterRow, body: dict[str, Any], *_: Any) -> None:
    row.mode = body.get("mode") if isinstance(body.get("mode"), str) else row.mode
    row.setpoint_c = _float(body.get("setpoint_c"))
    trips = body.get("safety_trips")
    row.trips = [str(t) for t in trips] if isinstance(trips, list) else row.trips


def _telemetry(row: HeaterRow, body: dict[str, Any], *_: Any) -> None:
    temps = section(body, "temperatures")
    controlled = temps.get("water_c") if row.kind == "boiler" else temps.get("air_c")
    row.temperature_c = _float(controlled if controlled is not None else temps.get("air_c"))
    row.outdoor_c = _float(temps.get("outdoor_c"))
    row.setpoint_c = _float(body.get("setpoint_c"))
    row.heat_demand_w = _float(body.get("heat_demand_w"))
    row.power_w = _float(body.get("power_w"))
    energy = section(body, "energy")
    row.energy_total_kwh = _float(energy.get("total_kwh"))
    row.energy_wanted_kwh = _float(energy.get("wanted_kwh"))
    jobs = section(body, "jobs")
    row.jobs_running, row.jobs_queued = _int(jobs.get("running")), _int(jobs.get("queued"))
    row.jobs_done = _int(jobs.get("done"))
    outbox = section(body, "outbox")
    row.outbox_queued, row.outbox_dropped = _int(outbox.get("queued")), _int(outbox.get("dropped"))
    link = section(body, "link")
    row.link_up = link.get("up") if isinstance(link.get("up"), bool) else None
    row.link_reconnects = _int(link.get("reconnects"))
    problem = body.get("heat_problem")
    row.heat_problem = problem if isinstance(problem, str) else None
    row.last_ts = str(body.get("ts")) if body.get("ts") else row.last_ts


def _events(row: HeaterRow, body: dict[str, Any], *_: Any) -> None:
    kind = body.get("kind")
    reason = str(body.get("reason", ""))
    if kind == "safety_trip" and reason not in row.trips:
        row.trips = [*row.trips, reason]
    elif kind == "safety_recovered":
        row.trips = [t for t in row.trips if t != reason]
    elif kind == "outbox_dropped":
        details = section(body, "details")
        row.dropped_reported += _int(details.get("count")) or 0


def _job_status(row: HeaterRow, body: dict[str, Any], view: FleetView, msg: FleetMessage) -> None:
    if msg.job_id is not None:
        view.jobs[msg.job_id] = {**body, "heater": row.heater}


_HANDLERS = {
    "availability": _availability,
    "birth": _birth,
    "state": _state,
    "telemetry": _telemetry,
    "events": _events,
    "job_status": _job_status,
    "job_result": _job_status,
}
