"""The simulated heater as its MCU sees it: protocol names for the physics, a scaled clock."""

from __future__ import annotations

import dataclasses

import pytest

from firmware_bridge.protocol import HeaterKind, Mode, SensorKind, SetpointSource
from firmware_bridge.simulator.world import PRESETS, HeaterWorld, SimulatedHeater
from heater_physics.plant import PRESETS as PLANT_PRESETS
from heater_physics.plant import Node
from heater_physics.weather import WeatherSeries

H = 3600.0


def test_every_preset_is_announced_with_protocol_kinds_controlled_sensor_first() -> None:
    assert set(PRESETS) == set(PLANT_PRESETS)
    room, office, boiler = PRESETS["room"], PRESETS["office"], PRESETS["boiler"]
    assert room.kind is office.kind is HeaterKind.SPACE_HEATER
    assert boiler.kind is HeaterKind.WATER_BOILER
    assert room.sensors == (SensorKind.ROOM_AIR, SensorKind.HEATER_BODY)
    assert boiler.sensors == (SensorKind.TANK_TOP, SensorKind.TANK_BOTTOM, SensorKind.HEATER_BODY)
    assert (boiler.name, boiler.rated_power_w, boiler.max_temp_c) == ("boiler", 4000, 85.0)


def test_a_sensor_node_without_a_protocol_name_is_refused_by_name() -> None:
    room = PLANT_PRESETS["room"]
    attic = dataclasses.replace(
        room, nodes=(*room.nodes, Node("attic", 1e5, 10.0)), sensor_nodes=("air", "attic")
    )
    with pytest.raises(ValueError, match="attic"):
        SimulatedHeater(attic)


def world(preset: str = "room", speed: float = 3600.0) -> HeaterWorld:
    return HeaterWorld(
        PRESETS[preset],
        WeatherSeries.constant(5.0),
        speed=speed,
        start_sim_s=6 * H,
        real_start_s=100.0,
    )


def test_real_seconds_become_simulated_seconds_at_the_speed() -> None:
    heater = world(speed=3600.0)
    heater.advance(101.0)
    assert heater.sim_time_s == pytest.approx(7 * H)
    heater.advance(100.5)  # a clock that steps back moves nothing
    assert heater.sim_time_s == pytest.approx(7 * H)
    with pytest.raises(ValueError, match="speed"):
        world(speed=0.0)


def test_hardware_reads_sensors_in_protocol_order_and_reports_the_thermostat() -> None:
    heater = world("boiler")
    temps = heater.sensor_temps_c()
    assert len(temps) == 3 and temps[0] == heater.snapshot().temperatures_c[SensorKind.TANK_TOP]
    heater.set_remote_setpoint(60.0, Mode.ECO)
    reading = heater.thermostat()
    assert (reading.setpoint_c, reading.mode, reading.source) == (
        60.0,
        Mode.ECO,
        SetpointSource.REMOTE,
    )
    heater.turn_knob(50.0)
    assert heater.thermostat().source is SetpointSource.KNOB
    assert heater.snapshot().mode is Mode.ECO, "the mode is stored and reported, not applied"


def test_the_power_the_mcu_allows_heats_the_plant_and_is_counted() -> None:
    heater = world("room", speed=3600.0)
    heater.set_heater_power(500.0)
    heater.advance(102.0)  # two simulated hours
    snapshot = heater.snapshot()
    assert snapshot.heat_delivered_kwh == pytest.approx(1.0)
    assert snapshot.temperatures_c[SensorKind.HEATER_BODY] > 16.0 + 5.0
    assert snapshot.heater_power_w == 500.0
