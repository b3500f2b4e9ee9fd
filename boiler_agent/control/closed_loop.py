"""Run a control law against the simulator's thermal plant in simulated time, and score it."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

from boiler_agent.control.controllers import Controller
from heater_physics.plant import DrawSchedule, PlantPreset, ThermalPlant
from heater_physics.thermostat import ScheduledThermostat
from heater_physics.weather import WeatherSeries

DAY_S = 86_400.0
HOUR_S = 3_600.0
PERIOD_S = 30.0  # control period
PLANT_SUBSTEPS = 3  # the plant is stepped this many times per control period
ROOM_SCHEDULE = ((7.0, 19.0), (22.0, 16.0))
COMFORT_BAND_K = 0.5  # discomfort counts below setpoint - this
WASTE_BAND_K = 0.5  # heat is valorised while at most this above the coming setpoint
LOOKAHEAD_S = 3 * HOUR_S  # "the highest setpoint of the next three hours"
TRACKING_DELAY_S = 2 * HOUR_S  # tracking starts this long after a setpoint rise
CORES = {"room": 4, "office": 12, "boiler": 24}
DEFAULT_CORES = 4


@dataclass(frozen=True)
class Trace:
    """Per control period: time, controlled temperature, setpoint, power held until the next."""

    times_s: list[float]
    temps_c: list[float]
    setpoints_c: list[float]
    powers_w: list[float]
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
) -> Trace:
    """Closed loop over `days` from the start of `start_day`; the boiler gets its draws."""
    plant = ThermalPlant(preset)
    thermostat = ScheduledThermostat(schedule or _schedule_for(preset), knob_range_c=(-50, 150))
    draws = DrawSchedule() if preset.draw_path else None
    sensor = preset.controlled_node
    boundary_is_outdoor = any(link.b == "outdoor" for link in preset.links)
    trace = Trace([], [], [], [], float(preset.rated_power_w), _cores(preset), period_s)
    start_s = start_day * DAY_S
    h = period_s / PLANT_SUBSTEPS
    for k in range(round(days * DAY_S / period_s)):
        now = start_s + k * period_s
        measured = plant.temp_c(sensor)
        setpoint, _ = thermostat.setpoint(now)
        upcoming = thermostat.next_change(now)
        outdoor = weather.outdoor_c(now)
        boundary = outdoor if boundary_is_outdoor else preset.ambient_c
        announced = None if upcoming is None else (now + upcoming[0], upcoming[1])
        power = controller.step(now, measured, setpoint, boundary, announced)
        if not 0.0 <= power <= preset.rated_power_w:
            raise ValueError(f"controller returned {power} W outside 0..{preset.rated_power_w}")
        trace.times_s.append(now)
        trace.temps_c.append(measured)
        trace.setpoints_c.append(setpoint)
        trace.powers_w.append(power)
        for i in range(PLANT_SUBSTEPS):
            t = now + i * h
            flow = draws.flow_l_per_min(t) if draws else 0.0
            plant.step(h, power, weather.outdoor_c(t), flow)
    return trace


def _schedule_for(preset: PlantPreset) -> tuple[tuple[float, float], ...]:
    return preset.schedule if preset.draw_path else ROOM_SCHEDULE


def _cores(preset: PlantPreset) -> int:
    return CORES.get(preset.name, DEFAULT_CORES)


def metrics(trace: Trace) -> dict[str, float]:
    """Score a trace; see boiler_agent.benchmarks.control.DESCRIPTION for each definition."""
    n = len(trace.times_s)
    dt = trace.period_s
    temps, sps, powers = trace.temps_c, trace.setpoints_c, trace.powers_w
    ahead = max(1, round(LOOKAHEAD_S / dt))
    # The highest setpoint of the next three hours (the last known one past the trace's end).
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
    workers = [round(p / trace.max_power_w * trace.cores) for p in powers]
    switches = sum(abs(b - a) for a, b in itertools.pairwise(workers))
    return {
        "discomfort_kh": round(discomfort, 3),
        "tracking_rms_k": round(math.sqrt(sum(e * e for e in tracked) / len(tracked)), 3)
        if tracked
        else 0.0,
        "overshoot_k": round(overshoot, 3),
        "energy_kwh": round(energy_j / 3.6e6, 3),
        "valorisation": round(useful_j / energy_j, 4) if energy_j else 1.0,
        "worker_switches": switches,
        "core_hours": round(energy_j / trace.max_power_w * trace.cores / HOUR_S, 2),
    }
