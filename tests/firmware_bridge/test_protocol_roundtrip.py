"""Property tests: every valid message survives encode and decode, invalid ones never encode."""

from __future__ import annotations

import itertools
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge import protocol
from firmware_bridge.protocol import (
    MAX_SENSORS,
    MESSAGE_CLASSES,
    SERIAL_NUMBER_BYTES,
    Ack,
    Fault,
    FaultCode,
    FrameDecoder,
    Heartbeat,
    HeaterKind,
    Ident,
    IdentRequest,
    McuStatus,
    Message,
    Mode,
    Nak,
    NakReason,
    ProtocolError,
    Reset,
    SensorKind,
    SensorReading,
    Sensors,
    SensorStatus,
    SetDisplay,
    SetpointSource,
    Thermostat,
    encode,
)

u8 = st.integers(0, 0xFF)
u16 = st.integers(0, 0xFFFF)
u32 = st.integers(0, 0xFFFF_FFFF)
i16 = st.integers(-0x8000, 0x7FFF)
seqs = u8
PRINTABLE_ASCII = st.characters(min_codepoint=0x20, max_codepoint=0x7E)


def flags(kind: type[SensorStatus] | type[McuStatus]) -> st.SearchStrategy[Any]:
    """Any combination of the defined flag bits (undefined bits are dropped on receipt)."""
    return st.integers(0, sum(member.value for member in kind)).map(kind)


@st.composite
def idents(draw: st.DrawFn) -> Ident:
    low = draw(st.integers(-0x8000, 0x7FFE))
    return Ident(
        seq=draw(seqs),
        firmware_version=(draw(u8), draw(u8), draw(u8)),
        # Printable ASCII has no NUL: NUL pads the field, so a serial cannot carry one.
        serial_number=draw(st.text(PRINTABLE_ASCII, max_size=SERIAL_NUMBER_BYTES)),
        heater_kind=draw(st.sampled_from(HeaterKind)),
        rated_power_w=draw(u16),
        min_temp_centi=low,
        max_temp_centi=draw(st.integers(low + 1, 0x7FFF)),
        report_interval_ms=draw(st.integers(250, 1000)),
        boot_id=draw(u16),
        config_checksum=draw(u32),
        sensors=tuple(draw(st.lists(st.sampled_from(SensorKind), min_size=1, max_size=8))),
    )


readings = st.builds(SensorReading, temp_centi=i16, status=flags(SensorStatus))

STRATEGIES: dict[type[Message], st.SearchStrategy[Any]] = {
    IdentRequest: st.builds(IdentRequest, seq=seqs),
    Heartbeat: st.builds(Heartbeat, seq=seqs, applied_power_w=u16, lease_ms=u16),
    SetDisplay: st.builds(
        SetDisplay,
        seq=seqs,
        setpoint_centi=i16,
        mode=st.sampled_from(Mode),
        fan_pct=st.integers(0, 100),
    ),
    Reset: st.builds(Reset, seq=seqs),
    Ident: idents(),
    Sensors: st.builds(
        Sensors,
        seq=seqs,
        boot_id=u16,
        uptime_ms=u32,
        heater_power_w=u16,
        status=flags(McuStatus),
        readings=st.lists(readings, min_size=1, max_size=MAX_SENSORS).map(tuple),
    ),
    Thermostat: st.builds(
        Thermostat,
        seq=seqs,
        setpoint_centi=i16,
        mode=st.sampled_from(Mode),
        source=st.sampled_from(SetpointSource),
        next_setpoint_centi=i16,
        next_change_s=u32,
    ),
    Fault: st.builds(
        Fault, seq=seqs, code=st.sampled_from(FaultCode), sensor_index=u8, value_centi=i16
    ),
    Ack: st.builds(Ack, seq=seqs, acked_seq=u8, acked_type=u8),
    Nak: st.builds(Nak, seq=seqs, nacked_seq=u8, nacked_type=u8, reason=st.sampled_from(NakReason)),
}
messages = st.one_of(*STRATEGIES.values())


def decode_all(data: bytes) -> tuple[list[Message], FrameDecoder]:
    decoder = FrameDecoder()
    return decoder.feed(data), decoder


def test_every_message_class_has_a_strategy() -> None:
    missing = [cls.__name__ for cls in MESSAGE_CLASSES.values() if cls not in STRATEGIES]
    assert not missing, f"add a hypothesis strategy for each message class: {missing}"


@pytest.mark.parametrize("cls", list(STRATEGIES), ids=[cls.__name__ for cls in STRATEGIES])
@settings(max_examples=200)
@given(data=st.data())
def test_message_survives_encode_then_decode(cls: type[Message], data: st.DataObject) -> None:
    message = data.draw(STRATEGIES[cls])
    wire = encode(message)
    decoded, decoder = decode_all(wire)
    assert decoded == [message], f"expected {message} back, decoded {decoded} ({decoder.stats})"
    assert decoder.stats.errors == 0, f"a valid frame counted an error: {decoder.stats}"


@settings(max_examples=500)
@given(message=messages)
def test_encoded_frame_has_one_delimiter_at_the_end_and_fits(message: Message) -> None:
    wire = encode(message)
    assert wire.count(0) == 1, f"expected one 0x00, the delimiter, in {wire.hex(' ')}"
    assert wire.endswith(b"\x00"), f"expected the delimiter last in {wire.hex(' ')}"
    limit = protocol.MAX_ENCODED_BYTES + 1
    assert len(wire) <= limit, f"expected at most {limit} bytes on the wire, got {len(wire)}"


@settings(max_examples=200)
@given(batch=st.lists(messages, min_size=1, max_size=40), data=st.data())
def test_stream_split_anywhere_decodes_to_the_same_messages(
    batch: list[Message], data: st.DataObject
) -> None:
    stream = b"".join(encode(message) for message in batch)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=20)))
    decoder = FrameDecoder()
    decoded: list[Message] = []
    for start, end in itertools.pairwise([0, *cuts, len(stream)]):
        decoded += decoder.feed(stream[start:end])
    assert decoded == batch, f"expected the {len(batch)} messages back in order, cut at {cuts}"
    assert decoder.stats.errors == 0, f"expected no errors, got {decoder.stats}"
    assert decoder.stats.bytes_in == len(stream), "bytes_in must count every byte fed"


def _ident(**changes: Any) -> Ident:
    fields: dict[str, Any] = {
        "firmware_version": (1, 0, 0),
        "serial_number": "QH1-000001",
        "heater_kind": HeaterKind.SPACE_HEATER,
        "rated_power_w": 500,
        "min_temp_centi": 0,
        "max_temp_centi": 4500,
        "report_interval_ms": 500,
        "boot_id": 1,
        "config_checksum": 1,
        "sensors": (SensorKind.ROOM_AIR,),
    }
    return Ident(**{**fields, **changes})


def _sensors(**changes: Any) -> Sensors:
    fields: dict[str, Any] = {
        "boot_id": 1,
        "uptime_ms": 0,
        "heater_power_w": 0,
        "status": McuStatus.NONE,
        "readings": (SensorReading(2000),),
    }
    return Sensors(**{**fields, **changes})


OUT_OF_RANGE: dict[str, Message] = {
    "seq_256": IdentRequest(seq=256),
    "seq_negative": Reset(seq=-1),
    "fan_pct_101": SetDisplay(setpoint_centi=2000, mode=Mode.HEAT, fan_pct=101),
    "fan_pct_negative": SetDisplay(setpoint_centi=2000, mode=Mode.HEAT, fan_pct=-1),
    "setpoint_over_i16": SetDisplay(setpoint_centi=0x8000, mode=Mode.HEAT, fan_pct=0),
    "applied_power_w_70000": Heartbeat(applied_power_w=70_000, lease_ms=3000),
    "lease_ms_negative": Heartbeat(applied_power_w=0, lease_ms=-1),
    "serial_13_chars": _ident(serial_number="Q" * 13),
    "serial_not_ascii": _ident(serial_number="QH1-é"),
    "firmware_version_256": _ident(firmware_version=(1, 256, 0)),
    "firmware_version_two_parts": _ident(firmware_version=(1, 0)),
    "config_checksum_over_u32": _ident(config_checksum=1 << 32),
    "ident_9_sensors": _ident(sensors=(SensorKind.ROOM_AIR,) * 9),
    "ident_no_sensor": _ident(sensors=()),
    "ident_min_not_below_max": _ident(min_temp_centi=4500, max_temp_centi=4500),
    "ident_report_interval_100ms": _ident(report_interval_ms=100),
    "serial_with_nul": _ident(serial_number="QH1\x00"),
    "sensors_9_readings": _sensors(readings=(SensorReading(2000),) * 9),
    "sensors_no_reading": _sensors(readings=()),
    "reading_over_i16": _sensors(readings=(SensorReading(40_000),)),
    "uptime_over_u32": _sensors(uptime_ms=1 << 32),
    "next_change_s_negative": Thermostat(
        setpoint_centi=2000, mode=Mode.ECO, source=SetpointSource.KNOB, next_change_s=-1
    ),
    "sensor_index_256": Fault(code=FaultCode.OVER_TEMPERATURE, sensor_index=256),
    "acked_type_256": Ack(acked_seq=1, acked_type=256),
    "nacked_seq_negative": Nak(nacked_seq=-1, nacked_type=3, reason=NakReason.NOT_READY),
}


@pytest.mark.parametrize("message", OUT_OF_RANGE.values(), ids=OUT_OF_RANGE.keys())
def test_encode_refuses_out_of_range_fields_with_protocol_error(message: Message) -> None:
    try:
        wire = encode(message)
    except ProtocolError:
        return
    except Exception as exc:
        pytest.fail(f"expected ProtocolError for {message}, got {type(exc).__name__}: {exc}")
    pytest.fail(f"expected ProtocolError for {message}, it encoded to {wire.hex(' ')}")
