"""The control laws in closed loop on the simulator's room plant, and the control benchmark."""

from __future__ import annotations

import json

import pytest

from boiler_agent.benchmarks import control as bench
from boiler_agent.control.closed_loop import simulate
from boiler_agent.control.controllers import build_controller
from firmware_bridge.simulator.plant import PRESETS
from firmware_bridge.simulator.weather import DEFAULT_WEATHER_FILE, WeatherSeries

ROOM = PRESETS["room"]


def test_default_holds_a_room_within_half_a_kelvin_in_steady_weather() -> None:
    controller = build_controller("default", ROOM.rated_power_w, 30.0)
    trace = simulate(controller, ROOM, WeatherSeries.constant(5.0), days=3, schedule=((0.0, 19.0),))
    settled = trace.temps_c[len(trace.temps_c) // 3 :]  # after the first day
    worst = max(abs(t - 19.0) for t in settled)
    assert worst <= 0.5, f"room strayed {worst:.2f} K from 19 °C after the first day"


def test_optimum_start_reaches_the_morning_setpoint_on_time() -> None:
    controller = build_controller("default", ROOM.rated_power_w, 30.0)
    trace = simulate(controller, ROOM, WeatherSeries.constant(5.0), days=3)
    for day in (1, 2):
        i = trace.times_s.index(day * 86_400.0 + 7 * 3600.0)
        assert trace.temps_c[i] >= 19.0 - 0.5, f"day {day} 07:00: {trace.temps_c[i]:.2f} °C"
        assert max(trace.temps_c[i - 240 : i + 240]) <= 19.5, "optimum start overshot"


@pytest.mark.skipif(not DEFAULT_WEATHER_FILE.is_file(), reason="no weather file beside the repo")
def test_benchmark_runs_one_day_and_reports_every_key(capsys: pytest.CaptureFixture[str]) -> None:
    assert bench.main(["--days", "1", "--json"]) == 0
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for kind in ("default", "pi", "bangbang"):
        assert set(bench.KEYS) <= set(line[kind]), f"{kind} lacks keys: {line[kind]}"
    assert len(line["targets"]) == 6
