"""The heater's serial port by URL, as the link uses it: bytes in and out, recorded, no parsing.

pyserial opens anything `serial_for_url` knows: `/dev/ttyUSB0`, a pty path, `socket://host:port`
(a serial server such as ser2net), `rfc2217://host:port`. The port is opened exclusively, so
two agents cannot fight over one heater. Writes never raise: a failed one marks the port
`broken` and the link's I/O thread reopens it.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import serial

from firmware_bridge.recording import RX, TX, ByteRecorder

# How long a read waits for the first byte: the I/O thread's idle wake-up (20/s).
READ_TIMEOUT_S = 0.05
# A line that stops draining (a hung USB device, a stalled serial server) must not block the
# caller's control loop inside a write: writes give up after this and the port is reopened.
WRITE_TIMEOUT_S = 0.2
# What a vanished port raises from pyserial. TypeError/AttributeError: pyserial racing a close()
# from another thread.
PORT_ERRORS = (serial.SerialException, OSError, TypeError, AttributeError)


class LinePort:
    def __init__(self, url: str, baudrate: int, record_to: Path | None = None) -> None:
        self.url = url
        self.baudrate = baudrate
        self.broken: str | None = None
        self.bytes_tx = 0
        self._serial: serial.Serial | None = None
        self._recorder = ByteRecorder(record_to) if record_to else None

    @property
    def is_open(self) -> bool:
        return self._serial is not None

    def open(self) -> None:
        """Raises serial.SerialException, OSError or ValueError when the port cannot be had."""
        self._serial = serial.serial_for_url(
            self.url,
            baudrate=self.baudrate,
            timeout=READ_TIMEOUT_S,
            write_timeout=WRITE_TIMEOUT_S,
            exclusive=True,
        )
        self.broken = None

    def read(self) -> bytes:
        """What arrived within READ_TIMEOUT_S; raises one of PORT_ERRORS if the port is gone."""
        port = self._serial
        if port is None:
            raise serial.SerialException("port is closed")
        data: bytes = port.read(max(1, port.in_waiting))
        if data and self._recorder is not None:
            self._recorder.write(RX, data)
        return data

    def write(self, data: bytes) -> bool:
        if self._serial is None:
            return False
        try:
            self._serial.write(data)
        except (serial.SerialException, OSError) as exc:
            # SerialTimeoutException included: the line stopped draining.
            self.broken = f"write failed: {exc}"
            return False
        self.bytes_tx += len(data)
        if self._recorder is not None:
            self._recorder.write(TX, data)
        return True

    def close(self) -> None:
        if self._serial is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                self._serial.close()
            self._serial = None

    def close_recording(self) -> None:
        if self._recorder is not None:
            self._recorder.close()  # later writes by a straggling thread are ignored
