"""Serial link benchmark: frame decoding rate against a plain read of the same bytes."""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from boiler_agent.benchmarks._entry import positive_int, run_main
from firmware_bridge.protocol import (
    Ack,
    Fault,
    FaultCode,
    FrameDecoder,
    Heartbeat,
    McuStatus,
    Message,
    Mode,
    SensorReading,
    Sensors,
    SetpointSource,
    Thermostat,
    encode,
)

# 115200 baud, 8N1: ten bits on the wire per byte.
LINE_BYTES_PER_S = 115_200 / 10
REPEATS = 5  # each measurement is the best of this many passes over the file
MB = 1_000_000
# The traffic of a live link, per frame sent: mostly SENSORS (2 to 4 Hz), a HEARTBEAT and its
# ACK about once a second, now and then a THERMOSTAT (on change, every 30 s) or a FAULT.
FRAME_MIX = {"sensors": 0.78, "heartbeat": 0.09, "ack": 0.09, "thermostat": 0.03, "fault": 0.01}
METRICS = {
    "decode_frames_per_s": "frames decoded per wall second (read + decode)",
    "cpu_us_per_frame": "CPU microseconds per frame (read + decode)",
    "raw_read_mb_per_s": "plain os.read of the same file, MB/s",
    "ratio_vs_raw_read": "read + decode time / plain read time",
    "frames": "frames in the stream",
    "bytes": "bytes in the stream",
    "decoded_frames": "frames the decoder delivered",
    "decode_errors": "frames the decoder dropped",
    "chunk_bytes": "bytes per os.read",
    "line_rate_cpu_pct": "% of one core to decode a saturated 115200 baud line",
}
DESCRIPTION = f"""\
Measure how fast the host decodes the heater's serial byte stream.

A realistic stream of FRAMES frames (mostly SENSORS with 2-3 readings, some HEARTBEAT, ACK,
THERMOSTAT and FAULT, as on a live link) is written to a temporary file. Then, in the same run
and on the same bytes (from the page cache):
  (a) baseline: the file is read with os.read in CHUNK_BYTES pieces, nothing else;
  (b) decode:   the same read, plus FrameDecoder.feed() on every chunk.
Each is repeated {REPEATS} times and the best wall time (time.perf_counter) and CPU time
(time.process_time) are kept.

Reported: decode_frames_per_s (frames per wall second in b), cpu_us_per_frame (CPU
microseconds per frame in b), raw_read_mb_per_s (baseline, MB = 10^6 bytes),
ratio_vs_raw_read (time of b / time of a: how many times slower decoding is than only
reading), frames and bytes. Exits 1 if any frame failed to decode.
"""


def _link_stream(frames: int, seed: int) -> bytes:
    """`frames` encoded frames of a plausible heater link, as the wire carries them."""
    rng = random.Random(seed)
    temps = [1950, 3500, 600]  # room air, heater body, outdoor, in centi-degrees
    uptime_ms = 0
    kinds = list(FRAME_MIX)
    weights = list(FRAME_MIX.values())
    makers: dict[str, Callable[[int], Message]] = {
        "sensors": lambda seq: Sensors(
            seq=seq,
            boot_id=0x1234,
            uptime_ms=uptime_ms,
            heater_power_w=rng.choice((0, 300, 500)),
            status=McuStatus.LEASE_ACTIVE | McuStatus.HOST_SEEN,
            readings=tuple(SensorReading(t) for t in temps[: rng.choice((2, 3))]),
        ),
        "heartbeat": lambda seq: Heartbeat(
            seq=seq, applied_power_w=rng.randrange(0, 501), lease_ms=3000
        ),
        "ack": lambda seq: Ack(seq=seq, acked_seq=rng.randrange(256), acked_type=0x02),
        "thermostat": lambda seq: Thermostat(
            seq=seq,
            setpoint_centi=rng.choice((1900, 2000, 2100)),
            mode=Mode.HEAT,
            source=SetpointSource.SCHEDULE,
            next_setpoint_centi=1600,
            next_change_s=rng.randrange(86_400),
        ),
        "fault": lambda seq: Fault(
            seq=seq, code=FaultCode.SENSOR_OPEN, sensor_index=1, value_centi=-32768
        ),
    }
    parts = [b"\x00"]  # a sender opens the port with a lone delimiter (PROTOCOL.md section 2)
    for seq in range(frames):
        temps = [t + rng.randint(-3, 3) for t in temps]
        uptime_ms += 250
        parts.append(encode(makers[rng.choices(kinds, weights)[0]](seq % 256)))
    return b"".join(parts)


def _timed_pass(path: Path, chunk_bytes: int, decode: bool) -> tuple[float, float, int, int]:
    """One read of the file (with decoding if `decode`): wall s, CPU s, frames, errors."""
    decoder = FrameDecoder()
    frames = 0
    fd = os.open(path, os.O_RDONLY)
    try:
        wall0, cpu0 = time.perf_counter(), time.process_time()
        if decode:
            feed = decoder.feed
            while chunk := os.read(fd, chunk_bytes):
                frames += len(feed(chunk))
        else:
            while os.read(fd, chunk_bytes):
                pass
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    finally:
        os.close(fd)
    return wall, cpu, frames, decoder.stats.errors


def run(frames: int = 200_000, chunk_bytes: int = 4096, seed: int = 1) -> dict[str, float | int]:
    """Measure decoding against a plain read of the same stream; see DESCRIPTION."""
    if frames < 1 or chunk_bytes < 1:
        raise ValueError(f"frames and chunk_bytes must be >= 1, got {frames}, {chunk_bytes}")
    stream = _link_stream(frames, seed)
    with tempfile.TemporaryDirectory(prefix="bench-serial-") as tmp:
        path = Path(tmp) / "link.bin"
        path.write_bytes(stream)
        _timed_pass(path, chunk_bytes, decode=False)  # warm the page cache
        raw = [_timed_pass(path, chunk_bytes, decode=False) for _ in range(REPEATS)]
        dec = [_timed_pass(path, chunk_bytes, decode=True) for _ in range(REPEATS)]
    raw_wall = min(p[0] for p in raw)
    dec_wall = min(p[0] for p in dec)
    dec_cpu = min(p[1] for p in dec)
    # Every pass must decode every frame: report the worst one.
    decoded = min(p[2] for p in dec)
    errors = max(p[3] for p in dec)
    tiny = 1e-9  # a clock that did not tick must not divide by zero
    return {
        "decode_frames_per_s": round(decoded / max(dec_wall, tiny), 1),
        "cpu_us_per_frame": round(dec_cpu * 1e6 / frames, 3),
        "raw_read_mb_per_s": round(len(stream) / MB / max(raw_wall, tiny), 1),
        "ratio_vs_raw_read": round(dec_wall / max(raw_wall, tiny), 1),
        "frames": frames,
        "bytes": len(stream),
        "decoded_frames": decoded,
        "decode_errors": errors,
        "chunk_bytes": chunk_bytes,
        "line_rate_cpu_pct": round(
            100 * LINE_BYTES_PER_S / (len(stream) / frames) * dec_cpu / frames, 3
        ),
    }


def _print_table(result: dict[str, float | int]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"serial link: decoding against a plain read, best of {REPEATS}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_column("meaning")
    for key, value in result.items():
        table.add_row(key, f"{value:,}", METRICS.get(key, ""))
    Console().print(table)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """This benchmark's options, for its own parser or a `boiler-agent bench serial` one."""
    parser.add_argument("--frames", type=positive_int, default=200_000, help="default %(default)s")
    parser.add_argument(
        "--chunk-bytes", type=positive_int, default=4096, help="read size, default %(default)s"
    )
    parser.add_argument("--seed", type=int, default=1, help="stream's random seed (%(default)s)")
    parser.add_argument("--json", action="store_true", help="print one JSON line, no table")


def report(args: argparse.Namespace) -> int:
    """Run with parsed options, print the table or the JSON line; 1 if a frame was lost."""
    result = run(frames=args.frames, chunk_bytes=args.chunk_bytes, seed=args.seed)
    if args.json:
        print(json.dumps(result), flush=True)
    else:
        _print_table(result)
    if result["decoded_frames"] != result["frames"] or result["decode_errors"]:
        print(
            f"serial-link benchmark: decoded {result['decoded_frames']} of {result['frames']} "
            f"frames with {result['decode_errors']} errors; expected every frame, no error",
            file=sys.stderr,
        )
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_main(DESCRIPTION, add_arguments, report, argv)
