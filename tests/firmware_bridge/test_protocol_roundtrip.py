"""Property tests: every valid message survives encode and decode, invalid ones never encode."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge import protocol as p

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFF_FFFF)
i16 = st.integers(-0x8000, 0x7FFF)
seqs = u8
PRINTABLE_ASCII = st.characters(min_codepoint=0x20, max_codepoint=0x7E)


def flags(kind: type[p.SensorStatus] | type[p.McuStatus]) -> st.SearchStrategy[Any]:
    """Any combination of the defined flag bits (undefined bits are dropped on receipt)."""
    return st.integers(0, sum(member.value for member in kind)).map(kind)


@st.composite
def idents(draw: st.DrawFn) -> p.Ident:
    low = draw(st.integers(-0x8000, 0x7FFE))
    return p.Ident(
        seq=draw(seqs),
        firmware_version=(draw(u8), draw(u8), draw(u8)),
        # Printable ASCII has no NUL: NUL pads the field, so a serial cannot carry one.
        serial_number=draw(st.text(PRINTABLE_ASCII, max_size=p.SERIAL_NUMBER_BYTES)),
        heater_kind=draw(st.sampled_from(p.HeaterKind)),
        rated_power_w=draw(u16),
        min_temp_centi=low,
        max_temp_centi=draw(st.integers(low + 1, 0x7FFF)),
        report_interval_ms=draw(st.integers(250, 1000)),
        boot_id=draw(u16),
        config_checksum=draw(u32),
        sensors=tuple(draw(st.lists(st.sampled_from(p.SensorKind), min_size=1, max_size=8))),
    )


readings = st.builds(p.SensorReading, temp_centi=i16, status=flags(p.SensorStatus))

STRATEGIES: dict[type[p.Message], st.SearchStrategy[Any]] = {
    p.IdentRequest: st.builds(p.IdentRequest, seq=seqs),
    p.Heartbeat: st.builds(p.Heartbeat, seq=seqs, applied_power_w=u16, lease_ms=u16),
    p.SetDisplay: st.builds(
        p.SetDisplay,
        seq=seqs,
        setpoint_centi=i16,
        mode=st.sampled_from(p.Mode),
        fan_pct=st.integers(0, 100),
    ),
    p.Reset: st.builds(p.Reset, seq=seqs),
    p.Ident: idents(),
    p.Sensors: st.builds(
        p.Sensors,
        seq=seqs,
        boot_id=u16,
        uptime_ms=u32,
        heater_power_w=u16,
        status=flags(p.McuStatus),
        readings=st.lists(readings, min_size=1, max_size=p.MAX_SENSORS).map(tuple),
    ),
    p.Thermostat: st.builds(
        p.Thermostat,
        seq=seqs,
        setpoint_centi=i16,
        mode=st.sampled_from(p.Mode),
        source=st.sampled_from(p.SetpointSource),
        next_setpoint_centi=i16,
        next_change_s=u32,
    ),
    p.Fault: st.builds(
        p.Fault, seq=seqs, code=st.sampled_from(p.FaultCode), sensor_index=u8, value_centi=i16
    ),
    p.Ack: st.builds(p.Ack, seq=seqs, acked_seq=u8, acked_type=u8),
    p.Nak: st.builds(
        p.Nak, seq=seqs, nacked_seq=u8, nacked_type=u8, reason=st.sampled_from(p.NakReason)
    ),
}
messages = st.one_of(*STRATEGIES.values())


def decode_all(data: bytes) -> tuple[list[p.Message], p.FrameDecoder]:
    decoder = p.FrameDecoder()
    return decoder.feed(data), decoder


def test_every_message_class_has_a_strategy() -> None:
    missing = [cls.__name__ for cls in p.MESSAGE_CLASSES.values() if cls not in STRATEGIES]
    assert not missing, f"add a hypothesis strategy for each message class: {missing}"


@pytest.mark.parametrize("cls", list(STRATEGIES), ids=[cls.__name__ for cls in STRATEGIES])
@settings(max_examples=200)
@given(data=st.data())
def test_message_survives_encode_then_decode(cls: type[p.Message], data: st.DataObject) -> None:
    message = data.draw(STRATEGIES[cls])
    wire = p.encode(message)
    decoded, decoder = decode_all(wire)
    assert decoded == [message], f"expected {message} back, decoded {decoded} ({decoder.stats})"
    assert decoder.stats.errors == 0, f"a valid frame counted an error: {decoder.stats}"


@settings(max_examples=500)
@given(message=messages)
def test_encoded_frame_has_one_delimiter_at_the_end_and_fits(message: p.Message) -> None:
    wire = p.encode(message)
    assert wire.count(0) == 1, f"expected one 0x00, the delimiter, in {wire.hex(' ')}"
    assert wire.endswith(b"\x00"), f"expected the delimiter last in {wire.hex(' ')}"
    limit = p.MAX_ENCODED_BYTES + 1
    assert len(wire) <= limit, f"expected at most {limit} bytes on the wire, got {len(wire)}"


@settings(max_examples=200)
@given(batch=st.lists(messages, min_size=1, max_size=40), data=st.data())
def test_stream_split_anywhere_decodes_to_the_same_messages(
    batch: list[p.Message], data: st.DataObject
) -> None:
    stream = b"".join(p.encode(message) for message in batch)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=20)))
    decoder = p.FrameDecoder()
    decoded: list[p.Message] = []
    for start, end in itertools.pairwise([0, *cuts, len(stream)]):
        decoded += decoder.feed(stream[start:end])
    assert decoded == batch, f"expected the {len(batch)} messages back in order, cut at {cuts}"
    assert decoder.stats.errors == 0, f"expected no errors, got {decoder.stats}"
    assert decoder.stats.bytes_in == len(stream), "bytes_in must count every byte fed"


def _ident(**changes: Any) -> p.Ident:
    fields: dict[str, Any] = {
        "firmware_version": (1, 0, 0),
        "serial_number": "QH1-000001",
        "heater_kind": p.HeaterKind.SPACE_HEATER,
        "rated_power_w": 500,
        "min_temp_centi": 0,
        "max_temp_centi": 4500,
        "report_interval_ms": 500,
        "boot_id": 1,
        "config_checksum": 1,
        "sensors": (p.SensorKind.ROOM_AIR,),
    }
    return p.Ident(**{**fields, **changes})


def _sensors(**changes: Any) -> p.Sensors:
    fields: dict[str, Any] = {
        "boot_id": 1,
        "uptime_ms": 0,
        "heater_power_w": 0,
        "status": p.McuStatus.NONE,
        "readings": (p.SensorReading(2000),),
    }
    return p.Sensors(**{**fields, **changes})


OUT_OF_RANGE: dict[str, p.Message] = {
    "seq_256": p.IdentRequest(seq=256),
    "seq_negative": p.Reset(seq=-1),
    "fan_pct_101": p.SetDisplay(setpoint_centi=2000, mode=p.Mode.HEAT, fan_pct=101),
    "fan_pct_negative": p.SetDisplay(setpoint_centi=2000, mode=p.Mode.HEAT, fan_pct=-1),
    "setpoint_over_i16": p.SetDisplay(setpoint_centi=0x8000, mode=p.Mode.HEAT, fan_pct=0),
    "applied_power_w_70000": p.Heartbeat(applied_power_w=70_000, lease_ms=3000),
    "lease_ms_negative": p.Heartbeat(applied_power_w=0, lease_ms=-1),
    "serial_13_chars": _ident(serial_number="Q" * 13),
    "serial_not_ascii": _ident(serial_number="QH1-é"),
    "firmware_version_256": _ident(firmware_version=(1, 256, 0)),
    "firmware_version_two_parts": _ident(firmware_version=(1, 0)),
    "config_checksum_over_u32": _ident(config_checksum=1 << 32),
    "ident_9_sensors": _ident(sensors=(p.SensorKind.ROOM_AIR,) * 9),
    "ident_no_sensor": _ident(sensors=()),
    "ident_min_not_below_max": _ident(min_temp_centi=4500, max_temp_centi=4500),
    "ident_report_interval_100ms": _ident(report_interval_ms=100),
    "serial_with_nul": _ident(serial_number="QH1\x00"),
    "sensors_9_readings": _sensors(readings=(p.SensorReading(2000),) * 9),
    "sensors_no_reading": _sensors(readings=()),
    "reading_over_i16": _sensors(readings=(p.SensorReading(40_000),)),
    "uptime_over_u32": _sensors(uptime_ms=1 << 32),
    "next_change_s_negative": p.Thermostat(
        setpoint_centi=2000, mode=p.Mode.ECO, source=p.SetpointSource.KNOB, next_change_s=-1
    ),
    "sensor_index_256": p.Fault(code=p.FaultCode.OVER_TEMPERATURE, sensor_index=256),
    "acked_type_256": p.Ack(acked_seq=1, acked_type=256),
    "nacked_seq_negative": p.Nak(nacked_seq=-1, nacked_type=3, reason=p.NakReason.NOT_READY),
}


@pytest.mark.parametrize("message", OUT_OF_RANGE.values(), ids=OUT_OF_RANGE.keys())
def test_encode_refuses_out_of_range_fields_with_protocol_error(message: p.Message) -> None:
    try:
        wire = p.encode(message)
    except p.ProtocolError:
        return
    except Exception as exc:
        pytest.fail(f"expected ProtocolError for {message}, got {type(exc).__name__}: {exc}")
    pytest.fail(f"expected ProtocolError for {message}, it encoded to {wire.hex(' ')}")
