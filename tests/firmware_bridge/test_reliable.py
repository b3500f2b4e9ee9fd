"""Retries, duplicates and sequence numbers (PROTOCOL.md sections 4 and 5), in simulated time."""

from __future__ import annotations

from firmware_bridge.protocol import (
    Ack,
    Fault,
    FaultCode,
    Mode,
    SetDisplay,
    SetpointSource,
    Thermostat,
)
from firmware_bridge.reliable import (
    DUPLICATE_WINDOW_S,
    MAX_TRIES,
    DuplicateFilter,
    Outcome,
    ReliableSender,
    SeqCounter,
)


def _set(seq: int, setpoint: int = 2000) -> SetDisplay:
    return SetDisplay(seq=seq, setpoint_centi=setpoint, mode=Mode.HEAT, fan_pct=0)


def test_retransmits_with_doubling_timeouts_until_acked() -> None:
    sender = ReliableSender(version=1)
    entry, _ = sender.submit(_set(7), now_s=0.0)
    retry_times = []
    while len(retry_times) < 5:
        now = sender.next_deadline()
        assert now is not None
        assert sender.due(now - 1e-6) == ([], []), "nothing is due before the deadline"
        resend, _ = sender.due(now)
        assert resend == [entry.frame], "a retransmission repeats the same frame"
        retry_times.append(now)
    gaps = [b - a for a, b in zip([0.0, *retry_times], retry_times, strict=False)]
    assert [round(g, 6) for g in gaps] == [0.025, 0.05, 0.1, 0.2, 0.4], gaps
    settled = sender.settle(SetDisplay.TYPE, 7, now_s=1.0)
    assert settled is entry and entry.outcome is Outcome.ACKED
    assert sender.due(10.0) == ([], []), "nothing is retried once acknowledged"


def test_timeout_is_capped_at_five_seconds_and_gives_up_after_max_tries() -> None:
    sender = ReliableSender(version=1)
    entry, _ = sender.submit(_set(1), now_s=0.0)
    now, gave_up = 0.0, []
    while not gave_up:
        now = sender.next_deadline() or now
        _, gave_up = sender.due(now)
    assert entry.outcome is Outcome.GAVE_UP
    assert entry.tries == MAX_TRIES
    assert entry.timeout_s == 5.0
    assert 10.0 < now < 20.0, f"gave up after {now:.2f} s, PROTOCOL.md says about 15 s"


def test_ack_for_another_seq_settles_nothing() -> None:
    sender = ReliableSender(version=1)
    sender.submit(_set(3), now_s=0.0)
    assert sender.settle(SetDisplay.TYPE, 4, now_s=0.01) is None
    assert len(sender) == 1


def test_newer_message_of_same_type_replaces_older() -> None:
    sender = ReliableSender(version=1)
    old, _ = sender.submit(_set(1, 1900), now_s=0.0)
    new, replaced = sender.submit(_set(2, 2100), now_s=0.01)
    assert replaced is old and old.outcome is Outcome.REPLACED
    assert len(sender) == 1
    assert sender.settle(SetDisplay.TYPE, 2, 0.02) is new


def test_nak_settles_with_reason_and_is_not_retried() -> None:
    sender = ReliableSender(version=1)
    entry, _ = sender.submit(_set(9), now_s=0.0)
    sender.settle(SetDisplay.TYPE, 9, 0.01, nak_reason=2)
    assert entry.outcome is Outcome.NACKED and entry.nak_reason == 2
    assert sender.due(100.0) == ([], [])


def test_round_trip_is_measured_from_first_send() -> None:
    sender = ReliableSender(version=1)
    entry, _ = sender.submit(_set(9), now_s=10.0)
    sender.settle(SetDisplay.TYPE, 9, 10.25)
    assert entry.round_trip_s == 0.25


def test_duplicate_filter_recognises_retransmission_per_type() -> None:
    filt = DuplicateFilter()
    thermostat = Thermostat(seq=5, setpoint_centi=1900, mode=Mode.HEAT, source=SetpointSource.KNOB)
    assert filt.is_new(thermostat, 0.0)
    assert not filt.is_new(thermostat, 1.0), "same type and seq is a retransmission"
    assert filt.is_new(Ack(seq=5, acked_seq=1, acked_type=1), 1.0), "other type is new"
    newer = Thermostat(seq=6, setpoint_centi=1900, mode=Mode.HEAT, source=SetpointSource.KNOB)
    assert filt.is_new(newer, 1.0)
    assert not filt.is_new(thermostat, 2.0), "still remembered after a newer one"
    filt.clear()
    assert filt.is_new(thermostat, 2.0)


def test_duplicate_filter_forgets_after_the_retry_span() -> None:
    filt = DuplicateFilter()
    fault = Fault(seq=9, code=FaultCode.SENSOR_OPEN)
    assert filt.is_new(fault, 0.0)
    assert not filt.is_new(fault, 16.4), "within a sender's retry span: a retransmission"
    assert filt.is_new(fault, 16.4 + DUPLICATE_WINDOW_S), "the seq came round again: new"


def test_seq_counter_starts_at_random_unless_told() -> None:
    starts = {SeqCounter().take() for _ in range(50)}
    assert len(starts) > 10, "a restarted sender must not repeat its old seqs"


def test_seq_counter_wraps_at_256() -> None:
    counter = SeqCounter(254)
    assert [counter.take() for _ in range(4)] == [254, 255, 0, 1]


def test_events_are_not_superseded_each_is_retried_on_its_own() -> None:
    sender = ReliableSender(version=1)
    first, _ = sender.submit(Fault(seq=1, code=FaultCode.SENSOR_OPEN, sensor_index=1), 0.0)
    second, replaced = sender.submit(Fault(seq=2, code=FaultCode.FAILSAFE_SHUTDOWN), 0.01)
    assert replaced is None and len(sender) == 2, "a fault never makes an earlier one moot"
    resend, _ = sender.due(0.1)
    assert resend == [first.frame, second.frame]
    assert sender.settle(Fault.TYPE, 2, 0.2) is second
    assert sender.settle(Fault.TYPE, 1, 0.2) is first
