"""The physical world: plant, weather, thermostat and draws moved on together in simulated time."""

from __future__ import annotations

import pytest

from heater_physics.plant import BOILER, ROOM, ThermalPlant
from heater_physics.thermostat import ScheduledThermostat, SetpointOrigin
from heater_physics.weather import WeatherSeries
from heater_physics.world import MAX_STEP_S, World

H = 3600.0


def test_advancing_steps_the_plant_as_stepping_it_by_hand() -> None:
    weather = WeatherSeries((0.0, 10.0))  # a two-hour cycle, so the outdoor changes every step
    world = World(ROOM, weather)
    world.heater_power_w = 300.0
    world.advance(H)
    by_hand = ThermalPlant(ROOM)
    t = 0.0
    while t < H:
        by_hand.step(MAX_STEP_S, 300.0, weather.outdoor_c(t))
        t += MAX_STEP_S
    assert world.plant.node_temps_c() == by_hand.node_temps_c()
    assert world.sim_time_s == H
    assert world.state().heat_delivered_kwh == pytest.approx(0.3)


def test_the_boiler_gets_its_draws_and_a_room_none() -> None:
    boiler = World(BOILER, WeatherSeries.constant(5.0), start_sim_s=7 * H + 60)
    assert boiler.draw_l_per_min() == 8.0  # the morning shower
    before = boiler.plant.temp_c("tank_bottom")
    boiler.advance(120.0)
    assert boiler.plant.temp_c("tank_bottom") < before
    assert World(ROOM, WeatherSeries.constant(5.0), start_sim_s=7 * H + 60).draw_l_per_min() == 0


def test_the_thermostat_follows_the_worlds_clock() -> None:
    world = World(ROOM, WeatherSeries.constant(5.0), start_sim_s=6 * H)
    assert world.setpoint() == (16.0, SetpointOrigin.SCHEDULE)
    assert world.next_change() == (H, 19.0)
    world.turn_knob(21.0)
    world.advance(0.5 * H)
    assert world.state().setpoint_c == 21.0 and world.state().origin is SetpointOrigin.KNOB
    world.advance(0.5 * H)
    assert world.setpoint() == (19.0, SetpointOrigin.SCHEDULE), "the knob holds until 07:00"


def test_a_given_thermostat_replaces_the_presets_own() -> None:
    thermostat = ScheduledThermostat([(0.0, 22.0)], knob_range_c=(-50.0, 150.0))
    world = World(ROOM, WeatherSeries.constant(5.0), thermostat=thermostat)
    assert world.setpoint() == (22.0, SetpointOrigin.SCHEDULE)
    assert world.state().sensor_temps_c == {"air": 16.0, "heater": 16.0}
