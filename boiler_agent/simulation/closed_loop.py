"""A control law in closed loop on the heater's physics, in simulated time, and its scores."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from boiler_agent.control.controllers import Controller
from boiler_agent.control.inputs import ControlInput
from boiler_agent.durations import DAY_S, HOUR_S
from heater_physics.plant import OUTDOOR, ROOM, PlantPreset
from heater_physics.thermostat import ScheduledThermostat
from heater_physics.units import J_PER_KWH
from heater_physics.weather import WeatherSeries
from heater_physics.world import World

PERIOD_S = 30.0  # control period
PLANT_SUBSTEPS = 3  # the plant is stepped this many times per control period
# The loop sets the schedule it tests and never turns the knob: no range to keep it in.
KNOB_RANGE_C = (-50.0, 150.0)
COMFORT_BAND_K = 0.5  # discomfort counts below setpoint - this
WASTE_BAND_K = 0.5  # heat is valorised while at most this above the coming setpoint
LOOKAHEAD_S = 3 * HOUR_S  # "the highest setpoint of the next three hours"
TRACKING_DELAY_S = 2 * HOUR_S  # tracking starts this long after a setpoint rise
# The compute cores behind each preset's rated power: power / rated * cores is the compute made.
CORES = {"room": 4, "office": 12, "boiler": 24}
DEFAULT_CORES = 4


@dataclass(frozen=True)
class LoopRecord:
    """Every control period of a closed-loop run, exactly: what the law saw and what it chose.

    Not a `simulation.trace.Trace`: that one is bounded (it decimates a long run) and has gaps,
    for plots; scores need every period at the fixed period, the rated power and the cores.
    """

    times_s: list[float]
    temps_c: list[float]  # the controlled temperature
    setpoints_c: list[float]
    powers_w: list[float]  # held until the next period
    max_power_w: float
    cores: int
    period_s: float


def simulate(
    controller: Controller,
    preset: PlantPreset,
    weather: WeatherSeries,
    *,
    days: float,
    start_day: float = 0.0,
    schedule: Sequence[tuple[float, float]] | None = None,
    period_s: float = PERIOD_S,
) -> LoopRecord:
    """Closed loop over `days` from the start of `start_day`; the boiler gets its draws.

    Rooms (every preset without draws) follow the room preset's schedule unless `schedule`
    is given, so the office is scored on the same day as the room.
    """
    thermostat = ScheduledThermostat(schedule or _schedule_for(preset), knob_range_c=KNOB_RANGE_C)
    world = World(preset, weather, start_sim_s=start_day * DAY_S, thermostat=thermostat)
    boundary_is_outdoor = any(link.b == OUTDOOR for link in preset.links)
    record = LoopRecord([], [], [], [], float(preset.rated_power_w), _cores(preset), period_s)
    h = period_s / PLANT_SUBSTEPS
    for _ in range(round(days * DAY_S / period_s)):
        now = world.sim_time_s
        measured = world.plant.temp_c(preset.controlled_node)
        setpoint, _ = world.setpoint()
        upcoming = world.next_change()
        boundary = world.outdoor_c() if boundary_is_outdoor else preset.ambient_c
        announced = None if upcoming is None else (now + upcoming[0], upcoming[1])
        power = controller.step(ControlInput(now, measured, setpoint, boundary, announced))
        if not 0.0 <= power <= preset.rated_power_w:
            raise ValueError(f"controller returned {power} W outside 0..{preset.rated_power_w}")
        record.times_s.append(now)
        record.temps_c.append(measured)
        record.setpoints_c.append(setpoint)
        record.powers_w.append(power)
        world.heater_power_w = power
        for _ in range(PLANT_SUBSTEPS):
            world.advance(h)
    return record


def _schedule_for(preset: PlantPreset) -> tuple[tuple[float, float], ...]:
    return preset.schedule if preset.draw_path else ROOM.schedule


def _cores(preset: PlantPreset) -> int:
    return CORES.get(preset.name, DEFAULT_CORES)


def metrics(record: LoopRecord) -> dict[str, float]:
    """Score a trace; see boiler_agent.benchmarks.control.DESCRIPTION for each definition."""
    n = len(record.times_s)
    dt = record.period_s
    temps, sps, powers = record.temps_c, record.setpoints_c, record.powers_w
    ahead = max(1, round(LOOKAHEAD_S / dt))
    # The highest setpoint of the next three hours (the last known one past the record's end).
    coming = [max(sps[i : i + ahead + 1]) for i in range(n)]
    discomfort = sum(max(0.0, sps[i] - COMFORT_BAND_K - temps[i]) for i in range(n)) * dt / HOUR_S
    energy_j = sum(powers) * dt
    useful_j = dt * sum(
        p for p, t, c in zip(powers, temps, coming, strict=True) if t <= c + WASTE_BAND_K
    )
    tracked: list[float] = []
    overshoot = 0.0
    rises = [i for i in range(1, n) if sps[i] > sps[i - 1]]
    delay = round(TRACKING_DELAY_S / dt)
    starts = [i + delay for i in rises] if rises else [delay]
    reached = False
    for i in range(n):
        if i and sps[i] != sps[i - 1]:
            reached = False  # a new segment: overshoot counts once the reference is reached
        reference = coming[i]
        reached = reached or temps[i] <= reference
        if reached:
            overshoot = max(overshoot, temps[i] - reference)
    for start in starts:
        i = start
        while i < n and (i == start or sps[i] == sps[i - 1]):
            tracked.append(temps[i] - sps[i])
            i += 1
    workers = [round(p / record.max_power_w * record.cores) for p in powers]
    switches = sum(abs(b - a) for a, b in itertools.pairwise(workers))
    return {
        "discomfort_kh": round(discomfort, 3),
        "tracking_rms_k": round(math.sqrt(sum(e * e for e in tracked) / len(tracked)), 3)
        if tracked
        else 0.0,
        "overshoot_k": round(overshoot, 3),
        "energy_kwh": round(energy_j / J_PER_KWH, 3),
        "valorisation": round(useful_j / energy_j, 4) if energy_j else 1.0,
        "worker_switches": switches,
        "core_hours": round(energy_j / record.max_power_w * record.cores / HOUR_S, 2),
    }
