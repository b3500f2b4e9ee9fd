"""Control benchmark: default, PI and bang-bang side by side on the simulator's thermal plant."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from boiler_agent.benchmarks._entry import run_main
from boiler_agent.control.controllers import KINDS, build_controller
from boiler_agent.simulation.closed_loop import CORES, PERIOD_S, PLANT_SUBSTEPS, metrics, simulate
from boiler_agent.simulation.oracle import oracle_bound
from heater_physics.plant import PRESETS
from heater_physics.weather import WeatherSeries, default_weather

KEYS = (
    "discomfort_kh",
    "tracking_rms_k",
    "overshoot_k",
    "energy_kwh",
    "valorisation",
    "worker_switches",
    "core_hours",
)
ORACLE_MARGIN = 1.10  # the default's discomfort within 10 % of the oracle's (boiler presets)
_PLANT_STEP_S = PERIOD_S / PLANT_SUBSTEPS
_CORES_TEXT = ", ".join(f"{name} {cores}" for name, cores in CORES.items())
DESCRIPTION = f"""\
Run the default, PI and bang-bang controllers, each from a fresh plant and a fresh controller,
in closed loop on the simulator's thermal plant, over the weather (--weather CSV, else the
packaged Greensboro typical year) from the start of --start-day for --days days, control period
{PERIOD_S:g} s, plant stepped every {_PLANT_STEP_S:g} s. Rooms follow 19 °C from 07:00 to 22:00 and
16 °C otherwise; the boiler its preset schedule, with hot-water draws.
The controllers see the measured temperature, the setpoint, the outdoor temperature (the
boiler: its room's ambient) and the thermostat's next scheduled change.

Per controller:
  discomfort_kh    kelvin-hours below setpoint - 0.5 K
  tracking_rms_k   RMS of temperature - setpoint from two hours after each setpoint rise to the
                   next change (a flat schedule: from two hours after the start)
  overshoot_k      largest excess over the reference, the highest setpoint of the next three
                   hours, counted within each setpoint segment once the temperature has been at
                   or below it
  energy_kwh       heat delivered
  valorisation     share of that heat delivered while the temperature was at most 0.5 K above
                   the highest setpoint of the next three hours
  worker_switches  worker starts plus stops, workers = round(power / rated * cores) per control
                   period (cores: {_CORES_TEXT})
  core_hours       compute delivered: power / rated * cores, integrated over hours
Boiler presets add `oracle`: a law told when every draw starts, its pre-charge (lead and
ceiling) searched for the least discomfort at valorisation >= 0.97 (simulation/oracle.py);
`oracle_discomfort_kh` is its discomfort, the bound a perfect forecast could reach.
Targets (issue 4), checked against the default controller and printed as met or missed; the
oracle's (issue 12): the default's discomfort within 10 % of it.
"""


def run(
    weather_file: Path | None = None,
    days: float = 7.0,
    start_day: float = 15.0,
    preset: str = "room",
) -> dict[str, dict[str, float]]:
    """Metrics per controller name; see DESCRIPTION."""
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {', '.join(PRESETS)}, got {preset!r}")
    if not days > 0:
        raise ValueError(f"days must be > 0, got {days}")
    plant = PRESETS[preset]
    weather = default_weather() if weather_file is None else WeatherSeries.from_file(weather_file)
    results = {}
    for kind in KINDS:
        controller = build_controller(kind, plant.rated_power_w, PERIOD_S)
        trace = simulate(controller, plant, weather, days=days, start_day=start_day)
        results[kind] = metrics(trace)
    if plant.draw_path:  # a boiler: how close to a law that knows every draw in advance
        results["oracle"] = oracle_bound(
            plant, weather, days=days, start_day=start_day, on_trial=_progress
        )
    return results


def _progress(done: int, total: int) -> None:
    """The oracle's search takes about a minute: say where it is, on stderr."""
    end = "\n" if done == total else ""
    print(f"\roracle bound: trial {done} of {total}", end=end, file=sys.stderr, flush=True)


def targets(results: dict[str, dict[str, float]]) -> list[tuple[str, bool, str]]:
    """(target, met, the figures) for each of the issue's targets."""
    d, b, p = results["default"], results["bangbang"], results["pi"]

    def ratio(key: str, base: dict[str, float]) -> float:
        return d[key] / base[key] if base[key] else (0.0 if d[key] == 0 else float("inf"))

    rows = [
        ("discomfort <= 30 % of bangbang", ratio("discomfort_kh", b) <= 0.30, "discomfort_kh", b),
        ("discomfort <= 70 % of pi", ratio("discomfort_kh", p) <= 0.70, "discomfort_kh", p),
        (
            "tracking RMS <= 30 % of bangbang",
            ratio("tracking_rms_k", b) <= 0.30,
            "tracking_rms_k",
            b,
        ),
        (
            "worker switches <= 10 % of bangbang",
            ratio("worker_switches", b) <= 0.10,
            "worker_switches",
            b,
        ),
        ("energy <= 105 % of bangbang", ratio("energy_kwh", b) <= 1.05, "energy_kwh", b),
    ]
    out = [(name, met, f"{d[key]} vs {base[key]}") for name, met, key, base in rows]
    out.append(("valorisation >= 97 %", d["valorisation"] >= 0.97, f"{d['valorisation']}"))
    oracle = results.get("oracle")
    if oracle is not None:
        met = d["discomfort_kh"] <= ORACLE_MARGIN * oracle["discomfort_kh"]
        figures = f"{d['discomfort_kh']} vs {oracle['discomfort_kh']}"
        out.append(("discomfort <= 110 % of the oracle", met, figures))
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """This benchmark's options, for its own parser or a `boiler-agent bench control` one."""
    parser.add_argument(
        "--weather", type=Path, help="hourly weather CSV (default: the packaged Greensboro year)"
    )
    parser.add_argument("--days", type=float, default=7.0, help="default %(default)s")
    parser.add_argument("--start-day", type=float, default=15.0, help="default %(default)s")
    parser.add_argument("--preset", choices=sorted(PRESETS), default="room")
    parser.add_argument("--json", action="store_true", help="print one JSON line, no table")


def _print_table(results: dict[str, dict[str, float]], checks: list[Any], title: str) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title)
    table.add_column("metric")
    for kind in results:
        table.add_column(kind, justify="right")
    for key in KEYS:
        table.add_row(key, *(f"{results[kind][key]:,}" for kind in results))
    Console().print(table)
    for name, met, figures in checks:
        print(f"{'met   ' if met else 'MISSED'} {name}: {figures}")


def report(args: argparse.Namespace) -> int:
    """Run with parsed options, print the table or the JSON line; 0 even if a target is missed."""
    results = run(args.weather, args.days, args.start_day, args.preset)
    checks = targets(results)
    if args.json:
        line: dict[str, Any] = dict(results)
        if "oracle" in results:
            line["oracle_discomfort_kh"] = results["oracle"]["discomfort_kh"]
        line["targets"] = {name: met for name, met, _ in checks}
        print(json.dumps(line), flush=True)
    else:
        title = f"control: {args.preset}, {args.days:g} days from day {args.start_day:g}"
        _print_table(results, checks, title)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_main(DESCRIPTION, add_arguments, report, argv)
