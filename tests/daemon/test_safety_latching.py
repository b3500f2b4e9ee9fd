"""Latched trips in the whole agent: they survive reconnects, MCU reboots and restarts, and
only an explicit reset clears them; a link that works one way only stops the heat."""

from __future__ import annotations

import json
import typing
from collections.abc import Callable
from pathlib import Path

from boiler_agent.control.safety import LATCHED
from boiler_agent.telemetry.client import IncomingMessage
from boiler_agent.telemetry.local_broker import free_loopback_port
from boiler_agent.telemetry.payloads import LatchedTrip
from tests.daemon.conftest import Rig, rig_config


def _frozen_trip(rig: Rig) -> None:
    rig.heater.connect()
    rig.heater.knob(21.0)
    rig.run_for(30.0)
    rig.heater.frozen_reading_c = rig.heater.room.temp_c
    rig.run_for(360.0)
    assert "frozen_sensor" in rig.last().trips, rig.last().trips
    assert rig.last().lease_s == 0.0


def _still_tripped(rig: Rig, seconds: float = 20.0) -> None:
    rig.run_for(seconds)
    assert "frozen_sensor" in rig.last().trips, "a latched trip was cleared without a reset"
    assert rig.last().lease_s == 0.0 and rig.last().allowed == 0.0


def test_a_latched_trip_survives_reconnects_reboots_and_restarts_until_reset(
    make_rig: Callable[..., Rig], tmp_path: Path
) -> None:
    rig = make_rig()
    _frozen_trip(rig)
    rig.heater.frozen_reading_c = None  # the sensor reads again: that is not a reset either
    rig.heater.unplug("port vanished")
    rig.run_for(5.0)
    rig.heater.connect("port opened")
    _still_tripped(rig)
    rig.heater.unplug("MCU silent for 3.0 s")
    rig.run_for(1.0)
    rig.heater.connect("MCU was silent")
    _still_tripped(rig)
    rig.heater.reboot()
    _still_tripped(rig)
    rig.agent.shutdown()

    again = make_rig(rig_config(tmp_path))  # the same state directory: a restarted agent
    again.heater.connect()
    again.heater.knob(21.0)
    _still_tripped(again, 10.0)
    loop = again.agent.loop
    assert loop is not None
    cleared = loop.request_safety_reset(None, by="alice (pid 42)", why="sensor reseated")
    again.run_for(5.0)
    assert cleared.result(timeout=0) == ["frozen_sensor"]
    again.run_for(60.0)
    assert not again.last().trips and again.last().lease_s == 3.0


def test_an_unreadable_trip_record_is_a_trip_until_reset(
    make_rig: Callable[..., Rig], tmp_path: Path
) -> None:
    state = tmp_path / "state"
    state.mkdir()
    (state / "safety.json").write_text("{not json", encoding="utf-8")
    rig = make_rig()
    rig.heater.connect()
    rig.heater.knob(21.0)
    rig.run_for(20.0)
    assert "trip_record" in rig.last().trips and rig.last().lease_s == 0.0
    loop = rig.agent.loop
    assert loop is not None
    loop.request_safety_reset(None, by="root", why="record checked")
    rig.run_for(20.0)
    assert not rig.last().trips and rig.last().lease_s == 3.0
    assert '"latched": {}' in (state / "safety.json").read_text(encoding="utf-8")


def test_a_one_way_link_stops_the_workers_and_recovers_when_heard_again(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig()
    rig.heater.connect()
    rig.heater.knob(21.0)
    rig.run_for(60.0)
    assert rig.pool.running_indices(), "heating before the fault"
    rig.heater.deaf = True
    rig.run_for(10.0)
    assert "lease_lost" in rig.last().trips, rig.last().trips
    assert rig.last().allowed == 0.0
    rig.run_for(5.0)
    assert rig.pool.running_indices() == [], "workers still burning for an MCU that cannot hear"
    rig.heater.deaf = False
    rig.run_for(10.0)
    assert "lease_lost" not in rig.last().trips and rig.last().lease_s == 3.0


def test_the_fleet_resets_a_latched_trip_with_a_command_recorded_with_who_and_why(
    make_rig: Callable[..., Rig],
) -> None:
    rig = make_rig(mqtt={"enabled": True, "url": f"mqtt://127.0.0.1:{free_loopback_port()}"})
    _frozen_trip(rig)
    rig.heater.frozen_reading_c = None
    loop = rig.agent.loop
    assert loop is not None and loop.parts.uplink is not None
    uplink = loop.parts.uplink
    command = {"cmd_id": "r1", "reason": "sensor replaced", "by": "ops-alice"}
    uplink.commands.put(
        IncomingMessage(
            uplink.topics.cmd("safety_reset"), json.dumps(command).encode(), None, None, 0.0
        )
    )
    rig.run_for(30.0)
    assert not rig.last().trips and rig.last().lease_s == 3.0
    rows = uplink.outbox.batch(100_000)
    events = [json.loads(r.payload) for r in rows if r.topic.endswith("/events")]
    resets = [e for e in events if e["kind"] == "safety_recovered"]
    assert resets and "ops-alice" in resets[-1]["details"]["message"]
    assert "sensor replaced" in resets[-1]["details"]["message"]
    replies = [json.loads(r.payload) for r in rows if r.topic.endswith("/reply/safety_reset")]
    assert replies and replies[-1]["ok"] is True


def test_the_wire_names_of_latched_trips_are_the_guards() -> None:
    assert set(typing.get_args(LatchedTrip)) == {kind.value for kind in LATCHED}


def test_a_stuck_sensor_is_found_through_a_crash_loop_faster_than_the_frozen_check(
    make_rig: Callable[..., Rig], tmp_path: Path
) -> None:
    """The frozen check wants 300 s of heating on one value; an agent killed every 2 minutes
    restarted the count each time and heated on a stuck sensor for ever. The count now
    carries over in the trip record."""
    config = rig_config(tmp_path)
    runs = 0
    while runs < 5:
        runs += 1
        rig = make_rig(config)  # the same state directory: systemd's restart after a kill -9
        rig.heater.connect()
        rig.heater.knob(21.0)
        rig.heater.frozen_reading_c = 15.0  # the stuck sensor: the same value every start
        rig.run_for(120.0)
        if "frozen_sensor" in rig.last().trips:
            break
        rig.agent.abandon()  # kill -9: nothing saved at a stop
    assert "frozen_sensor" in rig.last().trips, f"still heating after {runs} runs of 120 s"
    assert runs <= 4, f"found only in run {runs}: the count restarted"
    assert rig.last().lease_s == 0.0
