"""`python -m firmware_bridge.simulator`: run a heater MCU on a pty and print the port to open.

Type commands on standard input to play the occupant or break things:
  knob 21.5          turn the thermostat knob to 21.5 °C
  open 0 | short 0 | frozen 0 | ok 0    break or repair sensor 0
  silent 5           the MCU says and hears nothing for 5 s
  unplug 3           the port vanishes for 3 s
  reset              the MCU restarts
  noise 0.05 0.01    corrupt 5 % of frames' CRCs, add garbage before 1 %
  status             print the simulator's own view
"""

from __future__ import annotations

import argparse
import json
import logging
import signal
import sys
import threading
from dataclasses import asdict
from pathlib import Path

from firmware_bridge.protocol import PROTOCOL_VERSION
from firmware_bridge.simulator.server import (
    DEFAULT_SPEED,
    DEFAULT_START_DAY,
    DEFAULT_START_HOUR,
    HeaterSimulator,
)
from heater_physics.plant import PRESETS
from heater_physics.weather import WeatherFileError, WeatherSeries, default_weather


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m firmware_bridge.simulator",
        description="A heater MCU in software on a pseudo-terminal, speaking the real protocol.",
        epilog=__doc__.split("\n", 2)[2] if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--preset", default="room", choices=sorted(PRESETS), help="heater (default %(default)s)"
    )
    parser.add_argument("--speed", type=float, default=DEFAULT_SPEED, help="sim s per real s")
    parser.add_argument("--weather", type=Path, help="hourly weather CSV (default: Greensboro)")
    parser.add_argument("--start-day", type=int, default=DEFAULT_START_DAY, help="1..365")
    parser.add_argument("--start-hour", type=float, default=DEFAULT_START_HOUR, help="0..24")
    parser.add_argument("--link", type=Path, help="also make this symlink to the port")
    parser.add_argument("--seed", type=int, help="seed for sensor noise and line noise")
    parser.add_argument("--report-ms", type=int, default=500, help="SENSORS period, 250..1000")
    parser.add_argument(
        "--protocol-version",
        type=int,
        default=PROTOCOL_VERSION,
        help="speak another protocol version (to test a mismatch)",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log what the MCU does")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        weather = WeatherSeries.from_file(args.weather) if args.weather else default_weather()
        simulator = HeaterSimulator(
            args.preset,
            weather=weather,
            speed=args.speed,
            start_day=args.start_day,
            start_hour=args.start_hour,
            link_path=args.link,
            seed=args.seed,
            protocol_version=args.protocol_version,
            report_interval_ms=args.report_ms,
        )
    except (ValueError, WeatherFileError, OSError) as exc:
        print(f"simulator: {exc}", file=sys.stderr)
        return 2
    with simulator:
        print(simulator.port, flush=True)
        print(
            f"heater simulator ({simulator.preset.name}) ready on {simulator.port}; "
            "type 'help' for commands, ^D or ^C to stop",
            file=sys.stderr,
        )
        signal.signal(signal.SIGTERM, _interrupt)
        try:
            for line in sys.stdin:
                reply = run_command(simulator, line.split())
                if reply:
                    print(reply, file=sys.stderr, flush=True)
            if not sys.stdin.isatty():
                # No more commands (e.g. started with </dev/null): run until ^C or SIGTERM.
                threading.Event().wait()
        except KeyboardInterrupt:
            pass
    return 0


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def run_command(simulator: HeaterSimulator, words: list[str]) -> str:
    """One stdin command; returns what to tell the operator."""
    if not words:
        return ""
    verb, rest = words[0].lower(), words[1:]
    try:
        if verb == "knob":
            simulator.turn_knob(float(rest[0]))
        elif verb in ("open", "short", "frozen", "ok"):
            simulator.set_sensor_fault(int(rest[0]), None if verb == "ok" else verb)
        elif verb == "silent":
            simulator.silence(float(rest[0]))
        elif verb == "unplug":
            simulator.unplug(float(rest[0]))
        elif verb == "reset":
            simulator.reset_mcu()
        elif verb == "noise":
            crc = float(rest[0])
            garbage = float(rest[1]) if len(rest) > 1 else 0.0
            simulator.set_line_noise(crc_error_rate=crc, garbage_rate=garbage)
        elif verb == "status":
            return json.dumps(asdict(simulator.snapshot()), default=str)
        else:
            return (__doc__ or "").split("\n", 2)[2]
    except (IndexError, ValueError) as exc:
        return f"cannot {verb} {' '.join(rest)}: {exc or 'missing value'}"
    return "ok"


if __name__ == "__main__":
    sys.exit(main())
