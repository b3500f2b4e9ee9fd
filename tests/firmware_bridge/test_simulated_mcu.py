"""The simulated MCU firmware on its own: lease, failsafe, acknowledgements, injected faults."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TypeVar

from firmware_bridge import protocol as p
from firmware_bridge.simulator.mcu import McuConfig, SimulatedMcu, ThermostatReading

CONFIG = McuConfig(
    serial_number="QH1-TEST",
    heater_kind=p.HeaterKind.SPACE_HEATER,
    rated_power_w=500,
    min_temp_c=0.0,
    max_temp_c=45.0,
    sensors=(p.SensorKind.ROOM_AIR, p.SensorKind.HEATER_BODY),
    report_interval_ms=500,
    noise_sigma_c=0.0,
)


@dataclass
class FakeHardware:
    temps: list[float] = field(default_factory=lambda: [19.0, 30.0])
    setpoint: float = 19.0
    mode: p.Mode = p.Mode.HEAT
    source: p.SetpointSource = p.SetpointSource.SCHEDULE
    power_w: float = 0.0
    remote_calls: list[tuple[float, p.Mode]] = field(default_factory=list)

    def sensor_temps_c(self) -> tuple[float, ...]:
        return tuple(self.temps)

    def thermostat(self) -> ThermostatReading:
        return ThermostatReading(self.setpoint, self.mode, self.source, None)

    def set_remote_setpoint(self, setpoint_c: float, mode: p.Mode) -> None:
        self.remote_calls.append((setpoint_c, mode))
        self.setpoint, self.mode, self.source = setpoint_c, mode, p.SetpointSource.REMOTE

    def set_heater_power(self, watts: float) -> None:
        self.power_w = watts


class Host:
    """The test's side of the wire: sends messages, collects what the MCU says."""

    def __init__(self, hardware: FakeHardware | None = None) -> None:
        self.hw = hardware or FakeHardware()
        self.mcu = SimulatedMcu(CONFIG, self.hw, seed=1)
        self.decoder = p.FrameDecoder()
        self.received: list[p.Message] = []
        self.now = 0.0
        self.collect()

    def send(self, message: p.Message) -> list[p.Message]:
        self.mcu.receive(p.encode(message), self.now)
        return self.collect()

    def advance(self, seconds: float, step: float = 0.05) -> list[p.Message]:
        out: list[p.Message] = []
        end = self.now + seconds
        while self.now < end - 1e-9:
            self.now = round(self.now + step, 6)
            self.mcu.tick(self.now)
            out += self.collect()
        return out

    def collect(self) -> list[p.Message]:
        messages = self.decoder.feed(self.mcu.take_output(self.now))
        for message in messages:
            if isinstance(message, p.Thermostat | p.Fault):  # acknowledge, as a host must
                self.mcu.receive(
                    p.encode(p.Ack(acked_seq=message.seq, acked_type=message.TYPE)), self.now
                )
        self.received += messages
        return messages


T = TypeVar("T", bound=p.Message)


def of_type(messages: list[p.Message], kind: type[T]) -> list[T]:
    return [m for m in messages if isinstance(m, kind)]


def test_boot_announces_ident_and_thermostat() -> None:
    host = Host()
    idents = of_type(host.received, p.Ident)
    assert len(idents) == 1 and idents[0].serial_number == "QH1-TEST"
    assert idents[0].boot_id == host.mcu.boot_id
    assert of_type(host.received, p.Thermostat), "THERMOSTAT follows every IDENT"


def test_ident_request_is_answered_with_ident() -> None:
    host = Host()
    answer = host.send(p.IdentRequest(seq=0))
    assert of_type(answer, p.Ident)


def test_sensors_are_reported_at_the_advertised_interval() -> None:
    host = Host()
    reports = of_type(host.advance(5.0), p.Sensors)
    assert 9 <= len(reports) <= 11, f"expected ~10 SENSORS in 5 s at 500 ms, got {len(reports)}"
    assert reports[-1].readings[0].temp_centi == 1900


def test_heartbeat_grants_lease_and_is_acknowledged() -> None:
    host = Host()
    answer = host.send(p.Heartbeat(seq=3, applied_power_w=300, lease_ms=3000))
    assert of_type(answer, p.Ack) == [p.Ack(seq=answer[0].seq, acked_seq=3, acked_type=0x02)]
    host.advance(1.0)
    assert host.hw.power_w == 300.0
    sensors = of_type(host.received, p.Sensors)[-1]
    assert sensors.heater_power_w == 300


def test_lapsed_lease_cuts_power_and_reports_fault() -> None:
    host = Host()
    host.send(p.Heartbeat(seq=1, applied_power_w=400, lease_ms=3000))
    before = host.advance(2.9)
    assert not of_type(before, p.Fault) and host.hw.power_w == 400.0
    after = host.advance(0.2)
    faults = of_type(after, p.Fault)
    assert [f.code for f in faults] == [p.FaultCode.LEASE_EXPIRED]
    assert host.hw.power_w == 0.0
    assert of_type(host.advance(1.0), p.Sensors)[-1].heater_power_w == 0


def test_zero_lease_revokes_without_fault() -> None:
    host = Host()
    host.send(p.Heartbeat(seq=1, applied_power_w=400, lease_ms=3000))
    host.send(p.Heartbeat(seq=2, applied_power_w=0, lease_ms=0))
    assert not of_type(host.advance(4.0), p.Fault)
    assert host.hw.power_w == 0.0


def test_power_above_rating_is_clamped() -> None:
    host = Host()
    host.send(p.Heartbeat(seq=1, applied_power_w=9000, lease_ms=3000))
    host.advance(0.1)
    assert host.hw.power_w == 500.0


def test_lease_over_ten_seconds_is_refused() -> None:
    host = Host()
    answer = host.send(p.Heartbeat(seq=4, applied_power_w=100, lease_ms=10_001))
    assert of_type(answer, p.Nak)[0].reason is p.NakReason.OUT_OF_RANGE
    host.advance(0.1)
    assert host.hw.power_w == 0.0


def test_set_out_of_limits_is_refused_and_duplicates_apply_once() -> None:
    host = Host()
    refused = host.send(p.SetDisplay(seq=1, setpoint_centi=9000, mode=p.Mode.HEAT, fan_pct=0))
    assert of_type(refused, p.Nak)[0].reason is p.NakReason.OUT_OF_RANGE
    good = p.SetDisplay(seq=2, setpoint_centi=2150, mode=p.Mode.ECO, fan_pct=10)
    assert of_type(host.send(good), p.Ack)
    assert of_type(host.send(good), p.Ack), "a retransmission is acknowledged again"
    assert host.hw.remote_calls == [(21.5, p.Mode.ECO)], "but applied only once"
    thermostat = of_type(host.advance(0.1), p.Thermostat)
    assert thermostat and thermostat[-1].source is p.SetpointSource.REMOTE


def test_unacknowledged_fault_is_retried() -> None:
    host = Host()
    host.mcu.faults.open_sensors.add(1)
    host.decoder = p.FrameDecoder()  # a host that hears but does not answer
    host.collect = lambda: host.decoder.feed(host.mcu.take_output(host.now))  # type: ignore[method-assign]
    messages = host.advance(0.6, step=0.005)
    opens = [f for f in of_type(messages, p.Fault) if f.code is p.FaultCode.SENSOR_OPEN]
    assert len(opens) >= 3 and len({f.seq for f in opens}) == 1, "retries keep the seq"


def test_four_out_of_range_samples_latch_shutdown_until_reset() -> None:
    host = Host()
    host.send(p.Heartbeat(seq=1, applied_power_w=300, lease_ms=10_000))
    host.hw.temps[0] = 47.0  # above the 45 °C limit
    messages = host.advance(1.4)  # samples at 0.05, 0.55, 1.05: three out of range
    assert not host.mcu.shutdown
    messages += host.advance(1.0)  # four in a row
    codes = [f.code for f in of_type(messages, p.Fault)]
    assert codes == [p.FaultCode.OVER_TEMPERATURE, p.FaultCode.FAILSAFE_SHUTDOWN], codes
    assert host.mcu.shutdown and host.hw.power_w == 0.0
    host.hw.temps[0] = 20.0
    host.send(p.Heartbeat(seq=2, applied_power_w=300, lease_ms=3000))
    last = of_type(host.advance(1.0), p.Sensors)[-1]
    assert last.heater_power_w == 0 and last.status & 0x02, "latched: no lease honoured"
    old_boot = host.mcu.boot_id
    answer = host.send(p.Reset(seq=3))
    assert of_type(answer, p.Ack) and of_type(answer, p.Ident)
    assert [f.code for f in of_type(answer, p.Fault)] == [p.FaultCode.MCU_RESET]
    assert not host.mcu.shutdown and host.mcu.boot_id != old_boot


def test_open_sensor_reports_no_reading_and_fault_once() -> None:
    host = Host()
    host.mcu.faults.open_sensors.add(1)
    messages = host.advance(1.2)
    reading = of_type(messages, p.Sensors)[-1].readings[1]
    assert reading.status is p.SensorStatus.OPEN and reading.temp_c is None
    assert [f.code for f in of_type(messages, p.Fault)].count(p.FaultCode.SENSOR_OPEN) == 1


def test_frozen_sensor_repeats_last_value() -> None:
    host = Host()
    host.advance(0.6)
    host.mcu.faults.frozen_sensors.add(0)
    host.hw.temps[0] = 25.0
    last = of_type(host.advance(1.0), p.Sensors)[-1]
    assert last.readings[0].temp_centi == 1900, "frozen at the value before the fault"


def test_silent_mcu_neither_hears_nor_speaks() -> None:
    host = Host()
    host.mcu.faults.silent_until_s = 2.0
    assert host.send(p.IdentRequest(seq=0)) == []
    assert host.advance(1.5) == []
    assert of_type(host.advance(1.0), p.Sensors), "speaks again after the silence"


def test_crc_error_injection_is_seen_as_bad_crc_by_the_host() -> None:
    host = Host()
    host.mcu.faults.crc_error_rate = 1.0
    host.advance(2.0)
    assert host.decoder.stats.errors >= 3
    assert host.mcu.counters.frames_corrupted >= 3


def test_retransmitted_reset_restarts_only_once() -> None:
    host = Host()
    boots = host.mcu.counters.boots
    host.send(p.Reset(seq=40))
    host.send(p.Reset(seq=40))  # the ACK was lost: the host sends it again
    assert host.mcu.counters.boots == boots + 1


def test_ident_request_starts_a_new_host_session_for_duplicates() -> None:
    host = Host()
    host.send(p.SetDisplay(seq=2, setpoint_centi=2100, mode=p.Mode.HEAT, fan_pct=0))
    host.send(p.IdentRequest(seq=0))  # a restarted host, whose counter may repeat seq 2
    host.send(p.SetDisplay(seq=2, setpoint_centi=2350, mode=p.Mode.HEAT, fan_pct=0))
    assert host.hw.remote_calls == [(21.0, p.Mode.HEAT), (23.5, p.Mode.HEAT)]
