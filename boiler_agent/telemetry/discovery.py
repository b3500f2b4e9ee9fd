"""Home Assistant MQTT discovery: the heater as one climate entity with sensors, all retained.

Home Assistant reads our own topics through templates, so nothing is published twice. It
sends raw values (`21.5`, `heat`, preset `none`) to `cmd/ha_setpoint` and `cmd/ha_mode`, which
the command gate accepts as last-writer-wins settings. The agent publishes these configs again
whenever `homeassistant/status` says `online` (Home Assistant restarted and may have lost them).
"""

from __future__ import annotations

import functools
import json
import re
from dataclasses import dataclass
from typing import Any

from boiler_agent.telemetry.payloads import SETPOINT_RANGE_C, Birth
from boiler_agent.telemetry.topics import Topics

HA_PREFIX = "homeassistant"
HA_STATUS_TOPIC = f"{HA_PREFIX}/status"
MANUFACTURER = "boiler-agent"
TEMP_STEP_C = 0.5
PAYLOAD_ONLINE = "online"
PAYLOAD_OFFLINE = "offline"
# The temperature the controller acts on, per heater kind (Telemetry.temperatures keys).
CONTROLLED_TEMPERATURE = {"room": "air_c", "boiler": "water_c"}
MODEL_NAMES = {"room": "digital room heater", "boiler": "digital water boiler"}


@dataclass(frozen=True)
class Sensor:
    object_id: str
    name: str
    template: str  # Jinja over a Telemetry payload
    device_class: str | None
    state_class: str
    unit: str | None
    icon: str | None = None
    precision: int | None = None  # suggested_display_precision: 484.7 W, not 484.6982356 W
    diagnostic: bool = False  # entity_category diagnostic: under the device, off dashboards
    needs: str | None = None  # a Temperatures key the heater must have (Birth.temperatures)


def sensors(controlled: str) -> tuple[Sensor, ...]:
    """The sensors, reading the Telemetry payload; `controlled` is a Temperatures key."""
    temperature = functools.partial(
        Sensor, device_class="temperature", state_class="measurement", unit="°C", precision=1
    )
    power = functools.partial(
        Sensor, device_class="power", state_class="measurement", unit="W", precision=0
    )
    # total_increasing: Home Assistant's energy dashboard takes a drop as a meter reset.
    energy = functools.partial(
        Sensor, device_class="energy", state_class="total_increasing", unit="kWh", precision=3
    )
    return (
        temperature("temperature", "Temperature", _t(f"temperatures.{controlled}")),
        temperature(
            "outdoor_temperature",
            "Outdoor temperature",
            _t("temperatures.outdoor_c"),
            needs="outdoor_c",
        ),
        temperature(
            "cpu_temperature",
            "CPU temperature",
            _t("temperatures.cpu_package_c"),
            needs="cpu_package_c",
            diagnostic=True,
        ),
        power("power", "Power", _t("power_w")),
        power("heat_demand", "Heat demand", _t("heat_demand_w"), diagnostic=True),
        energy("energy", "Energy", _t("energy.total_kwh")),
        # Part of "Energy", not beside it: a user who adds both to the Energy dashboard counts
        # the wanted heat twice (docs/telemetry.md). Diagnostic, so it is not offered first.
        energy("wanted_energy", "Energy as wanted heat", _t("energy.wanted_kwh"), diagnostic=True),
        Sensor(
            "workers",
            "Workers running",
            _t("workers_running"),
            device_class=None,
            state_class="measurement",
            unit=None,
            icon="mdi:cpu-64-bit",
            diagnostic=True,
        ),
    )


def _t(path: str) -> str:
    """A Jinja template reading `path` from the JSON payload."""
    return "{{ value_json." + path + " }}"


def node_id(topics: Topics) -> str:
    """The heater id, as discovery's node id allows only [a-zA-Z0-9_-] (others become `_`).

    Not prefixed with the fleet: the broker's ACL (docs/mosquitto/fleet.acl) lets a heater
    write `homeassistant/+/<its id>/#` only, and heater ids are unique on a broker anyway
    (they are its user names).
    """
    return re.sub(r"[^a-zA-Z0-9_-]", "_", topics.heater_id)


def ha_status_topic(ha_prefix: str = HA_PREFIX) -> str:
    return f"{ha_prefix}/status"


def discovery_messages(
    topics: Topics,
    birth: Birth,
    ha_prefix: str = HA_PREFIX,
    setpoint_range_c: tuple[float, float] | None = None,
) -> list[tuple[str, bytes]]:
    """(topic, payload) of every discovery config, to publish retained at QoS 1.

    `setpoint_range_c` is what the command gate accepts (the agent's configured range); by
    default the protocol's range for the heater's kind.
    """
    node = node_id(topics)
    low, high = setpoint_range_c or SETPOINT_RANGE_C[birth.heater_kind]
    common: dict[str, Any] = {
        "availability_topic": topics.availability,
        "payload_available": PAYLOAD_ONLINE,
        "payload_not_available": PAYLOAD_OFFLINE,
        "device": _device(node, birth),
        "qos": 1,
    }
    messages = [
        (
            f"{ha_prefix}/climate/{node}/heater/config",
            _encode(_climate(topics, birth, (low, high), common)),
        )
    ]
    have = set(birth.temperatures) if birth.temperatures is not None else None
    for sensor in sensors(CONTROLLED_TEMPERATURE[birth.heater_kind]):
        if sensor.needs is not None and have is not None and sensor.needs not in have:
            continue  # no such sensor on this heater: no entity stuck at "unknown"
        config = {
            "name": sensor.name,
            "unique_id": f"{node}_{sensor.object_id}",
            "object_id": f"{node}_{sensor.object_id}",  # entity ids that match the unique ids
            "state_topic": topics.telemetry,
            "value_template": sensor.template,
            "state_class": sensor.state_class,
            **common,
        }
        if sensor.device_class is not None:
            config["device_class"] = sensor.device_class
        if sensor.unit is not None:
            config["unit_of_measurement"] = sensor.unit
        if sensor.icon is not None:
            config["icon"] = sensor.icon
        if sensor.precision is not None:
            config["suggested_display_precision"] = sensor.precision
        if sensor.diagnostic:
            config["entity_category"] = "diagnostic"
        messages.append((f"{ha_prefix}/sensor/{node}/{sensor.object_id}/config", _encode(config)))
    return messages


def _climate(
    topics: Topics, birth: Birth, setpoint_range_c: tuple[float, float], common: dict[str, Any]
) -> dict[str, Any]:
    node = node_id(topics)
    low, high = setpoint_range_c
    controlled = CONTROLLED_TEMPERATURE[birth.heater_kind]
    return {
        "name": None,  # the entity takes the device's name
        "unique_id": f"{node}_climate",
        "object_id": f"{node}_climate",
        "current_temperature_topic": topics.telemetry,
        "current_temperature_template": _t(f"temperatures.{controlled}"),
        "temperature_state_topic": topics.state,
        # The setpoint as set, not the mode's adjustment of it: eco's 19 °C is shown as the
        # 21 °C the user set, and a new target is not snapped back.
        "temperature_state_template": (
            "{{ value_json.base_setpoint_c if value_json.base_setpoint_c is not None"
            " else value_json.setpoint_c }}"
        ),
        "temperature_command_topic": topics.cmd("ha_setpoint"),
        "modes": ["heat", "off"],
        "mode_state_topic": topics.state,
        # eco and boost are presets of heating, as Home Assistant models them.
        "mode_state_template": "{{ 'off' if value_json.mode == 'off' else 'heat' }}",
        "mode_command_topic": topics.cmd("ha_mode"),
        "preset_modes": ["eco", "boost"],
        "preset_mode_state_topic": topics.state,
        "preset_mode_value_template": (
            "{{ value_json.mode if value_json.mode in ['eco', 'boost'] else 'none' }}"
        ),
        "preset_mode_command_topic": topics.cmd("ha_mode"),
        "action_topic": topics.telemetry,
        # Off is off, even while the workers wind down; telemetry says the mode.
        "action_template": (
            "{{ 'off' if value_json.mode == 'off' else"
            " ('heating' if value_json.power_w > 0 else 'idle') }}"
        ),
        "min_temp": low,
        "max_temp": high,
        "temp_step": TEMP_STEP_C,
        "precision": 0.1,
        "temperature_unit": "C",
        **common,
    }


def _device(node: str, birth: Birth) -> dict[str, Any]:
    return {
        "identifiers": [node],
        "name": birth.display_name or birth.heater_id,
        "manufacturer": MANUFACTURER,
        "model": f"{MODEL_NAMES[birth.heater_kind]}, {birth.rated_power_w:g} W",
        "sw_version": birth.agent_version,
        "hw_version": f"firmware {birth.firmware_version}",
    }


def _encode(config: dict[str, Any]) -> bytes:
    return json.dumps(config, separators=(",", ":"), ensure_ascii=False).encode()
