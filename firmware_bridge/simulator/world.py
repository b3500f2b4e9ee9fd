"""The simulated heater's physical world: plant, weather, thermostat and draws on a sim clock.

This is the `HeaterHardware` the simulated MCU senses and drives. Real time is scaled into
simulated time (`speed`), so a winter day can pass in minutes while the protocol's own timing
(reports, lease, retries) stays in real seconds.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from firmware_bridge.protocol import HeaterKind, Mode, SensorKind
from firmware_bridge.simulator.mcu import ThermostatReading
from firmware_bridge.simulator.plant import DrawSchedule, PlantPreset, ThermalPlant
from firmware_bridge.simulator.thermostat import (
    BOILER_KNOB_RANGE_C,
    ROOM_KNOB_RANGE_C,
    ScheduledThermostat,
)
from firmware_bridge.simulator.weather import WeatherSeries

DAY_S = 86_400.0
# Longest simulated step taken at once; the plant sub-steps further for stability.
MAX_STEP_S = 15.0


@dataclass(frozen=True)
class WorldSnapshot:
    sim_time_s: float
    outdoor_c: float
    temperatures_c: dict[SensorKind, float]
    heater_power_w: float
    setpoint_c: float
    mode: Mode
    draw_l_per_min: float
    heat_delivered_kwh: float


class HeaterWorld:
    def __init__(
        self,
        preset: PlantPreset,
        weather: WeatherSeries,
        *,
        speed: float,
        start_sim_s: float,
        real_start_s: float,
    ) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self.preset = preset
        self.weather = weather
        self.speed = speed
        self.plant = ThermalPlant(preset)
        boiler = preset.kind is HeaterKind.WATER_BOILER
        self.wall_thermostat = ScheduledThermostat(
            preset.schedule, knob_range_c=BOILER_KNOB_RANGE_C if boiler else ROOM_KNOB_RANGE_C
        )
        self.draws = DrawSchedule() if boiler else None
        self.sim_time_s = start_sim_s
        self._real_last_s = real_start_s
        self._heater_power_w = 0.0
        self._energy_j = 0.0
        self._lock = threading.Lock()

    def advance(self, real_now_s: float) -> None:
        """Let simulated time catch up with real time, at the power the MCU allowed."""
        with self._lock:
            sim_dt = max(0.0, real_now_s - self._real_last_s) * self.speed
            self._real_last_s = real_now_s
            while sim_dt > 0:
                step = min(sim_dt, MAX_STEP_S)
                flow = self.draws.flow_l_per_min(self.sim_time_s) if self.draws else 0.0
                outdoor = self.weather.outdoor_c(self.sim_time_s)
                self.plant.step(step, self._heater_power_w, outdoor, flow)
                self._energy_j += self._heater_power_w * step
                self.sim_time_s += step
                sim_dt -= step

    # --- HeaterHardware ----------------------------------------------------------------------

    def sensor_temps_c(self) -> tuple[float, ...]:
        with self._lock:
            temps = self.plant.temperatures()
        return tuple(temps[kind] for kind in self.preset.sensors)

    def thermostat(self) -> ThermostatReading:
        with self._lock:
            setpoint, source = self.wall_thermostat.setpoint(self.sim_time_s)
            upcoming = self.wall_thermostat.next_change(self.sim_time_s)
            return ThermostatReading(setpoint, self.wall_thermostat.mode, source, upcoming)

    def set_remote_setpoint(self, setpoint_c: float, mode: Mode) -> None:
        with self._lock:
            self.wall_thermostat.set_remote(setpoint_c, self.sim_time_s)
            self.wall_thermostat.set_mode(mode)

    def set_heater_power(self, watts: float) -> None:
        self._heater_power_w = watts

    # --- for people and tests ----------------------------------------------------------------

    def turn_knob(self, setpoint_c: float) -> None:
        with self._lock:
            self.wall_thermostat.turn_knob(setpoint_c, self.sim_time_s)

    def snapshot(self) -> WorldSnapshot:
        with self._lock:
            setpoint, _ = self.wall_thermostat.setpoint(self.sim_time_s)
            return WorldSnapshot(
                sim_time_s=self.sim_time_s,
                outdoor_c=self.weather.outdoor_c(self.sim_time_s),
                temperatures_c=dict(self.plant.temperatures()),
                heater_power_w=self._heater_power_w,
                setpoint_c=setpoint,
                mode=self.wall_thermostat.mode,
                draw_l_per_min=self.draws.flow_l_per_min(self.sim_time_s) if self.draws else 0.0,
                heat_delivered_kwh=self._energy_j / 3.6e6,
            )
