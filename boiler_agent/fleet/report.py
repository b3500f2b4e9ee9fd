"""`fleet report`: what a recorded fleet did, per heater and fleet-wide, from `fleet record`'s file.

The stored messages are replayed through the same `FleetView` a live watcher uses, so duplicates
and gaps are counted alike. Per heater:
  energy_kwh       heat made over the record: the rise of the heater's persisted energy counter
  valorisation     the share of it made while heat was wanted (wanted / total, over the rise)
  core_hours       compute delivered: workers running x time between consecutive telemetry of
                   one run (a gap longer than MAX_STEP_S is not counted: nobody knows)
  jobs_done        distinct job ids with a `done` result; jobs_failed the `failed` ones
  trips            safety trips reported (events)
  messages, missing, late, historical, duplicates, dropped_reported: the streams' health
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

from boiler_agent.fleet.store import FleetStore
from boiler_agent.fleet.view import FleetView, section

MAX_STEP_S = 300.0  # telemetry further apart than this says nothing about the time between


def build_report(store: FleetStore) -> dict[str, Any]:
    view = FleetView()
    per: dict[str, dict[str, Any]] = {}
    jobs: dict[str, tuple[str, str]] = {}  # job_id -> (heater, done/failed): counted once
    for message in store.messages():
        if not view.apply(message) or message.heater is None:
            continue
        acc = per.setdefault(message.heater, _empty())
        body = message.body
        if message.kind == "telemetry":
            _telemetry(acc, body)
        elif message.kind == "events" and body.get("kind") == "safety_trip":
            acc["trips"] += 1
        elif message.kind == "job_result" and message.job_id is not None:
            state = body.get("state")
            if state in ("done", "failed") and message.job_id not in jobs:
                jobs[message.job_id] = (message.heater, str(state))
    heaters: dict[str, dict[str, Any]] = {}
    for name, acc in sorted(per.items()):
        health = view.streams.by_heater(name)
        row = view.heaters.get(name)
        heaters[name] = {
            "energy_kwh": round(acc["total_max"] - acc["total_min"], 3) if acc["seen"] else 0.0,
            "valorisation": _share(acc),
            "core_hours": round(acc["core_s"] / 3600.0, 3),
            "jobs_done": sum(1 for h, s in jobs.values() if h == name and s == "done"),
            "jobs_failed": sum(1 for h, s in jobs.values() if h == name and s == "failed"),
            "trips": acc["trips"],
            "messages": health["received"],
            "missing": health["missing"],
            "late": health["late"],
            "historical": health["historical"],
            "dropped_reported": row.dropped_reported if row else 0,
        }
    energy = sum(h["energy_kwh"] for h in heaters.values())
    wanted = sum(per[n]["wanted_max"] - per[n]["wanted_min"] for n in heaters if per[n]["seen"])
    return {
        "heaters": heaters,
        "fleet": {
            "heaters": len(heaters),
            "energy_kwh": round(energy, 3),
            "fleet_valorisation": round(wanted / energy, 4) if energy > 0 else None,
            "core_hours": round(sum(h["core_hours"] for h in heaters.values()), 3),
            "jobs_done": sum(1 for _, s in jobs.values() if s == "done"),
            "jobs_failed": sum(1 for _, s in jobs.values() if s == "failed"),
            "trips": sum(h["trips"] for h in heaters.values()),
            "missing": view.streams.missing(),
            "late": view.streams.late(),
            "duplicates": view.streams.duplicates,
        },
    }


def _empty() -> dict[str, Any]:
    return {
        "seen": False,
        "total_min": 0.0,
        "total_max": 0.0,
        "wanted_min": 0.0,
        "wanted_max": 0.0,
        "core_s": 0.0,
        "trips": 0,
        "last": None,
    }


def _telemetry(acc: dict[str, Any], body: dict[str, Any]) -> None:
    energy = section(body, "energy")
    total, wanted = energy.get("total_kwh"), energy.get("wanted_kwh")
    if isinstance(total, int | float) and isinstance(wanted, int | float):
        if not acc["seen"]:
            acc["total_min"] = acc["total_max"] = float(total)
            acc["wanted_min"] = acc["wanted_max"] = float(wanted)
            acc["seen"] = True
        acc["total_min"], acc["total_max"] = (
            min(acc["total_min"], total),
            max(acc["total_max"], total),
        )
        acc["wanted_min"] = min(acc["wanted_min"], wanted)
        acc["wanted_max"] = max(acc["wanted_max"], wanted)
    at = _time(body.get("ts"))
    workers = body.get("workers_running")
    if at is None or not isinstance(workers, int):
        return
    last = acc["last"]
    if last is not None and last[0] == body.get("boot_id") and 0 < at - last[1] <= MAX_STEP_S:
        acc["core_s"] += last[2] * (at - last[1])
    acc["last"] = (body.get("boot_id"), at, workers)


def _share(acc: dict[str, Any]) -> float | None:
    rise: float = acc["total_max"] - acc["total_min"]
    if not acc["seen"] or rise <= 0:
        return None
    wanted: float = acc["wanted_max"] - acc["wanted_min"]
    return round(wanted / rise, 4)


def _time(value: Any) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        return float(datetime.fromisoformat(value).timestamp())
    except ValueError:
        return None


def plot_power(store: FleetStore, heaters: list[str], path: Path) -> Path:
    """Each heater's power over the record, and the fleet's sum, into a PNG."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(12, 5))
    for name in heaters:
        points = [
            (at, float(body["power_w"]))
            for body in store.telemetry(name)
            if (at := _time(body.get("ts"))) is not None
            and isinstance(body.get("power_w"), int | float)
            and not body.get("historical")
        ]
        if points:
            start = points[0][0]
            axis.plot([(t - start) / 3600 for t, _ in points], [w for _, w in points], label=name)
    axis.set_xlabel("hours from each heater's first telemetry")
    axis.set_ylabel("power (W)")
    axis.set_title(f"fleet report: {len(heaters)} heaters")
    if len(heaters) <= 12:
        axis.legend(loc="upper right", fontsize="small")
    figure.tight_layout()
    figure.savefig(path, format="png", dpi=100)
    plt.close(figure)
    return path
