"""A room heater without an outdoor sensor takes the fleet's weather (`fleet weather`, retained
on a real Mosquitto); a sensor wins over it, a boiler ignores it, a stale or bad report is not
used, and a bad one is an event."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest

from boiler_agent.cli import main
from boiler_agent.config import load_config
from boiler_agent.daemon.regulation import Regulation
from boiler_agent.fleet.subscriber import FleetSubscriber
from boiler_agent.telemetry.local_broker import LocalBroker
from boiler_agent.telemetry.weather import WeatherFeed
from firmware_bridge.protocol import SensorKind
from tests.daemon.conftest import Rig
from tests.daemon.fakes import ROOM_IDENTITY

FLEET = "test"  # rig_config's fleet
WEATHER_TOPIC = f"dh/v1/{FLEET}/weather"
NO_OUTDOOR_SENSOR = replace(ROOM_IDENTITY, sensors=(SensorKind.ROOM_AIR,))
WAIT_S = 30.0  # real seconds for a message to cross the broker on a loaded machine


def _publish_weather(
    broker: LocalBroker, outdoor_c: float, at_s: float, zone: str | None = None
) -> None:
    stamp = datetime.fromtimestamp(at_s, UTC).isoformat()
    argv = ["fleet", "weather", "--broker", broker.url, "--fleet", FLEET]
    argv += ["--zone", zone] if zone is not None else []
    assert main([*argv, "--outdoor-c", str(outdoor_c), "--observed-at", stamp]) == 0


def _room(make_rig: Callable[..., Rig], broker: LocalBroker, **heater: object) -> Rig:
    rig = make_rig(mqtt={"enabled": True, "url": broker.url}, heater=heater)
    rig.heater.identity = NO_OUTDOOR_SENSOR
    rig.heater.connect()
    rig.heater.knob(21.0)
    return rig


def _parts(rig: Rig) -> tuple[Regulation, WeatherFeed]:
    loop = rig.agent.loop
    assert loop is not None and loop.parts.uplink is not None
    return loop.regulation, loop.parts.uplink.weather


def _run_until(rig: Rig, done: Callable[[], bool], what: str) -> None:
    """Turn the agent a control period at a time until `done`; the broker is in real time."""
    deadline = time.monotonic() + WAIT_S
    while not done():
        assert time.monotonic() < deadline, f"no {what} within {WAIT_S:g} s"
        rig.run_for(10.0)


def test_a_room_without_an_outdoor_sensor_controls_with_the_fleets_weather(
    broker: LocalBroker, make_rig: Callable[..., Rig]
) -> None:
    rig = _room(make_rig, broker)
    regulation, _ = _parts(rig)
    rig.run_for(30.0)
    assert regulation.outdoor_c is None, "no weather yet: the control law's own assumption"
    _publish_weather(broker, -7.5, rig.clock.wall())
    _run_until(rig, lambda: regulation.outdoor_c == -7.5, "weather in the control law")
    # A newer report replaces it.
    _publish_weather(broker, -3.0, rig.clock.wall())
    _run_until(rig, lambda: regulation.outdoor_c == -3.0, "the newer report")


def test_a_report_published_before_the_agent_started_reaches_it_retained(
    broker: LocalBroker, make_rig: Callable[..., Rig]
) -> None:
    # The rig's virtual wall clock starts at 2026-01-01T00:00Z.
    _publish_weather(broker, -4.0, datetime(2026, 1, 1, tzinfo=UTC).timestamp())
    rig = _room(make_rig, broker)
    regulation, _ = _parts(rig)
    _run_until(rig, lambda: regulation.outdoor_c == -4.0, "the retained weather")


def test_a_heater_in_a_weather_zone_takes_its_zones_report_only(
    broker: LocalBroker, make_rig: Callable[..., Rig]
) -> None:
    # Retained before the heater starts: the fleet-wide report and another zone's.
    start = datetime(2026, 1, 1, tzinfo=UTC).timestamp()  # the rig's virtual wall clock
    _publish_weather(broker, -7.5, start)
    _publish_weather(broker, -12.0, start, zone="mountain")
    rig = _room(make_rig, broker, weather_zone="coast")
    regulation, feed = _parts(rig)
    _publish_weather(broker, 2.0, rig.clock.wall(), zone="coast")
    # Retained messages come with the subscription, before the coast's newer report: had the
    # heater subscribed to the others, the feed would have met them first.
    seen: list[float | None] = []

    def coast_in_use() -> bool:
        seen.append(regulation.outdoor_c)
        return regulation.outdoor_c == 2.0

    _run_until(rig, coast_in_use, "the coast's report")
    assert set(seen) <= {None, 2.0}, seen
    assert feed.rejected == 0


def test_a_stale_report_is_not_used(broker: LocalBroker, make_rig: Callable[..., Rig]) -> None:
    rig = _room(make_rig, broker)
    regulation, feed = _parts(rig)
    _publish_weather(broker, -7.5, rig.clock.wall() - 4 * 3600.0)  # default limit: 3 h
    _run_until(rig, lambda: feed.latest is not None, "the report")
    rig.run_for(30.0)
    assert regulation.outdoor_c is None


def test_a_boiler_ignores_the_weather(broker: LocalBroker, make_rig: Callable[..., Rig]) -> None:
    rig = make_rig(mqtt={"enabled": True, "url": broker.url}, heater={"kind": "boiler"})
    rig.heater.identity = NO_OUTDOOR_SENSOR
    regulation, feed = _parts(rig)
    _publish_weather(broker, -7.5, rig.clock.wall())
    _run_until(rig, lambda: feed.latest is not None, "the report")
    rig.run_for(30.0)
    assert regulation.outdoor_c is None, "a boiler's outdoors is its room, not the weather"


def test_a_bad_report_is_an_event_and_the_agent_runs_on(
    broker: LocalBroker, make_rig: Callable[..., Rig]
) -> None:
    rig = _room(make_rig, broker)
    regulation, feed = _parts(rig)
    events_topic = f"dh/v1/{FLEET}/h1/events"
    fleet = FleetSubscriber(broker.url, topic_filter=[WEATHER_TOPIC, events_topic]).start()
    refused: list[dict[str, object]] = []

    def refusal_heard() -> bool:
        for message in fleet.take(0.0):
            if message.kind == "events" and message.body.get("reason") == "weather_rejected":
                refused.append(message.body)
        return bool(refused)

    try:
        assert fleet.subscribed.wait(WAIT_S)
        bad = {"schema": 1, "outdoor_c": 99.0, "observed_at": "2026-01-01T00:00:00Z"}
        fleet.publish(WEATHER_TOPIC, json.dumps(bad).encode(), retain=True)
        _run_until(rig, refusal_heard, "weather_rejected event")
    finally:
        fleet.stop()
    assert feed.rejected == 1
    details = refused[0]["details"]
    assert isinstance(details, dict) and "outdoor_c" in details["error"], refused
    rig.run_for(30.0)
    assert regulation.outdoor_c is None and rig.last().lease_s > 0, "heats on, on its own law"


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["--fleet", FLEET, "--outdoor-c", "99"], "--outdoor-c"),
        (["--fleet", FLEET, "--outdoor-c", "1", "--observed-at", "07:00"], "--observed-at"),
        (
            ["--fleet", FLEET, "--outdoor-c", "1", "--observed-at", "2026-01-15T07:00"],
            "--observed-at",
        ),
        (["--outdoor-c", "1"], "--fleet"),
        (["--fleet", FLEET, "--outdoor-c", "1", "--zone", "coast/north"], "--zone"),
    ],
    ids=["out-of-range", "not-a-date", "no-time-zone", "no-fleet", "zone-not-one-level"],
)
def test_fleet_weather_names_the_bad_option_and_sends_nothing(
    extra: list[str], named: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Port 9 (discard): nothing is sent, the arguments are refused before connecting.
    assert main(["fleet", "weather", "--broker", "mqtt://127.0.0.1:9", *extra]) == 2
    error = capsys.readouterr().err
    assert named in error and len(error.strip().splitlines()) == 1, error


def test_a_reload_with_a_longer_limit_takes_a_report_it_found_stale(
    broker: LocalBroker, make_rig: Callable[..., Rig], tmp_path: Path
) -> None:
    path = tmp_path / "agent.toml"

    def write(max_age_s: float) -> None:
        path.write_text(
            f'state_dir = "{tmp_path / "state"}"\ncache_dir = "{tmp_path / "cache"}"\n'
            f'[heater]\nid = "h1"\nfleet = "{FLEET}"\n[serial]\nport = "/dev/fake-heater"\n'
            f'[mqtt]\nurl = "{broker.url}"\n[control]\nweather_max_age_s = {max_age_s}\n'
            f'[status]\nsocket = "{tmp_path / "status.sock"}"\n',
            encoding="utf-8",
        )

    write(3 * 3600.0)
    rig = make_rig(load_config(path), config_path=path)
    rig.heater.identity = NO_OUTDOOR_SENSOR
    rig.heater.connect()
    regulation, feed = _parts(rig)
    _publish_weather(broker, -7.5, rig.clock.wall() - 4 * 3600.0)
    _run_until(rig, lambda: feed.latest is not None, "the report")
    rig.run_for(30.0)
    assert regulation.outdoor_c is None
    write(5 * 3600.0)
    rig.agent.request_reload()
    rig.run_for(30.0)
    assert regulation.outdoor_c == -7.5
