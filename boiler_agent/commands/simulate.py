"""`boiler-agent simulate`: the heater simulator on a pty and the link to it, live.

Until the control loop exists this applies a fixed power (`--power`) through the heat lease,
so the whole path (simulated MCU, pty, protocol, link, lease, thermal plant) runs end to end.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.live import Live

from boiler_agent.durations import parse_duration
from boiler_agent.live_view import LinkView
from boiler_agent.terminal import console
from firmware_bridge.link import HeaterLink, LinkRefusedError
from firmware_bridge.simulator.plant import PRESETS
from firmware_bridge.simulator.server import (
    DEFAULT_SPEED,
    DEFAULT_START_DAY,
    HeaterSimulator,
)
from firmware_bridge.simulator.weather import WeatherFileError, WeatherSeries, default_weather

HEARTBEAT_PERIOD_S = 1.0
HANDSHAKE_TIMEOUT_S = 10.0


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "simulate",
        help="run the heater simulator and the link to it, with live readings",
        description=(
            "Start a software heater MCU on a pseudo-terminal, open it like a real serial "
            "port, and show its readings live while a simulated winter day passes. The "
            "agent's controller is not wired in yet: a fixed power is applied under the "
            "heat lease (--power)."
        ),
    )
    parser.add_argument(
        "--preset", default="room", choices=sorted(PRESETS), help="heater (default %(default)s)"
    )
    parser.add_argument(
        "--duration", default="6h", help="simulated time to run: 90m, 6h, 1d (default 6h)"
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=DEFAULT_SPEED,
        help="simulated seconds per real second (default %(default)g: a day in 10 minutes)",
    )
    parser.add_argument("--weather", type=Path, help="hourly weather CSV (default: Greensboro)")
    parser.add_argument(
        "--start-day", type=int, default=DEFAULT_START_DAY, help="day of year, 1..365"
    )
    parser.add_argument(
        "--power",
        type=float,
        default=None,
        help="compute power to apply, W (default: 60%% of the heater's rating)",
    )
    parser.add_argument("--record", type=Path, help="record the serial byte stream to this file")
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        duration_s = parse_duration(args.duration)
        weather = WeatherSeries.from_csv(args.weather) if args.weather else default_weather()
        if args.speed <= 0:
            raise ValueError(f"--speed must be > 0, got {args.speed}")
    except (ValueError, WeatherFileError, OSError) as exc:
        print(f"boiler-agent simulate: {exc}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="boiler-agent-sim-") as tmp:
        simulator = HeaterSimulator(
            args.preset,
            weather=weather,
            speed=args.speed,
            start_day=args.start_day,
            link_path=Path(tmp) / "heater-tty",
        )
        with simulator:
            return _drive(args, simulator, duration_s)


def _drive(args: argparse.Namespace, simulator: HeaterSimulator, duration_s: float) -> int:
    power = args.power if args.power is not None else 0.6 * simulator.preset.rated_power_w
    with HeaterLink(simulator.port, record_to=args.record) as link:
        try:
            identity = link.wait_until_up(HANDSHAKE_TIMEOUT_S)
        except (LinkRefusedError, TimeoutError) as exc:
            print(f"boiler-agent simulate: {exc}", file=sys.stderr)
            return 2
        console.print(f"[bold]heater[/] {identity.describe()} on {simulator.port}")
        view = LinkView(link)
        start_sim = simulator.world.sim_time_s
        show_live = console.is_terminal and not args.json
        live = Live(view.table("boiler-agent simulate"), console=console, refresh_per_second=4)
        if show_live:
            live.start()
        last_line = 0.0
        try:
            while simulator.world.sim_time_s - start_sim < duration_s:
                link.heartbeat(power)
                view.extra = _truth_rows(simulator, start_sim, power)
                if show_live:
                    live.update(view.table("boiler-agent simulate"))
                elif not args.json and time.monotonic() - last_line >= 5.0:
                    last_line = time.monotonic()
                    console.print(view.line())
                time.sleep(HEARTBEAT_PERIOD_S)
        except KeyboardInterrupt:
            console.print("interrupted")
        finally:
            if show_live:
                live.stop()
        summary = _summary(simulator, link, start_sim)
    if args.json:
        print(json.dumps(summary))
    else:
        for key, value in summary.items():
            console.print(f"{key:>22}: {value}")
    return 0


def _truth_rows(simulator: HeaterSimulator, start_sim: float, power: float) -> dict[str, str]:
    world = simulator.world.snapshot()
    hours = (world.sim_time_s - start_sim) / 3600.0
    day, rest = divmod(world.sim_time_s, 86400.0)
    clock = f"day {int(day) + 1} {int(rest // 3600):02d}:{int(rest % 3600 // 60):02d}"
    return {
        "simulated time": f"{clock} ({hours:.1f} h run, x{simulator.world.speed:g})",
        "outdoor": f"{world.outdoor_c:6.2f} °C",
        "power applied": f"{power:.0f} W; heat delivered {world.heat_delivered_kwh:.2f} kWh",
    }


def _summary(simulator: HeaterSimulator, link: HeaterLink, start_sim: float) -> dict[str, object]:
    world = simulator.world.snapshot()
    first = simulator.preset.sensors[0]
    stats = link.stats
    return {
        "preset": simulator.preset.name,
        "simulated_hours": round((world.sim_time_s - start_sim) / 3600.0, 2),
        "final_temp_c": round(world.temperatures_c[first], 2),
        "setpoint_c": world.setpoint_c,
        "outdoor_c": round(world.outdoor_c, 2),
        "energy_kwh": round(world.heat_delivered_kwh, 3),
        "frames_rx": stats.frames_rx,
        "frames_tx": stats.frames_tx,
        "frame_errors": stats.decoder.errors,
        "rtt_avg_ms": None if stats.rtt_avg_ms is None else round(stats.rtt_avg_ms, 2),
        "lease_expiries": stats.lease_expiries,
    }
