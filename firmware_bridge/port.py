"""The heater's serial port by URL, as the link uses it: bytes in and out, recorded, no parsing.

pyserial opens anything `serial_for_url` knows: `/dev/ttyUSB0`, a pty path, `socket://host:port`
(a serial server such as ser2net), `rfc2217://host:port`. The port is opened exclusively, so
two agents cannot fight over one heater. Writes never raise: a failed one marks the port
`broken` and the link's I/O thread reopens it.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Protocol

import serial

from firmware_bridge.recording import RX, TX, ByteRecorder

# How long a read waits for the first byte: the I/O thread's wake-up when nothing comes. Short
# while a retry is due soon (a handshake, a command not yet acknowledged: their first retry
# comes 25 ms after the try); long otherwise, when only the silence check (3 s) waits on it. At
# 20 wake-ups a second the idle thread was a quarter of the supervisor's CPU.
SHORT_READ_S = 0.02
LONG_READ_S = 0.5
# A line that stops draining (a hung USB device, a stalled serial server) must not block the
# caller's control loop inside a write: writes give up after this and the port is reopened.
WRITE_TIMEOUT_S = 0.2
# What a vanished port raises from pyserial. TypeError/AttributeError: pyserial racing a close()
# from another thread.
PORT_ERRORS = (serial.SerialException, OSError, TypeError, AttributeError)


class LinkPort(Protocol):
    """What the link needs of a port: this module's `LinePort`, or the in-process simulator's
    memory wire."""

    broken: str | None
    bytes_tx: int

    @property
    def is_open(self) -> bool: ...

    def open(self) -> None: ...

    def read(self, timeout_s: float = SHORT_READ_S) -> bytes: ...

    def write(self, data: bytes) -> bool: ...

    def wake(self) -> None: ...

    def close(self) -> None: ...

    def close_recording(self) -> None: ...


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
            timeout=SHORT_READ_S,
            write_timeout=WRITE_TIMEOUT_S,
            exclusive=True,
        )
        self.broken = None

    def read(self, timeout_s: float = SHORT_READ_S) -> bytes:
        """What arrived within `timeout_s` (or until `wake()`); raises one of PORT_ERRORS if the
        port is gone."""
        port = self._serial
        if port is None:
            raise serial.SerialException("port is closed")
        if port.timeout != timeout_s:  # pyserial reconfigures the port on each change
            port.timeout = timeout_s
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

    def wake(self) -> None:
        """End a read under way (from another thread). Ports that cannot (a serial server over
        TCP) just finish their read's timeout."""
        cancel = getattr(self._serial, "cancel_read", None)
        if cancel is not None:
            with contextlib.suppress(*PORT_ERRORS):
                cancel()

    def close(self) -> None:
        if self._serial is not None:
            with contextlib.suppress(serial.SerialException, OSError):
                self._serial.close()
            self._serial = None

    def close_recording(self) -> None:
        if self._recorder is not None:
            self._recorder.close()  # later writes by a straggling thread are ignored
