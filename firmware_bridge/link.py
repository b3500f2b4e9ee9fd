"""The serial transport to the heater MCU: open, handshake, readings, heat lease, reconnect.

One I/O thread reads the port, decodes frames, answers and retries reliable messages, and
reopens a vanished port with backoff. The caller's control loop grants heat by calling
`heartbeat()` itself (never from this thread: a stalled control loop must let the lease lapse),
and consumes readings and link changes from `events`. Payloads are the codec's business
(`protocol.py`) and what the MCU's messages mean is the session's (`link_session.py`); this
module moves frames and gives callers the link.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

import serial

from firmware_bridge.events import HeaterIdentity
from firmware_bridge.in_flight import CommandResult
from firmware_bridge.link_session import LinkSession, LinkState
from firmware_bridge.port import LONG_READ_S, PORT_ERRORS, SHORT_READ_S, WRITE_TIMEOUT_S, LinePort
from firmware_bridge.protocol import Heartbeat, Message, Mode, Reset, SetDisplay, encode

__all__ = [
    "DEFAULT_BAUDRATE",
    "DEFAULT_LEASE_S",
    "HANDSHAKE_TIMEOUT_S",
    "MAX_LEASE_S",
    "RECONNECT_MAX_S",
    "RECONNECT_MIN_S",
    "HeaterLink",
    "LinkRefusedError",
    "LinkState",
]

log = logging.getLogger(__name__)

DEFAULT_BAUDRATE = 115200
DEFAULT_LEASE_S = 3.0
MAX_LEASE_S = 10.0
HANDSHAKE_TIMEOUT_S = 5.0
RECONNECT_MIN_S = 0.1
RECONNECT_MAX_S = 5.0


class LinkRefusedError(RuntimeError):
    """The link refuses to run this heater; the message says why and what to do."""


class HeaterLink(LinkSession):
    """The link to one heater: its I/O thread, and what the caller's control loop may do."""

    def __init__(
        self,
        url: str,
        *,
        baudrate: int = DEFAULT_BAUDRATE,
        record_to: Path | None = None,
        clock: Callable[[], float] = time.monotonic,
        handshake_timeout_s: float = HANDSHAKE_TIMEOUT_S,
        reconnect_max_s: float = RECONNECT_MAX_S,
    ) -> None:
        if not reconnect_max_s >= RECONNECT_MIN_S:
            raise ValueError(f"reconnect_max_s must be >= {RECONNECT_MIN_S}, got {reconnect_max_s}")
        super().__init__(
            url,
            LinePort(url, baudrate, record_to),
            clock=clock,
            handshake_timeout_s=handshake_timeout_s,
        )
        self.reconnect_max_s = reconnect_max_s
        self.baudrate = baudrate
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._open_failure_logged = False

    # --- caller API ------------------------------------------------------------------------

    def start(self) -> HeaterLink:
        if self._thread is not None:
            raise RuntimeError("HeaterLink.start() called twice")
        self._thread = threading.Thread(target=self._run, name="heater-link", daemon=True)
        self._thread.start()
        return self

    def close(self) -> None:
        """Revoke the lease (best effort), stop the I/O thread and close the port."""
        if self.state is LinkState.UP:
            self.heartbeat(0, lease_s=0.0)
        self._stop.set()
        self._port.wake()
        if self._thread is not None:
            self._thread.join(timeout=2.0 + WRITE_TIMEOUT_S)
        with self._lock:
            self._port.close()
            self._set_state(LinkState.CLOSED)
        self._port.close_recording()
        self._commands.resolve()

    def __enter__(self) -> HeaterLink:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.close()

    def wait_until_up(self, timeout_s: float) -> HeaterIdentity:
        """Block until the handshake is done. Raises LinkRefusedError or TimeoutError."""
        deadline = time.monotonic() + timeout_s
        with self._state_changed:
            while self.state is not LinkState.UP:
                if self.state is LinkState.REFUSED:
                    raise LinkRefusedError(self.refused_reason or "refused")
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise TimeoutError(
                        f"no handshake with the heater on {self.url} after {timeout_s:g} s "
                        f"(state {self.state.value}; {self.stats.decoder.frames_ok} frames "
                        f"received, {self.stats.decoder.errors} errors)"
                    )
                self._state_changed.wait(remaining)
            assert self.identity is not None
            return self.identity

    def heartbeat(
        self,
        applied_power_w: float,
        lease_s: float = DEFAULT_LEASE_S,
        *,
        boot_id: int | None = None,
    ) -> bool:
        """Tell the MCU the power applied and grant a heat lease. Call it from the control loop.

        Returns False (and grants nothing) when the link is not up, or when `boot_id` is given
        and the MCU is no longer the one the caller checked (it restarted or changed: the
        caller must look at the new `LinkUp` identity first).
        """
        if not 0.0 <= lease_s <= MAX_LEASE_S:
            raise ValueError(f"lease_s must be 0..{MAX_LEASE_S:g} s, got {lease_s}")
        with self._lock:
            if self.state is not LinkState.UP:
                return False
            if boot_id is not None and (self.identity is None or self.identity.boot_id != boot_id):
                return False
            power = max(0, min(0xFFFF, round(applied_power_w)))
            message = Heartbeat(
                seq=self._seq.take(), applied_power_w=power, lease_ms=round(lease_s * 1000)
            )
            self._heartbeats_in_flight[message.seq] = self.clock()
            if len(self._heartbeats_in_flight) > 16:  # unanswered ones: keep the dict small
                del self._heartbeats_in_flight[next(iter(self._heartbeats_in_flight))]
            self.stats.heartbeats_sent += 1
            return self._write(encode(message))

    def set_display(self, setpoint_c: float, mode: Mode, fan_pct: int = 0) -> Future[CommandResult]:
        """Show the host's setpoint and mode on the heater (acknowledged and retried)."""
        return self._send_reliable(
            SetDisplay(setpoint_centi=round(setpoint_c * 100), mode=mode, fan_pct=fan_pct)
        )

    def reset_mcu(self) -> Future[CommandResult]:
        """Restart the MCU, which clears a latched failsafe shutdown."""
        return self._send_reliable(Reset())

    def _send_reliable(self, message: Message) -> Future[CommandResult]:
        with self._lock:
            if self.state is not LinkState.UP:
                future = self._commands.refuse()
            else:
                stamped = dataclasses.replace(message, seq=self._seq.take())
                frame, future = self._commands.submit(stamped, self.clock())
                self._write(frame)
                self._port.wake()  # a long read would hold its first retry (25 ms) back
        self._commands.resolve()
        return future

    # --- I/O thread ------------------------------------------------------------------------

    def _run(self) -> None:
        backoff = RECONNECT_MIN_S
        while not self._stop.is_set():
            try:
                if self.state is LinkState.REFUSED:
                    self._stop.wait(0.2)
                elif not self._port.is_open:
                    if self._open():
                        backoff = RECONNECT_MIN_S
                    else:
                        self._stop.wait(backoff)
                        backoff = min(backoff * 2, self.reconnect_max_s)
                else:
                    self._serve_port()
            except Exception as exc:  # the link must outlive any bug: say so loudly, reopen
                log.exception("heater link I/O failed unexpectedly; reopening the port")
                self._lost(f"internal error: {exc!r}")
                self._stop.wait(backoff)
            finally:
                self._commands.resolve()

    def _serve_port(self) -> None:
        if self._port.broken is not None:
            self._lost(self._port.broken)
            return
        try:
            data = self._port.read(SHORT_READ_S if self._retry_soon() else LONG_READ_S)
        except PORT_ERRORS as exc:
            self._lost(f"port error: {exc}")
            return
        now = self.clock()
        for message in self._decoder.feed(data):
            self._handle(message, now)
        self._housekeeping(now)

    def _open(self) -> bool:
        try:
            self._port.open()
        except (serial.SerialException, OSError, ValueError) as exc:
            # Once per outage: a port missing for a day must not write a line every 5 s.
            log.log(
                logging.DEBUG if self._open_failure_logged else logging.WARNING,
                "cannot open heater port %s: %s; retrying every %g s at most",
                self.url,
                _reason(exc),
                self.reconnect_max_s,
            )
            self._open_failure_logged = True
            return False
        with self._lock:
            if self._stop.is_set():  # close() came while we were opening
                self._port.close()
                return False
            if self.stats.handshakes:
                self.stats.reconnects += 1
            self._open_failure_logged = False
            log.info("opened heater port %s", self.url)
            now = self.clock()
            self._begin_handshake(now, "port opened")
            self._write(b"\x00")  # end any partial frame the MCU holds (PROTOCOL.md section 2)
            self._handshake_tick(now)
        return True

    def _lost(self, reason: str) -> None:
        with self._lock:
            self._port.close()
            self._link_down(reason)
            self._set_state(LinkState.CONNECTING)


def _reason(error: Exception) -> str:
    """pyserial repeats the path inside its message; the OS's words are enough after ours."""
    cause = error.__cause__ or error.__context__
    for candidate in (error, cause):
        strerror = getattr(candidate, "strerror", None)
        if isinstance(strerror, str) and strerror:
            return strerror
    return str(error)
