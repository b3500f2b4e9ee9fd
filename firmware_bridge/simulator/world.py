"""The simulated heater as its MCU sees it: the physics' world on a scaled clock, in protocol terms.

This is the `HeaterHardware` the simulated MCU senses and drives. The physics (`heater_physics`)
names sensors by the node they sit on and knows nothing of the wire protocol; the tables here
give those the protocol's names. Real time is scaled into simulated time (`speed`), so a winter
day can pass in minutes while the protocol's own timing (reports, lease, retries) stays in real
seconds.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

from firmware_bridge.protocol import HeaterKind, Mode, SensorKind, SetpointSource
from firmware_bridge.simulator.mcu import ThermostatReading
from heater_physics.plant import PRESETS as PLANT_PRESETS
from heater_physics.plant import PlantKind, PlantPreset
from heater_physics.thermostat import SetpointOrigin
from heater_physics.weather import WeatherSeries
from heater_physics.world import World

HEATER_KINDS = {PlantKind.SPACE: HeaterKind.SPACE_HEATER, PlantKind.TANK: HeaterKind.WATER_BOILER}
# The sensor a node's probe is announced as; a preset's sensor nodes must all be here.
SENSOR_AT_NODE = {
    "air": SensorKind.ROOM_AIR,
    "heater": SensorKind.HEATER_BODY,
    "tank_top": SensorKind.TANK_TOP,
    "tank_bottom": SensorKind.TANK_BOTTOM,
}
SETPOINT_SOURCES = {
    SetpointOrigin.SCHEDULE: SetpointSource.SCHEDULE,
    SetpointOrigin.KNOB: SetpointSource.KNOB,
    SetpointOrigin.REMOTE: SetpointSource.REMOTE,
}


@dataclass(frozen=True)
class SimulatedHeater:
    """A plant preset as its MCU announces it: the protocol's heater kind and sensor kinds."""

    plant: PlantPreset

    def __post_init__(self) -> None:
        unknown = [node for node in self.plant.sensor_nodes if node not in SENSOR_AT_NODE]
        if unknown:
            raise ValueError(
                f"plant preset {self.plant.name!r}: no protocol sensor for nodes {unknown}"
                f" (known: {', '.join(SENSOR_AT_NODE)})"
            )

    @property
    def name(self) -> str:
        return self.plant.name

    @property
    def kind(self) -> HeaterKind:
        return HEATER_KINDS[self.plant.kind]

    @property
    def rated_power_w(self) -> int:
        return self.plant.rated_power_w

    @property
    def min_temp_c(self) -> float:
        return self.plant.min_temp_c

    @property
    def max_temp_c(self) -> float:
        return self.plant.max_temp_c

    @property
    def sensors(self) -> tuple[SensorKind, ...]:
        """The sensors in the order the MCU reports them; the first is the controlled one."""
        return tuple(SENSOR_AT_NODE[node] for node in self.plant.sensor_nodes)


PRESETS: dict[str, SimulatedHeater] = {
    name: SimulatedHeater(plant) for name, plant in PLANT_PRESETS.items()
}


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
    """The physics' world behind a lock, its clock following real time at `speed`."""

    def __init__(
        self,
        heater: SimulatedHeater,
        weather: WeatherSeries,
        *,
        speed: float,
        start_sim_s: float,
        real_start_s: float,
    ) -> None:
        if speed <= 0:
            raise ValueError(f"speed must be > 0, got {speed}")
        self.preset = heater
        self.speed = speed
        self.physics = World(heater.plant, weather, start_sim_s=start_sim_s)
        # Stored and reported, not applied: what ECO or BOOST means is the agent's business.
        self.mode = Mode.HEAT
        self._real_last_s = real_start_s
        self._lock = threading.Lock()

    @property
    def sim_time_s(self) -> float:
        return self.physics.sim_time_s

    def advance(self, real_now_s: float) -> None:
        """Let simulated time catch up with real time, at the power the MCU allowed."""
        with self._lock:
            sim_dt = max(0.0, real_now_s - self._real_last_s) * self.speed
            self._real_last_s = real_now_s
            self.physics.advance(sim_dt)

    # --- HeaterHardware ----------------------------------------------------------------------

    def sensor_temps_c(self) -> tuple[float, ...]:
        with self._lock:
            return self.physics.sensor_temps_c()

    def thermostat(self) -> ThermostatReading:
        with self._lock:
            setpoint, origin = self.physics.setpoint()
            upcoming = self.physics.next_change()
            return ThermostatReading(setpoint, self.mode, SETPOINT_SOURCES[origin], upcoming)

    def set_remote_setpoint(self, setpoint_c: float, mode: Mode) -> None:
        with self._lock:
            self.physics.set_remote(setpoint_c)
            self.mode = mode

    def set_heater_power(self, watts: float) -> None:
        self.physics.heater_power_w = watts

    # --- for people and tests ----------------------------------------------------------------

    def turn_knob(self, setpoint_c: float) -> None:
        with self._lock:
            self.physics.turn_knob(setpoint_c)

    def snapshot(self) -> WorldSnapshot:
        with self._lock:
            state = self.physics.state()
        return WorldSnapshot(
            sim_time_s=state.sim_time_s,
            outdoor_c=state.outdoor_c,
            temperatures_c={
                SENSOR_AT_NODE[node]: temp for node, temp in state.sensor_temps_c.items()
            },
            heater_power_w=state.heater_power_w,
            setpoint_c=state.setpoint_c,
            mode=self.mode,
            draw_l_per_min=state.draw_l_per_min,
            heat_delivered_kwh=state.heat_delivered_kwh,
        )
