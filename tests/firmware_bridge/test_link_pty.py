"""The link against the heater simulator over a real pseudo-terminal; no serial-layer mocks."""

from __future__ import annotations

import itertools
import queue
import time
from pathlib import Path

import pytest

from firmware_bridge.events import LinkDown, LinkUp, McuFault, Readings, ThermostatState
from firmware_bridge.link import HeaterLink, LinkRefusedError, LinkState
from firmware_bridge.port import LONG_READ_S, SHORT_READ_S
from firmware_bridge.protocol import FaultCode, HeaterKind, Mode, SensorKind, SetpointSource
from firmware_bridge.recording import RX, TX, decode_recording
from firmware_bridge.reliable import Outcome
from firmware_bridge.simulator.server import HeaterSimulator
from heater_physics.weather import WeatherSeries

from .conftest import drain, wait_for


def test_handshake_reports_the_heaters_identity(
    simulator: HeaterSimulator, link: HeaterLink
) -> None:
    identity = link.identity
    assert identity is not None and link.state is LinkState.UP
    assert identity.heater_kind is HeaterKind.SPACE_HEATER
    assert identity.rated_power_w == simulator.preset.rated_power_w
    assert identity.sensors[0] is SensorKind.ROOM_AIR
    assert identity.boot_id == simulator.mcu.boot_id
    assert identity.serial_number == simulator.config.serial_number
    up, _ = wait_for(link, LinkUp, 1.0)
    assert up.identity == identity


def test_readings_arrive_at_the_advertised_rate(link: HeaterLink) -> None:
    """Judged on the MCU's own clock (its uptime in each report), not on a wall-clock window
    that a loaded machine stretches: ten readings in a row, one per advertised interval."""
    assert link.identity is not None
    drain(link)
    uptimes: list[float] = []
    while len(uptimes) < 10:
        reading, _ = wait_for(link, Readings, 5.0)
        uptimes.append(reading.uptime_s)
    intervals = [b - a for a, b in itertools.pairwise(uptimes)]
    expected = link.identity.report_interval_s
    assert all(abs(i - expected) <= 0.25 * expected for i in intervals), (expected, intervals)
    assert link.readings is not None
    temp = link.readings.temp_of(SensorKind.ROOM_AIR)
    assert temp is not None and -10.0 < temp < 40.0


def test_knob_change_is_seen_within_one_second(
    simulator: HeaterSimulator, link: HeaterLink
) -> None:
    drain(link)
    simulator.turn_knob(22.5)
    state, took = wait_for(link, ThermostatState, 2.0, lambda s: s.setpoint_c == 22.5)
    assert state.source is SetpointSource.KNOB
    assert took < 1.0, f"knob change reached the host after {took:.2f} s"


def test_lease_lapses_when_the_host_stops_heartbeating(
    simulator: HeaterSimulator, link: HeaterLink
) -> None:
    def beat() -> None:
        link.heartbeat(300.0, lease_s=3.0)

    wait_for(link, Readings, 3.0, lambda r: r.heater_power_w == 300 and r.lease_active, every=beat)
    assert simulator.snapshot().heater_power_w == 300
    assert link.stats.rtt_avg_ms is not None, "heartbeat ACKs give the round trip"
    stopped = time.monotonic()
    wait_for(link, McuFault, 5.0, lambda f: f.code is FaultCode.LEASE_EXPIRED)
    lapsed_after = time.monotonic() - stopped
    assert 2.0 < lapsed_after < 4.5, f"lease of 3 s lapsed after {lapsed_after:.2f} s"
    wait_for(link, Readings, 2.0, lambda r: r.heater_power_w == 0 and not r.lease_active)
    assert simulator.snapshot().heater_power_w == 0
    assert link.stats.lease_expiries == 1


def test_no_heartbeat_is_sent_and_no_heat_granted_while_link_is_down(
    simulator: HeaterSimulator,
) -> None:
    link = HeaterLink(simulator.port)  # not started: never handshaken
    assert link.heartbeat(300.0) is False
    assert simulator.snapshot().counters.leases_granted == 0


def test_port_vanishing_and_coming_back_reconnects_by_itself(
    simulator: HeaterSimulator, link: HeaterLink
) -> None:
    drain(link)
    simulator.unplug(1.0)
    down, _ = wait_for(link, LinkDown, 3.0)
    # Which of its ends notices first depends on timing: a read of the vanished port, a write
    # to it (EIO), or the silence of the MCU behind it.
    assert any(word in down.reason for word in ("port", "silent", "write failed")), down.reason
    up, _ = wait_for(link, LinkUp, 10.0)
    assert up.identity.boot_id == simulator.mcu.boot_id, "same MCU, no restart"
    assert link.stats.reconnects >= 1
    wait_for(link, Readings, 2.0)


def test_mcu_reset_means_a_new_handshake(simulator: HeaterSimulator, link: HeaterLink) -> None:
    assert link.identity is not None
    old_boot = link.identity.boot_id
    drain(link)
    simulator.reset_mcu()
    up, _ = wait_for(link, LinkUp, 3.0)
    assert up.identity.boot_id != old_boot
    assert up.reason == "MCU restarted"
    assert link.stats.mcu_resets == 1


def test_silent_mcu_takes_the_link_down_until_it_speaks_again(
    simulator: HeaterSimulator, link: HeaterLink
) -> None:
    drain(link)
    simulator.silence(4.5)
    down, _ = wait_for(link, LinkDown, 6.0)
    assert "silent" in down.reason
    assert link.heartbeat(300.0) is False, "no lease while the link is down"
    wait_for(link, LinkUp, 6.0)


def test_version_mismatch_is_refused_with_both_versions_named(tmp_path: Path) -> None:
    sim = HeaterSimulator("room", weather=WeatherSeries.constant(5.0), protocol_version=2, seed=1)
    with sim, HeaterLink(sim.port, handshake_timeout_s=1.0) as link:
        with pytest.raises(LinkRefusedError) as refused:
            link.wait_until_up(5.0)
        message = str(refused.value)
        assert "version 2" in message and "version 1" in message, message
        assert link.heartbeat(300.0) is False
        time.sleep(0.3)
        assert sim.snapshot().counters.leases_granted == 0, "no heat on a mismatch"
        assert link.state is LinkState.REFUSED


def test_line_noise_is_counted_and_survived(simulator: HeaterSimulator, link: HeaterLink) -> None:
    simulator.set_line_noise(crc_error_rate=0.1, garbage_rate=0.05)
    drain(link)
    deadline = time.monotonic() + 15.0
    readings = 0
    while readings < 12 and time.monotonic() < deadline:
        try:
            readings += isinstance(link.events.get(timeout=0.1), Readings)
        except queue.Empty:
            continue
    assert readings >= 12, f"only {readings} readings got through 15 % line noise in 15 s"
    errors = link.stats.decoder
    assert errors.bad_crc + errors.cobs_error > 0, "noise must show in the error counters"
    assert errors.frames_ok > 12


def test_set_display_is_acknowledged_and_out_of_range_is_refused(
    simulator: HeaterSimulator, link: HeaterLink
) -> None:
    result = link.set_display(21.0, Mode.ECO, fan_pct=20).result(timeout=3.0)
    assert result.ok and result.round_trip_s is not None
    state, _ = wait_for(link, ThermostatState, 2.0, lambda s: s.source is SetpointSource.REMOTE)
    assert state.setpoint_c == 21.0 and state.mode is Mode.ECO
    refused = link.set_display(80.0, Mode.HEAT).result(timeout=3.0)
    assert refused.outcome is Outcome.NACKED
    assert link.stats.naks_received == 1


def test_the_reader_waits_long_when_idle_and_short_while_a_command_awaits_its_ack(
    simulator: HeaterSimulator, link: HeaterLink, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An idle link wakes twice a second, not twenty times; a command's retries (the first 25 ms
    # after it) are timed by short reads, and the command wakes a long read under way.
    timeouts: list[float] = []
    wakes: list[float] = []
    port = link._port
    read, wake = port.read, port.wake

    def recorded_read(timeout_s: float) -> bytes:
        timeouts.append(timeout_s)
        return read(timeout_s)

    def recorded_wake() -> None:
        wakes.append(time.monotonic())
        wake()

    monkeypatch.setattr(port, "read", recorded_read)
    monkeypatch.setattr(port, "wake", recorded_wake)
    wait_for(link, Readings, 3.0)
    wait_for(link, Readings, 3.0)
    assert timeouts and timeouts[-1] == LONG_READ_S
    simulator.silence(1.0)  # the MCU hears nothing: no ACK, the command is retried
    reads_before = len(timeouts)
    future = link.set_display(21.0, Mode.ECO)
    assert wakes, "the command did not wake the reader"
    deadline = time.monotonic() + 5.0
    while link.stats.retransmissions < 2:
        assert time.monotonic() < deadline, "the unanswered command was not retried"
        time.sleep(0.01)
    assert SHORT_READ_S in timeouts[reads_before:]
    assert future.result(timeout=20.0).ok, "acknowledged once the MCU hears again"
    deadline = time.monotonic() + 5.0
    while timeouts[-1] != LONG_READ_S:
        assert time.monotonic() < deadline, "the reader did not go back to long reads"
        time.sleep(0.01)


def test_recording_holds_both_directions_and_decodes(
    simulator: HeaterSimulator, tmp_path: Path
) -> None:
    recording = tmp_path / "heater.bal"
    with HeaterLink(simulator.port, record_to=recording) as link:
        link.wait_until_up(5.0)
        deadline = time.monotonic() + 10
        while link.stats.heartbeats_acked < 1:  # an ACK read back is an ACK recorded
            assert time.monotonic() < deadline, "no heartbeat acknowledged in 10 s"
            link.heartbeat(100.0)
            time.sleep(0.1)
    frames = list(decode_recording(recording))
    sent = {f.message["type"] for f in frames if f.direction == TX and f.message}
    received = {f.message["type"] for f in frames if f.direction == RX and f.message}
    assert {"IDENT_REQUEST", "HEARTBEAT"} <= sent
    assert {"IDENT", "SENSORS", "ACK"} <= received
    assert all(f.wall_time is not None for f in frames if f.error is None)


def test_a_restarted_host_gets_its_first_command_applied(simulator: HeaterSimulator) -> None:
    for setpoint in (21.0, 23.5):  # two host sessions, as after an agent restart
        with HeaterLink(simulator.port) as link:
            link.wait_until_up(5.0)
            assert link.set_display(setpoint, Mode.HEAT).result(timeout=3.0).ok
        assert simulator.world.snapshot().setpoint_c == setpoint, "acknowledged means applied"


def test_heartbeat_for_a_previous_boot_grants_nothing(
    simulator: HeaterSimulator, link: HeaterLink
) -> None:
    assert link.identity is not None
    checked_boot = link.identity.boot_id
    assert link.heartbeat(100.0, boot_id=checked_boot)
    drain(link)
    simulator.reset_mcu()
    wait_for(link, LinkUp, 3.0)
    assert link.heartbeat(100.0, boot_id=checked_boot) is False, "caller must see the new MCU"
    assert link.readings is None or link.readings.uptime_s < 5.0


def test_reset_command_restarts_the_mcu_once(simulator: HeaterSimulator, link: HeaterLink) -> None:
    boots = simulator.mcu.counters.boots
    drain(link)
    result = link.reset_mcu().result(timeout=5.0)
    assert result.ok
    wait_for(link, LinkUp, 3.0)
    assert simulator.mcu.counters.boots == boots + 1


def test_a_failing_recording_disk_does_not_stop_the_link(simulator: HeaterSimulator) -> None:
    with HeaterLink(simulator.port, record_to=Path("/dev/full")) as link:
        link.wait_until_up(5.0)
        wait_for(link, Readings, 3.0, lambda r: r.lease_active, every=lambda: link.heartbeat(50.0))
