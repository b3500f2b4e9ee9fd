"""The daemon's loop in-process: a virtual clock, a fake heater, simulated workers."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from boiler_agent.daemon.lock import AgentStartError
from boiler_agent.telemetry.local_broker import free_loopback_port
from tests.daemon.conftest import Rig

HOUR_S = 3600.0


def test_a_cold_room_is_heated_to_the_knob_with_leases_and_workers(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    rig.heater.connect()
    rig.heater.knob(19.0)
    rig.run_for(2 * HOUR_S)
    assert rig.heater.room.temp_c > 18.5, f"room at {rig.heater.room.temp_c:.2f} °C after 2 h"
    granted = [beat for beat in rig.heater.heartbeats if beat.lease_s > 0]
    assert granted, "no heat lease was ever granted"
    assert max(beat.power_w for beat in granted) > 100.0
    assert rig.pool.busy_cpu_seconds() > 0.0
    assert not rig.last().trips, rig.last().trips
    latest = rig.agent.latest
    assert latest is not None and latest.target is not None
    assert latest.target.setpoint_c == 19.0
    assert latest.identity is not None and latest.link.up


def test_an_idle_loop_wakes_once_a_period_and_a_cycling_one_for_its_windows(
    make_rig: Callable[..., Rig], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Each turn costs the supervisor's CPU: ten a second with nothing to do were a third of
    # its overhead on a heater (`bench overhead`).
    rig = make_rig()
    turns = 0

    def count() -> None:
        nonlocal turns
        turns += 1

    rig.run_for(60.0, each_turn=count)  # no MCU: no heat, no worker
    periods = len(rig.reports)
    assert periods >= 55 and turns <= periods + 2, (turns, periods)
    assert rig.agent.loop is not None
    cycler = rig.agent.loop.parts.power.loop.cycler
    cycler.set_duty(0.5)  # what the allocator sets for a fraction of a worker's heat...
    monkeypatch.setattr(cycler, "set_duty", lambda duty: None)  # ...held there
    turns = 0
    rig.run_for(5.0, each_turn=count)
    assert turns >= 45, f"{turns} turns in 5 s of duty windows"


def test_the_work_a_period_asks_for_starts_in_that_period_not_after_the_wait(
    make_rig: Callable[..., Rig], monkeypatch: pytest.MonkeyPatch
) -> None:
    # A loop that waits to its next period must place the work first: `simulate` at x144
    # lost a period (144 s of the room's) of heat at each worker start, and swung 0.5 K.
    rig = make_rig()
    rig.heater.connect()
    rig.heater.knob(21.0)
    started: list[float] = []
    assign = rig.pool.assign

    def recorded_assign(index: int, task: Any) -> None:
        started.append(rig.clock.now())
        assign(index, task)

    monkeypatch.setattr(rig.pool, "assign", recorded_assign)
    rig.run_for(30.0)
    asked = next(r for r in rig.reports if r.demand_w * r.allowed > 0)
    assert started, "no work was started"
    assert started[0] - asked.at_s < 0.05, (asked.at_s, started[0])


def test_readings_that_stop_withdraw_the_lease_and_come_back_when_they_return(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    rig.heater.connect()
    rig.heater.knob(21.0)
    rig.run_for(120.0)
    assert rig.last().lease_s == 3.0 and rig.last().allowed == 1.0
    rig.heater.silent = True
    rig.run_for(15.0)
    assert "stale_reading" in rig.last().trips
    assert rig.last().lease_s == 0.0
    assert rig.heater.heartbeats[-1].lease_s == 0.0
    rig.heater.silent = False
    rig.run_for(5.0)
    assert "stale_reading" not in rig.last().trips
    assert rig.last().lease_s == 3.0


def test_no_heartbeat_before_an_mcu_is_accepted(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    rig.run_for(10.0)
    assert rig.reports, "the loop ran no period"
    assert all(report.lease_s is None for report in rig.reports)
    assert rig.heater.heartbeats == []


def test_a_period_report_never_grants_heat_while_tripped(make_rig: Callable[..., Rig]) -> None:
    rig = make_rig()
    rig.heater.connect()
    rig.heater.knob(21.0)
    rig.run_for(60.0)
    rig.heater.room.temp_c = 45.0  # above the room's hard maximum of 30 °C
    rig.run_for(10.0)
    tripped = [report for report in rig.reports if report.trips]
    assert tripped and "over_temperature" in tripped[-1].trips
    assert all(report.lease_s == 0.0 for report in tripped)


def test_a_job_store_from_a_newer_agent_stops_the_start_with_one_line(
    make_rig: Callable[..., Rig], tmp_path: Path
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    with sqlite3.connect(state / "jobs.sqlite") as db:
        db.execute("PRAGMA user_version = 99")
    with pytest.raises(AgentStartError, match=r"jobs.sqlite has schema version 99"):
        make_rig()


def test_an_absurd_announced_setpoint_cannot_drive_heat_past_the_range(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()  # room: setpoints 5..28 °C
    rig.heater.room.temp_c = 27.9
    rig.heater.connect()
    rig.heater.schedule(20.0, next_c=327.0, in_s=1200.0)
    rig.run_for(1500.0)
    announced = [r.target.next_setpoint for r in rig.reports if r.target and r.target.next_setpoint]
    assert announced and max(c for _, c in announced) == 28.0
    assert rig.heater.room.temp_c < 28.6, f"heated to {rig.heater.room.temp_c:.2f} °C"


def test_a_heater_that_cannot_make_heat_says_so_and_says_when_it_can_again(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    rig.heater.connect()
    rig.heater.knob(21.0)
    rig.run_for(30.0)
    assert rig.pool.busy_cpu_seconds() > 0
    rig.pool.broken = True  # the workers hang: they take work and burn nothing
    rig.run_for(65.0)
    status = rig.agent.status()
    assert status.heat_problem is not None and "made 0 W" in status.heat_problem
    assert "NO HEAT" in rig.agent.loop.status_line()  # type: ignore[union-attr]
    rig.pool.broken = False
    rig.run_for(30.0)
    assert rig.agent.status().heat_problem is None


def test_a_corrupt_job_store_is_moved_aside_and_the_agent_heats_on(
    make_rig: Callable[..., Rig], tmp_path: Path
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "jobs.sqlite").write_bytes(b"this is not a database" * 100)
    rig = make_rig(mqtt={"enabled": True, "url": f"mqtt://127.0.0.1:{free_loopback_port()}"})
    assert list(state.glob("jobs.sqlite.corrupt-*")), "the corrupt file was not kept aside"
    rig.heater.connect()
    rig.heater.knob(21.0)
    rig.run_for(60.0)
    assert rig.last().lease_s == 3.0 and rig.pool.busy_cpu_seconds() > 0
    loop = rig.agent.loop
    assert loop is not None and loop.parts.uplink is not None
    rows = loop.parts.uplink.outbox.batch(100_000)
    events = [json.loads(r.payload) for r in rows if r.topic.endswith("/events")]
    assert any(e["reason"] == "job_store_corrupt" for e in events)
    assert rig.agent.status().jobs["store_errors"] == 0
