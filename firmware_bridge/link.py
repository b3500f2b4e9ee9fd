"""The serial transport to the heater MCU: open, handshake, readings, heat lease, reconnect.

One I/O thread reads the port, decodes frames, answers and retries reliable messages, and
reopens a vanished port with backoff. The caller's control loop grants heat by calling
`heartbeat()` itself (never from this thread: a stalled control loop must let the lease lapse),
and consumes readings and link changes from `events`. Payloads are the codec's business
(`protocol.py`); this module only moves frames.
"""

from __future__ import annotations

import dataclasses
import enum
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from pathlib import Path

import serial

from firmware_bridge.events import (
    EventQueue,
    HeaterIdentity,
    LinkDown,
    LinkEvent,
    LinkRefused,
    LinkStats,
    LinkUp,
    McuFault,
    Readings,
    ThermostatState,
)
from firmware_bridge.in_flight import CommandResult, CommandTracker
from firmware_bridge.port import PORT_ERRORS, WRITE_TIMEOUT_S, LinePort
from firmware_bridge.protocol import (
    PROTOCOL_VERSION,
    Ack,
    Fault,
    FaultCode,
    FrameDecoder,
    Heartbeat,
    Ident,
    IdentRequest,
    Message,
    MessageType,
    Mode,
    Nak,
    Reset,
    Sensors,
    SetDisplay,
    Thermostat,
    encode,
)
from firmware_bridge.reliable import DuplicateFilter, SeqCounter

log = logging.getLogger(__name__)

DEFAULT_BAUDRATE = 115200
DEFAULT_LEASE_S = 3.0
MAX_LEASE_S = 10.0
HANDSHAKE_TIMEOUT_S = 5.0
IDENT_RETRY_MAX_S = 1.0
RECONNECT_MIN_S = 0.1
RECONNECT_MAX_S = 5.0
# The MCU is silent when no valid frame came for this many report intervals (and at least 3 s).
SILENCE_INTERVALS = 6
SILENCE_MIN_S = 3.0
EVENT_QUEUE_SIZE = 1000
FIRST_MCU_TYPE = 0x40  # types below are host to MCU (PROTOCOL.md section 3)


class LinkState(enum.Enum):
    CONNECTING = "connecting"  # no port open
    HANDSHAKING = "handshaking"  # port open, waiting for IDENT
    UP = "up"
    REFUSED = "refused"  # this heater cannot be run (version mismatch): never heats
    CLOSED = "closed"


class LinkRefusedError(RuntimeError):
    """The link refuses to run this heater; the message says why and what to do."""


class HeaterLink:
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
        self.url = url
        self.reconnect_max_s = reconnect_max_s
        self.baudrate = baudrate
        self.clock = clock
        self.handshake_timeout_s = handshake_timeout_s
        self.stats = LinkStats()
        self.events = EventQueue(EVENT_QUEUE_SIZE)
        self.state = LinkState.CONNECTING
        self.identity: HeaterIdentity | None = None
        self.readings: Readings | None = None
        self.thermostat: ThermostatState | None = None
        self.refused_reason: str | None = None
        self._port = LinePort(url, baudrate, record_to)
        self._lock = threading.RLock()  # port writes and sender state, from both threads
        self._state_changed = threading.Condition(self._lock)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._seq = SeqCounter()
        self._commands = CommandTracker(version=PROTOCOL_VERSION)
        self._bad_version_before = 0
        self._duplicates = DuplicateFilter()
        self._heartbeats_in_flight: dict[int, float] = {}  # seq -> sent at
        self._last_mcu_seq: int | None = None
        self._handshake_reason = "handshake"
        self._open_failure_logged = False
        self._reset_handshake_timers(0.0)

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
            data = self._port.read()
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

    def _link_down(self, reason: str) -> None:
        if self.state is LinkState.UP:
            log.warning("heater link down: %s", reason)
            self._emit(LinkDown(self.clock(), reason))
        self.readings = None  # last boot's news: nobody may act on it now
        self.thermostat = None
        self._commands.abandon_all(self.clock())

    def _write(self, data: bytes) -> bool:
        """Never blocks long, never raises: a failed write has the I/O thread reopen the port."""
        with self._lock:
            if not self._port.write(data):
                return False
            self.stats.frames_tx += data.count(0)
            self.stats.bytes_tx = self._port.bytes_tx
            return True

    def _send_reliable(self, message: Message) -> Future[CommandResult]:
        with self._lock:
            if self.state is not LinkState.UP:
                future = self._commands.refuse()
            else:
                stamped = dataclasses.replace(message, seq=self._seq.take())
                frame, future = self._commands.submit(stamped, self.clock())
                self._write(frame)
        self._commands.resolve()
        return future

    # --- handshake and messages -------------------------------------------------------------

    def _reset_handshake_timers(self, now: float) -> None:
        self._decoder = FrameDecoder()
        self._handshake_started = now
        self._ident_retry_s = 0.025
        self._next_ident_request = now
        self._last_valid_rx = now
        self._warned_no_answer = False

    def _begin_handshake(self, now: float, reason: str) -> None:
        decoder_stats = self.stats.decoder
        self._reset_handshake_timers(now)
        self._decoder.stats = decoder_stats  # counters run for the link's lifetime
        self._bad_version_before = decoder_stats.bad_version
        self._handshake_reason = reason
        self._duplicates.clear()
        self._last_mcu_seq = None
        self._set_state(LinkState.HANDSHAKING)

    def _housekeeping(self, now: float) -> None:
        with self._lock:
            if self.state is LinkState.HANDSHAKING:
                self._handshake_tick(now)
            elif self.state is LinkState.UP:
                assert self.identity is not None
                silence = max(SILENCE_MIN_S, SILENCE_INTERVALS * self.identity.report_interval_s)
                if now - self._last_valid_rx > silence:
                    self._link_down(f"MCU silent for {now - self._last_valid_rx:.1f} s")
                    self._begin_handshake(now, "MCU was silent")
                    return
            for frame in self._commands.due(now):
                self._write(frame)
            self.stats.retransmissions = self._commands.retransmissions
            self.stats.commands_failed = self._commands.failed

    def _handshake_tick(self, now: float) -> None:
        if now >= self._next_ident_request:
            self._write(encode(IdentRequest(seq=self._seq.take())))
            self._next_ident_request = now + self._ident_retry_s
            self._ident_retry_s = min(self._ident_retry_s * 2, IDENT_RETRY_MAX_S)
        waited = now - self._handshake_started
        if waited < self.handshake_timeout_s:
            return
        stats = self.stats.decoder
        # Only frames of this handshake count: one stray frame long ago proves nothing.
        if stats.bad_version > self._bad_version_before and stats.last_bad_version is not None:
            self._refuse(
                f"protocol version mismatch: the MCU on {self.url} speaks protocol version "
                f"{stats.last_bad_version}, this agent speaks version {PROTOCOL_VERSION}; "
                "update the firmware or the agent. No heat will be granted."
            )
        elif not self._warned_no_answer:
            self._warned_no_answer = True
            log.warning(
                "no IDENT from the MCU on %s after %.0f s (%d frames, %d errors: %s); still trying",
                self.url,
                waited,
                stats.frames_ok,
                stats.errors,
                stats.last_error or "none",
            )

    def _refuse(self, reason: str) -> None:
        log.error("heater link refused: %s", reason)
        self.refused_reason = reason
        self._port.close()
        self._set_state(LinkState.REFUSED)
        self._emit(LinkRefused(self.clock(), reason))

    def _handle(self, message: Message, now: float) -> None:
        with self._lock:
            self.stats.frames_rx += 1
            if message.TYPE < FIRST_MCU_TYPE:
                # Meant for the MCU: our own frames echoed (half-duplex RS-485, a loopback).
                # They must not pass for signs of life from the MCU.
                self.stats.unexpected_messages += 1
                return
            self._last_valid_rx = now
            self._track_seq(message)
            if isinstance(message, Ident):
                self._on_ident(message, now)
            elif self.state is not LinkState.UP:
                return  # before the handshake only IDENT counts
            elif isinstance(message, Sensors):
                self._on_sensors(message, now)
            elif isinstance(message, Thermostat | Fault):
                self._ack(message)
                if not self._duplicates.is_new(message, now):
                    self.stats.duplicates += 1
                elif isinstance(message, Thermostat):
                    self.thermostat = ThermostatState.from_message(message, now)
                    self._emit(self.thermostat)
                else:
                    self._on_fault(message, now)
            elif isinstance(message, Ack | Nak):
                self._on_answer(message, now)

    def _track_seq(self, message: Message) -> None:
        last = self._last_mcu_seq
        # A retransmission repeats its seq: only a jump counts as a gap.
        if last is not None and message.seq not in (last, (last + 1) & 0xFF):
            self.stats.seq_gaps += 1
        self._last_mcu_seq = message.seq

    def _on_ident(self, message: Ident, now: float) -> None:
        identity = HeaterIdentity.from_ident(message)
        previous = self.identity
        if self.state is LinkState.UP and previous is not None:
            if identity == previous:
                return  # an answer to a retried IDENT_REQUEST
            restarted = identity.boot_id != previous.boot_id
            if restarted:
                # A RESET whose ACK was lost has still done its work: the boot_id says so.
                self._commands.done_without_answer(MessageType.RESET, now)
            reason = "MCU restarted" if restarted else "MCU configuration changed"
            self._link_down(reason)
        else:
            reason = self._handshake_reason
        if previous is not None and identity.boot_id != previous.boot_id:
            self.stats.mcu_resets += 1
        self.identity = identity
        self.stats.handshakes += 1
        self._duplicates.clear()
        self._set_state(LinkState.UP)
        # A recovery is news worth the operator's attention; the first handshake is routine.
        level = logging.WARNING if self.stats.handshakes > 1 else logging.INFO
        log.log(level, "heater link up (%s): %s", reason, identity.describe())
        self._emit(LinkUp(now, identity, reason))

    def _on_sensors(self, message: Sensors, now: float) -> None:
        assert self.identity is not None
        if message.boot_id != self.identity.boot_id:
            self._link_down("MCU restarted (new boot_id in SENSORS)")
            self._begin_handshake(now, "MCU restarted")
            return
        if len(message.readings) != len(self.identity.sensors):
            self.stats.bad_readings += 1
            return
        self.readings = Readings.from_message(message, self.identity.sensors, now)
        self._emit(self.readings)

    def _on_fault(self, message: Fault, now: float) -> None:
        fault = McuFault.from_message(message, now)
        if fault.code is FaultCode.LEASE_EXPIRED:
            self.stats.lease_expiries += 1
        log.warning("MCU fault: %s", fault.describe())
        self._emit(fault)

    def _on_answer(self, message: Ack | Nak, now: float) -> None:
        if isinstance(message, Ack):
            msg_type, seq, reason = message.acked_type, message.acked_seq, None
        else:
            msg_type, seq, reason = message.nacked_type, message.nacked_seq, message.reason
            self.stats.naks_received += 1
            log.warning("MCU refused %s: %s", _type_name(msg_type), message.reason.name)
        if msg_type == MessageType.HEARTBEAT:
            sent = self._heartbeats_in_flight.pop(seq, None)
            if sent is not None:
                self.stats.record_rtt(now - sent)
            return
        self._commands.answered(msg_type, seq, now, reason)

    def _ack(self, message: Message) -> None:
        self._write(
            encode(Ack(seq=self._seq.take(), acked_seq=message.seq, acked_type=message.TYPE))
        )

    def _emit(self, event: LinkEvent) -> None:
        self.events.put(event)
        self.stats.events_dropped = self.events.dropped

    def _set_state(self, state: LinkState) -> None:
        with self._state_changed:
            self.state = state
            self._state_changed.notify_all()


def _type_name(code: int) -> str:
    try:
        return MessageType(code).name
    except ValueError:
        return f"type {code:#04x}"


def _reason(error: Exception) -> str:
    """pyserial repeats the path inside its message; the OS's words are enough after ours."""
    cause = error.__cause__ or error.__context__
    for candidate in (error, cause):
        strerror = getattr(candidate, "strerror", None)
        if isinstance(strerror, str) and strerror:
            return strerror
    return str(error)
