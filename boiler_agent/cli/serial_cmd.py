"""`boiler-agent serial ...`: look at a heater's serial link, live or from a recording."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

from rich.live import Live

from boiler_agent.live_view import LinkView
from boiler_agent.terminal import console
from firmware_bridge.link import DEFAULT_BAUDRATE, HeaterLink, LinkRefusedError
from firmware_bridge.recording import DIRECTION_NAMES, decode_recording


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "serial", help="watch a heater's serial link, or decode a recording of one"
    )
    which = parser.add_subparsers(dest="serial_command", metavar="ACTION", required=True)

    watch = which.add_parser(
        "watch",
        help="handshake with a heater and show its live readings (never grants heat)",
        description=(
            "Open the heater's port, perform the handshake, and show the heater's identity, "
            "readings, thermostat and link statistics as they arrive. The heartbeats sent "
            "carry a zero heat lease, so watching a heater never makes it heat."
        ),
    )
    watch.add_argument("port", help="/dev/ttyUSB0, a pty path, socket://host:port, rfc2217://...")
    watch.add_argument("--baud", type=int, default=DEFAULT_BAUDRATE, help="default %(default)s")
    watch.add_argument("--seconds", type=float, default=0.0, help="stop after this long (0: ^C)")
    watch.add_argument("--record", type=Path, help="record the raw byte stream to this file")
    watch.add_argument("--json", action="store_true", help="one JSON line per second")
    watch.set_defaults(handler=_watch)

    decode = which.add_parser(
        "decode",
        help="print a recorded byte stream frame by frame",
        description=(
            "Decode a recording made with --record (both directions, timestamped) or a raw "
            "capture of the MCU's output, and print every frame: time, direction, bytes, and "
            "the message or the reason it was dropped."
        ),
    )
    decode.add_argument("file", type=Path)
    decode.add_argument("--json", action="store_true", help="one JSON object per frame")
    decode.set_defaults(handler=_decode)


def _watch(args: argparse.Namespace) -> int:
    link = HeaterLink(args.port, baudrate=args.baud, record_to=args.record).start()
    view = LinkView(link)
    deadline = time.monotonic() + args.seconds if args.seconds > 0 else None
    try:
        if args.json:
            while deadline is None or time.monotonic() < deadline:
                link.heartbeat(0, lease_s=0.0)
                print(view.line(), flush=True)
                time.sleep(1.0)
        else:
            with Live(view.table("heater link"), console=console, refresh_per_second=4) as live:
                while deadline is None or time.monotonic() < deadline:
                    link.heartbeat(0, lease_s=0.0)
                    live.update(view.table("heater link"))
                    time.sleep(0.5)
                    if link.refused_reason:
                        raise LinkRefusedError(link.refused_reason)
    except LinkRefusedError as exc:
        print(f"boiler-agent: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        pass
    finally:
        link.close()
    return 0


def _decode(args: argparse.Namespace) -> int:
    path: Path = args.file
    if not path.is_file():
        print(f"boiler-agent: no such recording: {path}", file=sys.stderr)
        return 2
    frames = errors = 0
    first_time: float | None = None
    for frame in decode_recording(path):
        frames += 1
        errors += frame.error is not None
        if args.json:
            print(json.dumps(frame.as_dict()))
            continue
        if frame.wall_time is not None and first_time is None:
            first_time = frame.wall_time
        when = (
            f"{frame.wall_time - first_time:10.3f}s"
            if frame.wall_time is not None and first_time is not None
            else " " * 11
        )
        what = (
            json.dumps(frame.message)
            if frame.message is not None
            else f"DROPPED ({frame.error}): {frame.raw.hex(' ')}"
        )
        print(f"{when} {DIRECTION_NAMES[frame.direction]} {what}")
    if not args.json:
        print(f"{frames} frames, {errors} dropped", file=sys.stderr)
    return 0
