"""Home Assistant discovery: a climate entity and sensors with HA's own key names and classes."""

from __future__ import annotations

import json
from typing import Any

import pytest

from boiler_agent.telemetry.command_gate import CommandGate
from boiler_agent.telemetry.discovery import (
    HA_STATUS_TOPIC,
    discovery_messages,
    ha_status_topic,
    node_id,
)
from boiler_agent.telemetry.payloads import Birth, HeaterType
from boiler_agent.telemetry.topics import Topics
from tests import factories

TOPICS = Topics("north", "h-42")


def birth(kind: HeaterType = "room") -> Birth:
    return factories.birth(heater_id="h-42", heater_kind=kind)


def configs(kind: HeaterType = "room", **kwargs: Any) -> dict[str, dict[str, Any]]:
    messages = discovery_messages(TOPICS, birth(kind), **kwargs)
    return {topic: json.loads(payload) for topic, payload in messages}


def climate(kind: HeaterType = "room") -> dict[str, Any]:
    return configs(kind)["homeassistant/climate/h-42/heater/config"]


def sensors(kind: HeaterType = "room") -> dict[str, dict[str, Any]]:
    prefix = "homeassistant/sensor/h-42/"
    return {
        topic.removeprefix(prefix).removesuffix("/config"): config
        for topic, config in configs(kind).items()
        if topic.startswith(prefix)
    }


def test_the_climate_entity_reads_state_and_telemetry_and_commands_ha_topics() -> None:
    config = climate()
    assert config["current_temperature_topic"] == TOPICS.telemetry
    assert config["current_temperature_template"] == "{{ value_json.temperatures.air_c }}"
    assert config["temperature_state_topic"] == TOPICS.state
    assert "base_setpoint_c" in config["temperature_state_template"]
    assert config["temperature_command_topic"] == TOPICS.cmd("ha_setpoint")
    assert config["mode_state_topic"] == TOPICS.state
    assert config["mode_command_topic"] == TOPICS.cmd("ha_mode")
    assert config["modes"] == ["heat", "off"]
    assert config["preset_modes"] == ["eco", "boost"]  # HA adds `none` itself
    assert config["preset_mode_state_topic"] == TOPICS.state
    assert config["preset_mode_command_topic"] == TOPICS.cmd("ha_mode")
    assert (config["min_temp"], config["max_temp"], config["temp_step"]) == (5.0, 35.0, 0.5)
    assert config["temperature_unit"] == "C"


def test_a_boiler_shows_its_water_and_its_own_range() -> None:
    config = climate("boiler")
    assert config["current_temperature_template"] == "{{ value_json.temperatures.water_c }}"
    assert (config["min_temp"], config["max_temp"]) == (10.0, 75.0)
    assert sensors("boiler")["temperature"]["value_template"].endswith("water_c }}")


def test_the_configured_range_overrides_the_kind_default() -> None:
    config = configs(setpoint_range_c=(7.0, 28.0))
    climate_config = config["homeassistant/climate/h-42/heater/config"]
    assert (climate_config["min_temp"], climate_config["max_temp"]) == (7.0, 28.0)


@pytest.mark.parametrize(
    ("state", "mode", "preset"),
    [
        ("heat", "heat", "none"),
        ("eco", "heat", "eco"),
        ("boost", "heat", "boost"),
        ("off", "off", "none"),
    ],
)
def test_mode_templates_map_our_modes_to_ha_modes_and_presets(
    state: str, mode: str, preset: str
) -> None:
    """Evaluate the templates as HA would: these Jinja expressions are also Python ones."""
    config = climate()
    value_json = {"mode": state}

    def render(template: str) -> str:
        expression = template.removeprefix("{{").removesuffix("}}").strip()
        return str(eval(expression, {}, {"value_json": _Dot(value_json)}))

    assert render(config["mode_state_template"]) == mode
    assert render(config["preset_mode_value_template"]) == preset


class _Dot(dict[str, Any]):
    """`value_json.mode` as Jinja reads it."""

    def __getattr__(self, name: str) -> Any:
        return self[name]


def test_every_value_ha_can_send_is_accepted_by_the_gate() -> None:
    gate = CommandGate(clock=lambda: 0.0)
    config = climate()
    for value in [*config["modes"], *config["preset_modes"], "none"]:
        reply, command = gate.handle("ha_mode", value.encode())
        assert reply.ok and command is not None, value
    for setpoint in (config["min_temp"], config["max_temp"], 21.5):
        reply, command = gate.handle("ha_setpoint", str(setpoint).encode())
        assert reply.ok and command is not None, setpoint


def test_sensors_carry_ha_device_and_state_classes() -> None:
    found = sensors()
    for name in ("temperature", "outdoor_temperature", "cpu_temperature"):
        config = found[name]
        assert config["device_class"] == "temperature"
        assert config["state_class"] == "measurement"
        assert config["unit_of_measurement"] == "°C"
    assert found["power"]["device_class"] == "power"
    assert found["power"]["unit_of_measurement"] == "W"
    assert found["power"]["state_class"] == "measurement"
    for name in ("energy", "wanted_energy"):
        assert found[name]["device_class"] == "energy"
        assert found[name]["state_class"] == "total_increasing"
        assert found[name]["unit_of_measurement"] == "kWh"
    assert found["energy"]["value_template"] == "{{ value_json.energy.total_kwh }}"
    assert "device_class" not in found["workers"]
    assert all(config["state_topic"] == TOPICS.telemetry for config in found.values())


def test_every_entity_has_availability_a_unique_id_and_the_same_device() -> None:
    everything = configs()
    unique_ids = [config["unique_id"] for config in everything.values()]
    assert len(set(unique_ids)) == len(unique_ids) == len(everything)
    devices = [json.dumps(config["device"], sort_keys=True) for config in everything.values()]
    assert len(set(devices)) == 1
    device = next(iter(everything.values()))["device"]
    assert device["identifiers"] == ["h-42"]
    assert {"manufacturer", "model", "sw_version"} <= set(device)
    assert device["sw_version"] == "0.1.0"
    for config in everything.values():
        assert config["availability_topic"] == TOPICS.availability
        assert config["payload_available"] == "online"
        assert config["payload_not_available"] == "offline"


def test_payloads_are_utf8_json_and_topics_follow_the_discovery_layout() -> None:
    for topic, payload in discovery_messages(TOPICS, birth(), ha_prefix="ha"):
        parts = topic.split("/")
        # <prefix>/<component>/<node_id>/<object_id>/config
        assert parts[0] == "ha" and parts[-1] == "config" and len(parts) == 5, topic
        assert parts[1] in {"climate", "sensor"}
        json.loads(payload.decode("utf-8"))


def test_node_id_keeps_only_characters_ha_allows() -> None:
    assert node_id(Topics("fleet.eu", "heater 7")) == "heater_7"


def test_ha_status_topic() -> None:
    assert HA_STATUS_TOPIC == "homeassistant/status" == ha_status_topic()
    assert ha_status_topic("ha") == "ha/status"


def _render(template: str, value_json: dict[str, Any]) -> str:
    """As HA would: these Jinja expressions are also Python ones."""
    expression = template.removeprefix("{{").removesuffix("}}").strip()
    return str(eval(expression, {}, {"value_json": _Dot(value_json)}))


def test_the_target_shown_is_the_one_set_not_the_modes_adjustment_of_it() -> None:
    template = climate()["temperature_state_template"]
    # eco lowers the 21 °C set to 19 °C in force: Home Assistant shows the 21 it was given.
    assert _render(template, {"setpoint_c": 19.0, "base_setpoint_c": 21.0}) == "21.0"
    # A state from an agent that does not send the field yet.
    assert _render(template, {"setpoint_c": 19.0, "base_setpoint_c": None}) == "19.0"


@pytest.mark.parametrize(
    ("mode", "power_w", "action"),
    [("off", 350.0, "off"), ("heat", 350.0, "heating"), ("eco", 0.0, "idle")],
)
def test_the_action_is_off_when_off_even_while_the_workers_wind_down(
    mode: str, power_w: float, action: str
) -> None:
    template = climate()["action_template"]
    assert _render(template, {"mode": mode, "power_w": power_w}) == action


def test_only_the_sensors_the_heater_has_are_discovered() -> None:
    bare = factories.birth(heater_id="h-42", heater_kind="room", temperatures=["air_c"])
    found = {
        topic.split("/")[3]
        for topic, _ in discovery_messages(TOPICS, bare)
        if topic.startswith("homeassistant/sensor/")
    }
    assert "outdoor_temperature" not in found and "cpu_temperature" not in found
    assert {"temperature", "power", "energy"} <= found
    # A birth that does not say (an older agent): every sensor, as before.
    assert {"outdoor_temperature", "cpu_temperature"} <= set(sensors())


def test_sensors_round_for_display_keep_diagnostics_aside_and_name_entities_by_unique_id() -> None:
    found = sensors()
    assert found["power"]["suggested_display_precision"] == 0
    assert found["temperature"]["suggested_display_precision"] == 1
    assert found["energy"]["suggested_display_precision"] == 3
    assert "entity_category" not in found["energy"]
    for diagnostic in ("wanted_energy", "workers", "heat_demand", "cpu_temperature"):
        assert found[diagnostic]["entity_category"] == "diagnostic"
    for config in found.values():
        assert config["object_id"] == config["unique_id"]


def test_the_device_takes_the_configured_friendly_name() -> None:
    named = factories.birth(heater_id="h-42", heater_kind="room", display_name="Living room")
    messages = dict(discovery_messages(TOPICS, named))
    config = json.loads(messages["homeassistant/climate/h-42/heater/config"])
    assert config["device"]["name"] == "Living room"
    assert climate()["device"]["name"] == "h-42"
