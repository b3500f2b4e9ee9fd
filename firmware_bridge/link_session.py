"""The link's conversation with one MCU: handshake, what each message means, silence, counters.

`LinkSession` holds the link's state and answers the MCU under one lock. It has no thread and
never opens the port: `HeaterLink` (link.py) feeds it from its I/O thread, reopens the port
when it goes, and gives callers the API.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable

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
from firmware_bridge.in_flight import CommandTracker
from firmware_bridge.port import LinkPort
from firmware_bridge.protocol import (
    PROTOCOL_VERSION,
    Ack,
    Fault,
    FaultCode,
    FrameDecoder,
    Ident,
    IdentRequest,
    Message,
    MessageType,
    Nak,
    Sensors,
    Thermostat,
    encode,
)
from firmware_bridge.reliable import DuplicateFilter, SeqCounter

# The operator knows one heater link, whichever of its modules speaks.
log = logging.getLogger("firmware_bridge.link")

IDENT_RETRY_MAX_S = 1.0
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


class LinkSession:
    """The state of the link to one heater and what the MCU's messages do to it."""

    def __init__(
        self,
        url: str,
        port: LinkPort,
        *,
        clock: Callable[[], float],
        handshake_timeout_s: float,
    ) -> None:
        self.url = url
        self.clock = clock
        self.handshake_timeout_s = handshake_timeout_s
        self.stats = LinkStats()
        self.events = EventQueue(EVENT_QUEUE_SIZE)
        self.state = LinkState.CONNECTING
        self.identity: HeaterIdentity | None = None
        self.readings: Readings | None = None
        self.thermostat: ThermostatState | None = None
        self.refused_reason: str | None = None
        self._port = port
        self._lock = threading.RLock()  # port writes and sender state, from both threads
        self._state_changed = threading.Condition(self._lock)
        self._seq = SeqCounter()
        self._commands = CommandTracker(version=PROTOCOL_VERSION)
        self._bad_version_before = 0
        self._duplicates = DuplicateFilter()
        self._heartbeats_in_flight: dict[int, float] = {}  # seq -> sent at
        self._last_mcu_seq: int | None = None
        self._handshake_reason = "handshake"
        self._reset_handshake_timers(0.0)

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

    def _retry_soon(self) -> bool:
        """Whether the I/O thread has a retry to time: an IDENT request or a command in flight."""
        with self._lock:
            return self.state is LinkState.HANDSHAKING or self._commands.in_flight

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
                self.stats.heartbeats_acked += 1
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
