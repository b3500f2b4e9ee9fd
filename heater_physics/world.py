"""The heater's physical world: plant, weather, wall thermostat and hot-water draws on one clock."""

from __future__ import annotations

from dataclasses import dataclass

from heater_physics.plant import DrawSchedule, PlantPreset, ThermalPlant
from heater_physics.thermostat import KNOB_RANGE_C, ScheduledThermostat, SetpointOrigin
from heater_physics.units import J_PER_KWH
from heater_physics.weather import WeatherSeries

# Longest simulated step taken at once: the weather and the draws are read at the start of each
# step, so this is their time resolution; the plant sub-steps further for its own stability.
MAX_STEP_S = 15.0


@dataclass(frozen=True)
class WorldState:
    sim_time_s: float
    outdoor_c: float
    sensor_temps_c: dict[str, float]  # by the node each sensor sits on
    heater_power_w: float
    setpoint_c: float
    origin: SetpointOrigin
    draw_l_per_min: float
    heat_delivered_kwh: float


class World:
    """A plant in its weather, under its wall thermostat, with the draws of a household.

    Time is simulated seconds since 1 January 00:00 of the weather year, moved on by
    `advance`; the heater's power is set by whoever drives the heater and held until changed.
    The boiler (a plant with a draw path) gets the default hot-water draws.
    """

    def __init__(
        self,
        preset: PlantPreset,
        weather: WeatherSeries,
        *,
        start_sim_s: float = 0.0,
        thermostat: ScheduledThermostat | None = None,
    ) -> None:
        self.preset = preset
        self.weather = weather
        self.plant = ThermalPlant(preset)
        self.thermostat = thermostat or ScheduledThermostat(
            preset.schedule, knob_range_c=KNOB_RANGE_C[preset.kind]
        )
        self.draws = DrawSchedule() if preset.draw_path else None
        self.sim_time_s = start_sim_s
        self.heater_power_w = 0.0
        self._energy_j = 0.0

    def advance(self, dt_s: float) -> None:
        """Move `dt_s` simulated seconds on at the heater's power, in steps of MAX_STEP_S."""
        while dt_s > 0:
            step = min(dt_s, MAX_STEP_S)
            self.plant.step(step, self.heater_power_w, self.outdoor_c(), self.draw_l_per_min())
            self._energy_j += self.heater_power_w * step
            self.sim_time_s += step
            dt_s -= step

    def outdoor_c(self) -> float:
        return self.weather.outdoor_c(self.sim_time_s)

    def draw_l_per_min(self) -> float:
        return self.draws.flow_l_per_min(self.sim_time_s) if self.draws else 0.0

    def sensor_temps_c(self) -> tuple[float, ...]:
        """What the preset's sensors read, without noise, in `sensor_nodes` order."""
        return self.plant.sensor_temps_c()

    def setpoint(self) -> tuple[float, SetpointOrigin]:
        return self.thermostat.setpoint(self.sim_time_s)

    def next_change(self) -> tuple[float, float] | None:
        """(seconds from now, setpoint °C) of the thermostat's next scheduled change."""
        return self.thermostat.next_change(self.sim_time_s)

    def turn_knob(self, setpoint_c: float) -> None:
        self.thermostat.turn_knob(setpoint_c, self.sim_time_s)

    def set_remote(self, setpoint_c: float) -> None:
        self.thermostat.set_remote(setpoint_c, self.sim_time_s)

    def state(self) -> WorldState:
        setpoint, origin = self.setpoint()
        return WorldState(
            sim_time_s=self.sim_time_s,
            outdoor_c=self.outdoor_c(),
            sensor_temps_c=dict(
                zip(self.preset.sensor_nodes, self.plant.sensor_temps_c(), strict=True)
            ),
            heater_power_w=self.heater_power_w,
            setpoint_c=setpoint,
            origin=origin,
            draw_l_per_min=self.draw_l_per_min(),
            heat_delivered_kwh=self._energy_j / J_PER_KWH,
        )
