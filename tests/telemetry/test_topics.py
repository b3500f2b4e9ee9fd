"""The topic tree: every topic under the versioned root, ids checked with errors that name them."""

from __future__ import annotations

import paho.mqtt.client as mqtt
import pytest

from boiler_agent.telemetry.payloads import all_schemas
from boiler_agent.telemetry.topics import SCHEMA_VERSION, TOPIC_TABLE, Topics


def test_every_heater_topic_lives_under_root_fleet_and_heater() -> None:
    topics = Topics("north", "h-0042")
    assert topics.availability == "dh/v1/north/h-0042/availability"
    assert topics.birth == "dh/v1/north/h-0042/birth"
    assert topics.state == "dh/v1/north/h-0042/state"
    assert topics.telemetry == "dh/v1/north/h-0042/telemetry"
    assert topics.events == "dh/v1/north/h-0042/events"
    assert topics.cmd("set_mode") == "dh/v1/north/h-0042/cmd/set_mode"
    assert topics.reply("set_mode") == "dh/v1/north/h-0042/reply/set_mode"
    assert topics.job_status("j1") == "dh/v1/north/h-0042/jobs/j1/status"
    assert topics.job_result("j1") == "dh/v1/north/h-0042/jobs/j1/result"


def test_commands_filter_matches_every_command_and_nothing_else() -> None:
    topics = Topics("north", "h1")
    assert topics.cmd_filter == "dh/v1/north/h1/cmd/+"
    assert mqtt.topic_matches_sub(topics.cmd_filter, topics.cmd("ha_mode"))
    assert not mqtt.topic_matches_sub(topics.cmd_filter, Topics("north", "h2").cmd("ha_mode"))
    assert not mqtt.topic_matches_sub(topics.cmd_filter, topics.reply("ha_mode"))


def test_command_name_is_read_back_from_an_incoming_topic() -> None:
    topics = Topics("north", "h1")
    assert topics.command_name(topics.cmd("setpoint_override")) == "setpoint_override"
    assert topics.command_name("dh/v1/north/h2/cmd/set_mode") is None
    assert topics.command_name(topics.telemetry) is None
    assert topics.command_name(topics.cmd_filter.removesuffix("+")) is None


def test_jobs_come_from_the_fleet_through_a_shared_subscription() -> None:
    topics = Topics("north", "h1")
    assert topics.jobs == "dh/v1/north/jobs"
    assert topics.jobs_shared_subscription("warm") == "$share/warm/dh/v1/north/jobs"


def test_another_root_moves_every_topic() -> None:
    topics = Topics("north", "h1", root="test/dh/v1")
    assert topics.telemetry == "test/dh/v1/north/h1/telemetry"
    assert topics.jobs == "test/dh/v1/north/jobs"


@pytest.mark.parametrize(
    ("field", "kwargs", "bad"),
    [
        ("fleet", {"fleet": "a/b", "heater_id": "h"}, "a/b"),
        ("fleet", {"fleet": "", "heater_id": "h"}, "''"),
        ("heater_id", {"fleet": "f", "heater_id": "h+"}, "h+"),
        ("heater_id", {"fleet": "f", "heater_id": "#"}, "#"),
        ("heater_id", {"fleet": "f", "heater_id": "$SYS"}, "$SYS"),
        ("heater_id", {"fleet": "f", "heater_id": "x" * 65}, "x" * 65),
        ("heater_id", {"fleet": "f", "heater_id": "tab\there"}, "tab\\there"),
        ("heater_id", {"fleet": "f", "heater_id": " h"}, "' h'"),
    ],
)
def test_a_bad_id_is_refused_naming_the_field_and_value(
    field: str, kwargs: dict[str, str], bad: str
) -> None:
    with pytest.raises(ValueError, match=field) as refused:
        Topics(**kwargs)
    assert bad in str(refused.value), f"the error should quote the value: {refused.value}"


def test_bad_command_job_and_pool_names_are_refused() -> None:
    topics = Topics("f", "h")
    with pytest.raises(ValueError, match="command"):
        topics.cmd("a/b")
    with pytest.raises(ValueError, match="job_id"):
        topics.job_status("+")
    with pytest.raises(ValueError, match="pool"):
        topics.jobs_shared_subscription("")


def test_a_weather_zone_is_one_level_under_the_fleets_weather() -> None:
    topics = Topics("north", "h1")
    assert topics.weather_in(None) == topics.weather == "dh/v1/north/weather"
    assert topics.weather_in("coast") == "dh/v1/north/weather/coast"
    for zone in ("", "coast/west", "+", "#"):
        with pytest.raises(ValueError, match="weather_zone"):
            topics.weather_in(zone)


@pytest.mark.parametrize("root", ["", "dh//v1", "dh/#", "$dh/v1", "/dh"])
def test_a_bad_root_is_refused(root: str) -> None:
    with pytest.raises(ValueError, match="root"):
        Topics("f", "h", root=root)


def test_the_table_documents_qos_1_and_retains_only_latest_wins_topics() -> None:
    retained = {
        spec.pattern.removesuffix("/{zone}").rsplit("/", 1)[-1]
        for spec in TOPIC_TABLE
        if spec.retain
    }
    assert retained == {"availability", "birth", "state", "config", "weather"}
    assert all(spec.qos == 1 for spec in TOPIC_TABLE)
    assert not any(spec.retain for spec in TOPIC_TABLE if "/cmd/" in spec.pattern)


def test_every_payload_model_named_in_the_table_exists_and_every_model_is_in_it() -> None:
    schemas = all_schemas()
    named = {spec.payload for spec in TOPIC_TABLE if spec.payload[0].isupper()}
    named.discard("Home Assistant discovery config")
    assert named <= set(schemas), named - set(schemas)
    assert set(schemas) <= named, f"not in TOPIC_TABLE: {set(schemas) - named}"


def test_schema_version_is_one() -> None:
    assert SCHEMA_VERSION == 1


def test_a_reply_topic_is_the_heaters_own_only_under_its_reply_subtree() -> None:
    topics = Topics("f", "h1")
    assert topics.owns_reply("dh/v1/f/h1/reply/set_mode")
    assert topics.owns_reply("dh/v1/f/h1/reply/set_mode/req-42")
    for other in (
        "dh/v1/f/h1/reply",
        "dh/v1/f/h1/reply/",
        "dh/v1/f/h1/replyx/set_mode",
        "dh/v1/f/h1/state",
        "dh/v1/f/h2/reply/set_mode",
        "dh/v1/f/h1/reply/+",
        "dh/v1/f/h1/reply/#",
        "homeassistant/climate/h1/config",
    ):
        assert not topics.owns_reply(other), other
