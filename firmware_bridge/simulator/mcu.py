"""The heater MCU's firmware in software: the protocol's MCU side, the heat lease, the failsafe.

It is driven like real firmware: bytes in (`receive`), time passing (`tick`), bytes out
(`take_output`). What it senses and drives is behind `HeaterHardware`, so the same firmware
runs on the simulated thermal plant or on anything else that can stand in for a heater.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from dataclasses import dataclass, field
from typing import Protocol

from firmware_bridge import protocol as p
from firmware_bridge.reliable import DuplicateFilter, ReliableSender, SeqCounter

log = logging.getLogger(__name__)

MAX_LEASE_MS = 10_000
FAILSAFE_SAMPLES = 4  # unusable samples in a row before the latched shutdown
THERMOSTAT_REPEAT_S = 30.0
UNUSABLE = p.SensorStatus.OPEN | p.SensorStatus.SHORT | p.SensorStatus.OUT_OF_RANGE


@dataclass(frozen=True)
class ThermostatReading:
    setpoint_c: float
    mode: p.Mode
    source: p.SetpointSource
    next_change: tuple[float, float] | None  # (seconds from now, setpoint °C)


class HeaterHardware(Protocol):
    """What the firmware senses and drives."""

    def sensor_temps_c(self) -> tuple[float, ...]: ...

    def thermostat(self) -> ThermostatReading: ...

    def set_remote_setpoint(self, setpoint_c: float, mode: p.Mode) -> None: ...

    def set_heater_power(self, watts: float) -> None: ...


@dataclass(frozen=True)
class McuConfig:
    serial_number: str
    heater_kind: p.HeaterKind
    rated_power_w: int
    min_temp_c: float
    max_temp_c: float
    sensors: tuple[p.SensorKind, ...]
    firmware_version: tuple[int, int, int] = (1, 0, 0)
    report_interval_ms: int = 500
    protocol_version: int = p.PROTOCOL_VERSION
    noise_sigma_c: float = 0.03

    def __post_init__(self) -> None:
        if not 250 <= self.report_interval_ms <= 1000:
            raise ValueError(
                f"report_interval_ms must be 250..1000 (1 to 4 Hz), got {self.report_interval_ms}"
            )

    def checksum(self) -> int:
        # Stable across runs (unlike hash()): the host compares it between handshakes.
        text = repr((self.heater_kind, self.rated_power_w, self.min_temp_c, self.max_temp_c))
        return sum((i + 1) * b for i, b in enumerate(text.encode())) & 0xFFFFFFFF


@dataclass
class InjectedFaults:
    """Faults a test or an operator can switch on; the firmware honours them on every tick."""

    open_sensors: set[int] = field(default_factory=set)
    short_sensors: set[int] = field(default_factory=set)
    frozen_sensors: set[int] = field(default_factory=set)
    silent_until_s: float = 0.0  # the MCU neither reads nor writes until then
    crc_error_rate: float = 0.0  # share of outgoing frames sent with a corrupted CRC
    garbage_rate: float = 0.0  # share of outgoing frames preceded by line noise


@dataclass
class McuCounters:
    frames_sent: int = 0
    frames_corrupted: int = 0
    garbage_bursts: int = 0
    leases_granted: int = 0
    lease_expiries: int = 0
    naks_sent: int = 0
    boots: int = 0


class SimulatedMcu:
    def __init__(
        self, config: McuConfig, hardware: HeaterHardware, *, seed: int | None = None
    ) -> None:
        self.config = config
        self.hardware = hardware
        self.faults = InjectedFaults()
        self.counters = McuCounters()
        self._rng = random.Random(seed)
        self._reset_filter = DuplicateFilter()
        self._output = bytearray()
        self._min_centi = round(config.min_temp_c * 100)
        self._max_centi = round(config.max_temp_c * 100)
        self.boot(0.0, announce_reset=False)

    # --- state -----------------------------------------------------------------------------

    def boot(self, now_s: float, *, announce_reset: bool = True) -> None:
        """Power-on or restart: everything volatile is lost, the lease first of all."""
        self.counters.boots += 1
        self.boot_id = self._rng.randrange(0x10000)
        self._booted_at_s = now_s
        self._seq = SeqCounter(self._rng.randrange(0x100))
        self._decoder = p.FrameDecoder(version=self.config.protocol_version)
        self._sender = ReliableSender(version=self.config.protocol_version)
        self._duplicates = DuplicateFilter()
        self.lease_until_s: float | None = None
        self.applied_power_w = 0
        self.shutdown = False
        self.host_seen = False
        self._next_sample_s = now_s
        self._last_thermostat: tuple[int, p.Mode, p.SetpointSource] | None = None
        self._last_thermostat_sent_s = now_s
        self._unusable_in_a_row = [0] * len(self.config.sensors)
        self._last_status = [p.SensorStatus.OK] * len(self.config.sensors)
        self._last_centi = [p.NO_READING_CENTI] * len(self.config.sensors)
        self.hardware.set_heater_power(0.0)
        self._send(self._ident())
        self._send_thermostat(now_s)
        if announce_reset:
            self._send_reliable(p.Fault(code=p.FaultCode.MCU_RESET), now_s)
        log.info("MCU booted, boot_id %#06x", self.boot_id)

    @property
    def lease_active(self) -> bool:
        return self.lease_until_s is not None

    @property
    def heater_power_w(self) -> int:
        if self.shutdown or not self.lease_active:
            return 0
        return self.applied_power_w

    def _silent(self, now_s: float) -> bool:
        return now_s < self.faults.silent_until_s

    # --- bytes in --------------------------------------------------------------------------

    def receive(self, data: bytes, now_s: float) -> None:
        if self._silent(now_s):
            return
        for message in self._decoder.feed(data):
            self._handle(message, now_s)

    def _handle(self, message: p.Message, now_s: float) -> None:
        if isinstance(message, p.IdentRequest):
            self._duplicates.clear()  # a new host session: its seqs owe nothing to the last one
            self._send(self._ident())
            self._send_thermostat(now_s)
        elif isinstance(message, p.Heartbeat):
            self._on_heartbeat(message, now_s)
        elif isinstance(message, p.SetDisplay):
            self._on_set(message, now_s)
        elif isinstance(message, p.Reset):
            self._ack(message)
            # Remembered across the reboot (as in RAM a reset leaves alone): a retransmitted
            # RESET whose ACK was lost must not restart the MCU a second time.
            if self._reset_filter.is_new(message, now_s):
                self.boot(now_s)
        elif isinstance(message, p.Ack):
            self._sender.settle(message.acked_type, message.acked_seq, now_s)
        elif isinstance(message, p.Nak):
            self._sender.settle(message.nacked_type, message.nacked_seq, now_s, message.reason)
        # Anything else is meant for the host: ignored, as PROTOCOL.md section 3 says.

    def _on_heartbeat(self, message: p.Heartbeat, now_s: float) -> None:
        if message.lease_ms > MAX_LEASE_MS:
            self._nak(message, p.NakReason.OUT_OF_RANGE)
            return
        self.host_seen = True
        self.applied_power_w = min(message.applied_power_w, self.config.rated_power_w)
        if message.lease_ms == 0:
            self.lease_until_s = None
        elif not self.shutdown:
            if not self.lease_active:
                self.counters.leases_granted += 1
            self.lease_until_s = now_s + message.lease_ms / 1000.0
        self._ack(message)

    def _on_set(self, message: p.SetDisplay, now_s: float) -> None:
        if not self._min_centi <= message.setpoint_centi <= self._max_centi:
            self._nak(message, p.NakReason.OUT_OF_RANGE)
            return
        if self._duplicates.is_new(message, now_s):
            self.hardware.set_remote_setpoint(message.setpoint_centi / 100.0, message.mode)
        self._ack(message)

    # --- time passing ----------------------------------------------------------------------

    def tick(self, now_s: float) -> None:
        if self.lease_until_s is not None and now_s >= self.lease_until_s:
            self.lease_until_s = None
            self.counters.lease_expiries += 1
            log.info("heat lease expired: compute power cut")
            self._send_reliable(p.Fault(code=p.FaultCode.LEASE_EXPIRED), now_s)
        self.hardware.set_heater_power(float(self.heater_power_w))
        if now_s >= self._next_sample_s:
            self._next_sample_s = now_s + self.config.report_interval_ms / 1000.0
            self._sample(now_s)
        reading = self.hardware.thermostat()
        key = (round(reading.setpoint_c * 100), reading.mode, reading.source)
        if key != self._last_thermostat or (
            now_s - self._last_thermostat_sent_s >= THERMOSTAT_REPEAT_S
        ):
            self._send_thermostat(now_s, reading)
        resend, _ = self._sender.due(now_s)
        for frame in resend:
            self._emit(frame)

    def _sample(self, now_s: float) -> None:
        readings = []
        for index, true_c in enumerate(self.hardware.sensor_temps_c()):
            reading = self._read_sensor(index, true_c)
            self._watch_limits(index, reading, now_s)
            readings.append(reading)
        status = p.McuStatus.NONE
        if self.lease_active:
            status |= p.McuStatus.LEASE_ACTIVE
        if self.shutdown:
            status |= p.McuStatus.SHUTDOWN
        if self.host_seen:
            status |= p.McuStatus.HOST_SEEN
        uptime_ms = int((now_s - self._booted_at_s) * 1000) & 0xFFFFFFFF
        self._send(
            p.Sensors(
                boot_id=self.boot_id,
                uptime_ms=uptime_ms,
                heater_power_w=self.heater_power_w,
                status=status,
                readings=tuple(readings),
            )
        )

    def _read_sensor(self, index: int, true_c: float) -> p.SensorReading:
        if index in self.faults.open_sensors:
            return p.SensorReading(p.NO_READING_CENTI, p.SensorStatus.OPEN)
        if index in self.faults.short_sensors:
            return p.SensorReading(p.NO_READING_CENTI, p.SensorStatus.SHORT)
        if index in self.faults.frozen_sensors and self._last_centi[index] != p.NO_READING_CENTI:
            centi = self._last_centi[index]
        else:
            noisy = true_c + self._rng.gauss(0.0, self.config.noise_sigma_c)
            centi = max(-0x7FFF, min(0x7FFF, round(noisy * 100)))
        self._last_centi[index] = centi
        in_range = self._min_centi <= centi <= self._max_centi
        return p.SensorReading(
            centi, p.SensorStatus.OK if in_range else p.SensorStatus.OUT_OF_RANGE
        )

    def _watch_limits(self, index: int, reading: p.SensorReading, now_s: float) -> None:
        previous, self._last_status[index] = self._last_status[index], reading.status
        if reading.status & UNUSABLE:
            self._unusable_in_a_row[index] += 1
        else:
            self._unusable_in_a_row[index] = 0
        if reading.status not in (previous, p.SensorStatus.OK):
            fault = p.Fault(
                code=self._fault_code(reading), sensor_index=index, value_centi=reading.temp_centi
            )
            self._send_reliable(fault, now_s)
        if self._unusable_in_a_row[index] >= FAILSAFE_SAMPLES and not self.shutdown:
            self.shutdown = True
            self.lease_until_s = None
            log.warning("failsafe shutdown: sensor %d unusable %d samples", index, FAILSAFE_SAMPLES)
            fault = p.Fault(
                code=p.FaultCode.FAILSAFE_SHUTDOWN,
                sensor_index=index,
                value_centi=reading.temp_centi,
            )
            self._send_reliable(fault, now_s)

    def _fault_code(self, reading: p.SensorReading) -> p.FaultCode:
        if reading.status & p.SensorStatus.OPEN:
            return p.FaultCode.SENSOR_OPEN
        if reading.status & p.SensorStatus.SHORT:
            return p.FaultCode.SENSOR_SHORT
        if reading.temp_centi > self._max_centi:
            return p.FaultCode.OVER_TEMPERATURE
        return p.FaultCode.UNDER_TEMPERATURE

    # --- bytes out -------------------------------------------------------------------------

    def _ident(self) -> p.Ident:
        c = self.config
        return p.Ident(
            firmware_version=c.firmware_version,
            serial_number=c.serial_number,
            heater_kind=c.heater_kind,
            rated_power_w=c.rated_power_w,
            min_temp_centi=self._min_centi,
            max_temp_centi=self._max_centi,
            report_interval_ms=c.report_interval_ms,
            boot_id=self.boot_id,
            config_checksum=c.checksum(),
            sensors=c.sensors,
        )

    def _send_thermostat(self, now_s: float, reading: ThermostatReading | None = None) -> None:
        reading = reading or self.hardware.thermostat()
        self._last_thermostat = (round(reading.setpoint_c * 100), reading.mode, reading.source)
        self._last_thermostat_sent_s = now_s
        next_centi, next_s = 0, p.NO_NEXT_CHANGE
        if reading.next_change is not None:
            next_s = min(int(reading.next_change[0]), p.NO_NEXT_CHANGE - 1)
            next_centi = round(reading.next_change[1] * 100)
        message = p.Thermostat(
            setpoint_centi=round(reading.setpoint_c * 100),
            mode=reading.mode,
            source=reading.source,
            next_setpoint_centi=next_centi,
            next_change_s=next_s,
        )
        self._send_reliable(message, now_s)

    def _ack(self, message: p.Message) -> None:
        self._send(p.Ack(acked_seq=message.seq, acked_type=message.TYPE))

    def _nak(self, message: p.Message, reason: p.NakReason) -> None:
        self.counters.naks_sent += 1
        self._send(p.Nak(nacked_seq=message.seq, nacked_type=message.TYPE, reason=reason))

    def _stamp(self, message: p.Message) -> p.Message:
        # Messages are immutable; the seq is given at the moment of sending.
        return dataclasses.replace(message, seq=self._seq.take())

    def _send(self, message: p.Message) -> None:
        self._emit(p.encode(self._stamp(message), version=self.config.protocol_version))

    def _send_reliable(self, message: p.Message, now_s: float) -> None:
        entry, _ = self._sender.submit(self._stamp(message), now_s)
        self._emit(entry.frame)

    def _emit(self, frame: bytes) -> None:
        self.counters.frames_sent += 1
        if self.faults.garbage_rate and self._rng.random() < self.faults.garbage_rate:
            self.counters.garbage_bursts += 1
            self._output += self._rng.randbytes(self._rng.randrange(1, 24))
        if self.faults.crc_error_rate and self._rng.random() < self.faults.crc_error_rate:
            self.counters.frames_corrupted += 1
            corrupted = bytearray(frame)
            # Flip a bit of the last byte, never into 0x00: the framing stays intact.
            corrupted[-2] = corrupted[-2] ^ (0x02 if corrupted[-2] == 0x01 else 0x01)
            frame = bytes(corrupted)
        self._output += frame

    def take_output(self, now_s: float) -> bytes:
        """Bytes to write to the line now (nothing while silent: they are lost, as on a wire)."""
        data = bytes(self._output)
        self._output.clear()
        return b"" if self._silent(now_s) else data
