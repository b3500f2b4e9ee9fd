"""Record the raw serial byte stream to a file, and decode such a file frame by frame.

Recordings keep both directions with wall-clock timestamps, so an operator can see what the
host sent and what the MCU answered, and when. A plain raw capture (e.g. from `cat /dev/ttyUSB0`
or a logic analyser) also decodes: it is read as one MCU-to-host stream without timestamps.
"""

from __future__ import annotations

import contextlib
import logging
import struct
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from firmware_bridge.protocol import DELIMITER, DecoderStats, FrameDecoder, to_dict

log = logging.getLogger(__name__)

MAGIC = b"BOILREC1\n"
RECORD = struct.Struct(">dBH")  # wall time (s), direction, length
RX, TX = 0, 1
DIRECTION_NAMES = {RX: "mcu>host", TX: "host>mcu"}


class ByteRecorder:
    """Appends chunks of the byte stream to a recording; safe to call from several threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        new = not path.exists() or path.stat().st_size == 0
        self._file: BinaryIO = path.open("ab")
        self._lock = threading.Lock()
        if new:
            self._append(MAGIC)

    def write(self, direction: int, data: bytes) -> None:
        """Append; a failing disk stops the recording (said once), never the link."""
        if not data:
            return
        with self._lock:
            for start in range(0, len(data), 0xFFFF):
                piece = data[start : start + 0xFFFF]
                self._append(RECORD.pack(time.time(), direction, len(piece)) + piece)

    def _append(self, data: bytes) -> None:
        if self._file.closed:
            return
        try:
            self._file.write(data)
            self._file.flush()
        except (OSError, ValueError) as exc:
            log.error("recording to %s stopped: %s", self.path, exc)
            self._close_quietly()

    def close(self) -> None:
        with self._lock:
            self._close_quietly()

    def _close_quietly(self) -> None:
        with contextlib.suppress(OSError):
            self._file.close()


@dataclass(frozen=True)
class DecodedFrame:
    """One frame of a recording: its bytes, and the message or why it was dropped."""

    wall_time: float | None
    direction: int
    raw: bytes
    message: dict[str, object] | None
    error: str | None

    def as_dict(self) -> dict[str, object]:
        return {
            "time": self.wall_time,
            "direction": DIRECTION_NAMES[self.direction],
            "hex": self.raw.hex(" "),
            "message": self.message,
            "error": self.error,
        }


def read_chunks(path: Path) -> Iterator[tuple[float | None, int, bytes]]:
    """The recording's chunks as (wall time, direction, bytes); raw captures as one RX chunk."""
    data = path.read_bytes()
    if not data.startswith(MAGIC):
        yield None, RX, data
        return
    offset = len(MAGIC)
    while offset + RECORD.size <= len(data):
        wall_time, direction, length = RECORD.unpack_from(data, offset)
        offset += RECORD.size
        yield wall_time, direction, data[offset : offset + length]
        offset += length


def decode_recording(path: Path) -> Iterator[DecodedFrame]:
    """Every frame in the recording, in order, each decoded on its own so errors are per frame."""
    pending: dict[int, bytearray] = {RX: bytearray(), TX: bytearray()}
    for wall_time, direction, chunk in read_chunks(path):
        buffer = pending.setdefault(direction, bytearray())
        buffer += chunk
        *frames, rest = bytes(buffer).split(DELIMITER)
        pending[direction] = bytearray(rest)
        for raw in frames:
            if raw:
                yield _decode_one(wall_time, direction, raw)
    for direction, tail in pending.items():
        if tail:
            yield DecodedFrame(None, direction, bytes(tail), None, "incomplete frame at the end")


def _decode_one(wall_time: float | None, direction: int, raw: bytes) -> DecodedFrame:
    decoder = FrameDecoder()
    messages = decoder.feed(raw + DELIMITER)
    if messages:
        return DecodedFrame(wall_time, direction, raw, to_dict(messages[0]), None)
    return DecodedFrame(wall_time, direction, raw, None, _error_of(decoder.stats))


def _error_of(stats: DecoderStats) -> str:
    return stats.last_error or "dropped"
