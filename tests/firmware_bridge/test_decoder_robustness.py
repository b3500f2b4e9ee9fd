"""The stream decoder never raises, and recovers every intact frame around garbage and damage.

Streams are built from segments that each end with a 0x00: a valid frame, or garbage, or a
damaged frame (bits flipped, truncated, a byte inserted or deleted, another protocol version,
an unknown type, an oversize run). Because every segment ends with a delimiter, every valid
frame must come back, in order. Damage can, rarely, make another valid frame by chance, so the
decoder's output is also compared with an independent model of PROTOCOL.md section 2 applied
run by run: it must deliver exactly the model's messages and count exactly the model's errors.
"""

from __future__ import annotations

import binascii
import itertools
import random
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import pytest
from cobs import cobs
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge import protocol as p
from firmware_bridge.messages import PayloadError

FAST_FRAMES = 3_000
SLOW_FRAMES = 120_000
SLOW_STREAMS = 12  # separate seeds, so a failure names a stream small enough to replay
# Share of segments that are damage or garbage rather than a valid frame.
DAMAGE_RATE = 0.3
CHUNK_SIZES = (1, 2, 3, 7, 16, 65, 66, 200, 1024, 4096)


# --- a random valid message of every type --------------------------------------------------


def _i16(rng: random.Random) -> int:
    return rng.randint(-0x8000, 0x7FFF)


def _ident(rng: random.Random, seq: int) -> p.Ident:
    low = rng.randint(-0x8000, 0x7FFE)
    return p.Ident(
        seq=seq,
        firmware_version=(rng.randrange(256), rng.randrange(256), rng.randrange(256)),
        serial_number="".join(chr(rng.randint(0x20, 0x7E)) for _ in range(rng.randint(0, 12))),
        heater_kind=rng.choice(list(p.HeaterKind)),
        rated_power_w=rng.randrange(0x10000),
        min_temp_centi=low,
        max_temp_centi=rng.randint(low + 1, 0x7FFF),
        report_interval_ms=rng.randint(250, 1000),
        boot_id=rng.randrange(0x10000),
        config_checksum=rng.randrange(1 << 32),
        sensors=tuple(rng.choice(list(p.SensorKind)) for _ in range(rng.randint(1, 8))),
    )


def _sensors(rng: random.Random, seq: int) -> p.Sensors:
    return p.Sensors(
        seq=seq,
        boot_id=rng.randrange(0x10000),
        uptime_ms=rng.randrange(1 << 32),
        heater_power_w=rng.randrange(0x10000),
        status=p.McuStatus(rng.randrange(8)),
        readings=tuple(
            p.SensorReading(_i16(rng), p.SensorStatus(rng.randrange(8)))
            for _ in range(rng.randint(1, 8))
        ),
    )


MAKERS: dict[type[p.Message], Callable[[random.Random, int], p.Message]] = {
    p.IdentRequest: lambda rng, seq: p.IdentRequest(seq=seq),
    p.Heartbeat: lambda rng, seq: p.Heartbeat(
        seq=seq, applied_power_w=rng.randrange(0x10000), lease_ms=rng.randrange(0x10000)
    ),
    p.SetDisplay: lambda rng, seq: p.SetDisplay(
        seq=seq,
        setpoint_centi=_i16(rng),
        mode=rng.choice(list(p.Mode)),
        fan_pct=rng.randint(0, 100),
    ),
    p.Reset: lambda rng, seq: p.Reset(seq=seq),
    p.Ident: _ident,
    p.Sensors: _sensors,
    p.Thermostat: lambda rng, seq: p.Thermostat(
        seq=seq,
        setpoint_centi=_i16(rng),
        mode=rng.choice(list(p.Mode)),
        source=rng.choice(list(p.SetpointSource)),
        next_setpoint_centi=_i16(rng),
        next_change_s=rng.randrange(1 << 32),
    ),
    p.Fault: lambda rng, seq: p.Fault(
        seq=seq,
        code=rng.choice(list(p.FaultCode)),
        sensor_index=rng.randrange(256),
        value_centi=_i16(rng),
    ),
    p.Ack: lambda rng, seq: p.Ack(
        seq=seq, acked_seq=rng.randrange(256), acked_type=rng.randrange(256)
    ),
    p.Nak: lambda rng, seq: p.Nak(
        seq=seq,
        nacked_seq=rng.randrange(256),
        nacked_type=rng.randrange(256),
        reason=rng.choice(list(p.NakReason)),
    ),
}
MAKER_LIST = list(MAKERS.values())


def random_message(rng: random.Random) -> p.Message:
    return rng.choice(MAKER_LIST)(rng, rng.randrange(256))


# --- damage: each returns the bytes of one segment, delimiter included ---------------------

UNKNOWN_TYPES = [code for code in range(256) if code not in p.MESSAGE_CLASSES]


def _garbage(rng: random.Random) -> bytes:
    return rng.randbytes(rng.randint(1, 120)) + b"\x00"


def _flipped_bits(rng: random.Random) -> bytes:
    body = bytearray(p.encode(random_message(rng))[:-1])
    # Distinct bits, so two flips never cancel out and leave the frame intact.
    for bit in rng.sample(range(len(body) * 8), rng.randint(1, 3)):
        body[bit // 8] ^= 1 << (bit % 8)
    return bytes(body) + b"\x00"


def _truncated(rng: random.Random) -> bytes:
    body = p.encode(random_message(rng))[:-1]
    return body[: rng.randrange(1, len(body))] + b"\x00"


def _inserted_byte(rng: random.Random) -> bytes:
    body = bytearray(p.encode(random_message(rng))[:-1])
    value = rng.randrange(256)
    # A 0x00 at either end would only add a delimiter; inside, it splits the frame in two.
    position = rng.randint(1, len(body) - 1) if value == 0 else rng.randint(0, len(body))
    body.insert(position, value)
    return bytes(body) + b"\x00"


def _deleted_byte(rng: random.Random) -> bytes:
    body = bytearray(p.encode(random_message(rng))[:-1])
    del body[rng.randrange(len(body))]
    return bytes(body) + b"\x00"


def _oversize(rng: random.Random) -> bytes:
    run = bytes(rng.randint(1, 255) for _ in range(rng.randint(p.MAX_ENCODED_BYTES + 1, 400)))
    return run + b"\x00"


def _other_version(rng: random.Random) -> bytes:
    version = rng.choice([v for v in range(256) if v != p.PROTOCOL_VERSION])
    return p.encode(random_message(rng), version=version)


def _unknown_type(rng: random.Random) -> bytes:
    body = bytes((p.PROTOCOL_VERSION, rng.choice(UNKNOWN_TYPES), rng.randrange(256)))
    body += rng.randbytes(rng.randint(0, 20))
    frame = body + binascii.crc_hqx(body, 0xFFFF).to_bytes(2, "big")
    return bytes(cobs.encode(frame)) + b"\x00"


def _idle(rng: random.Random) -> bytes:
    return b"\x00" * rng.randint(1, 3)


DAMAGE: dict[str, Callable[[random.Random], bytes]] = {
    "garbage": _garbage,
    "flipped_bits": _flipped_bits,
    "truncated": _truncated,
    "inserted_byte": _inserted_byte,
    "deleted_byte": _deleted_byte,
    "oversize": _oversize,
    "other_version": _other_version,
    "unknown_type": _unknown_type,
    "idle": _idle,
}
# Damage whose counter is certain: each such segment adds one to that counter at least.
CERTAIN_COUNTER = {
    "oversize": "oversize",
    "other_version": "bad_version",
    "unknown_type": "unknown_type",
}


@dataclass
class Stream:
    data: bytes = b""
    valid: list[p.Message] = field(default_factory=list)
    damage: Counter[str] = field(default_factory=Counter)


def build_stream(rng: random.Random, frames: int) -> Stream:
    """`frames` valid frames with damage segments between them, every segment ending in 0x00."""
    parts: list[bytes] = []
    stream = Stream()
    names = list(DAMAGE)
    while len(stream.valid) < frames:
        if rng.random() < DAMAGE_RATE:
            name = rng.choice(names)
            stream.damage[name] += 1
            parts.append(DAMAGE[name](rng))
        else:
            message = random_message(rng)
            stream.valid.append(message)
            parts.append(p.encode(message))
    stream.data = b"".join(parts)
    return stream


def random_chunks(rng: random.Random, data: bytes) -> Iterator[bytes]:
    """`data` in pieces of random sizes, from single bytes to a few kilobytes."""
    start = 0
    while start < len(data):
        end = start + rng.randint(1, rng.choice(CHUNK_SIZES))
        yield data[start:end]
        start = end


# --- an independent model of section 2, applied to one delimited run at a time -------------


def cobs_decode(data: bytes) -> bytes | None:
    """Plain COBS decoding; None when `data` is not valid COBS."""
    out = bytearray()
    index = 0
    while index < len(data):
        code = data[index]
        end = index + code
        if code == 0 or end > len(data):
            return None
        out += data[index + 1 : end]
        index = end
        if code != 0xFF and index < len(data):
            out.append(0)
    return bytes(out)


def classify(run: bytes) -> p.Message | str:
    """What a receiver must do with the bytes between two delimiters: a message or a counter."""
    if len(run) > p.MAX_ENCODED_BYTES:
        return "oversize"
    frame = cobs_decode(run)
    if frame is None:
        return "cobs_error"
    if len(frame) < 5:
        return "short"
    if binascii.crc_hqx(frame[:-2], 0xFFFF) != int.from_bytes(frame[-2:], "big"):
        return "bad_crc"
    if frame[0] != p.PROTOCOL_VERSION:
        return "bad_version"
    cls = p.MESSAGE_CLASSES.get(frame[1])
    if cls is None:
        return "unknown_type"
    try:
        return cls.unpack_payload(frame[3:-2], frame[2])
    except PayloadError:
        return "bad_payload"


def model(data: bytes) -> tuple[list[p.Message], Counter[str]]:
    """Messages delivered and errors counted for `data`, an unfinished last run included."""
    *runs, tail = data.split(b"\x00")
    delivered: list[p.Message] = []
    errors: Counter[str] = Counter()
    for run in runs:
        if not run:
            continue  # idle filler
        outcome = classify(run)
        if isinstance(outcome, str):
            errors[outcome] += 1
        else:
            delivered.append(outcome)
    if len(tail) > p.MAX_ENCODED_BYTES:
        errors["oversize"] += 1  # counted as soon as the run is too long, before its delimiter
    return delivered, errors


# --- checks --------------------------------------------------------------------------------


def error_counts(stats: p.DecoderStats) -> Counter[str]:
    return Counter({kind: getattr(stats, kind) for kind in p.DecoderStats.ERROR_KINDS})


def first_difference(got: Sequence[p.Message], want: Sequence[p.Message]) -> str:
    for index, (a, b) in enumerate(zip(got, want, strict=False)):
        if a != b:
            return f"message {index}: expected {b}, decoded {a}"
    return f"expected {len(want)} messages, decoded {len(got)}"


def missing_from_subsequence(wanted: Sequence[p.Message], got: Sequence[p.Message]) -> int | None:
    """Index of the first `wanted` message not found, in order, in `got`; None if all are."""
    remaining = iter(got)
    for index, message in enumerate(wanted):
        if not any(candidate == message for candidate in remaining):
            return index
    return None


def check_stream(seed: int, frames: int) -> None:
    rng = random.Random(seed)
    stream = build_stream(rng, frames)
    decoder = p.FrameDecoder()
    delivered: list[p.Message] = []
    for chunk in random_chunks(rng, stream.data):
        delivered += decoder.feed(chunk)  # must not raise, whatever the bytes
    where = f"seed {seed}, {len(stream.data)} bytes, damage {dict(stream.damage)}"

    lost = missing_from_subsequence(stream.valid, delivered)
    assert lost is None, f"{where}: valid frame {lost} ({stream.valid[lost]}) was not recovered"
    expected, expected_errors = model(stream.data)
    assert delivered == expected, f"{where}: {first_difference(delivered, expected)}"
    assert error_counts(decoder.stats) == expected_errors, (
        f"{where}: expected errors {dict(expected_errors)}, counted {decoder.stats}"
    )
    assert decoder.stats.frames_ok == len(delivered), f"{where}: frames_ok != messages delivered"
    assert decoder.stats.bytes_in == len(stream.data), f"{where}: bytes_in != bytes fed"
    for damage, counter in CERTAIN_COUNTER.items():
        assert getattr(decoder.stats, counter) >= stream.damage[damage], (
            f"{where}: expected each of {stream.damage[damage]} {damage} segments in {counter}"
        )
    # Damage rarely forges a valid frame (a 16-bit CRC lets about 1 in 65536 through).
    forged = len(delivered) - len(stream.valid)
    assert forged <= 1 + sum(stream.damage.values()) // 1000, f"{where}: {forged} forged frames"


def test_random_message_covers_every_message_class() -> None:
    missing = [cls.__name__ for cls in p.MESSAGE_CLASSES.values() if cls not in MAKERS]
    assert not missing, f"add a random generator for each message class: {missing}"


def test_model_agrees_with_every_damage_kind_on_its_own() -> None:
    rng = random.Random(99)
    for name, make in DAMAGE.items():
        for _ in range(200):
            segment = make(rng)
            decoder = p.FrameDecoder()
            delivered = decoder.feed(segment)
            want, want_errors = model(segment)
            assert delivered == want, f"{name} {segment.hex(' ')}: expected {want}"
            assert error_counts(decoder.stats) == want_errors, f"{name} {segment.hex(' ')}"


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_decoder_recovers_valid_frames_around_damage(seed: int) -> None:
    check_stream(seed, FAST_FRAMES)


@pytest.mark.slow
def test_decoder_recovers_valid_frames_around_damage_at_scale() -> None:
    for seed in range(1000, 1000 + SLOW_STREAMS):
        check_stream(seed, SLOW_FRAMES // SLOW_STREAMS)


@settings(max_examples=500)
@given(data=st.binary(max_size=600), cuts=st.lists(st.integers(0, 600), max_size=12))
def test_decoder_never_raises_on_arbitrary_bytes(data: bytes, cuts: list[int]) -> None:
    decoder = p.FrameDecoder()
    delivered: list[p.Message] = []
    bounds = sorted({0, len(data), *(cut for cut in cuts if cut < len(data))})
    for start, end in itertools.pairwise(bounds):
        delivered += decoder.feed(data[start:end])
    want, want_errors = model(data)
    assert delivered == want, (
        f"{data.hex(' ')} cut at {bounds}: {first_difference(delivered, want)}"
    )
    assert error_counts(decoder.stats) == want_errors, f"{data.hex(' ')}: {decoder.stats}"
    assert decoder.stats.bytes_in == len(data), "bytes_in must count every byte fed"


@settings(max_examples=300)
@given(
    seed=st.integers(0, 2**32 - 1),
    pieces=st.lists(st.one_of(st.binary(max_size=80), st.just(b"")), min_size=1, max_size=10),
)
def test_decoder_never_raises_on_valid_frames_mixed_with_arbitrary_bytes(
    seed: int, pieces: list[bytes]
) -> None:
    rng = random.Random(seed)
    # Empty pieces stand for valid frames; the rest are arbitrary bytes, delimiters or not.
    data = b"".join(piece or p.encode(random_message(rng)) for piece in pieces)
    decoder = p.FrameDecoder()
    delivered: list[p.Message] = []
    for chunk in random_chunks(rng, data):
        delivered += decoder.feed(chunk)
    want, want_errors = model(data)
    assert delivered == want, f"{data.hex(' ')}: {first_difference(delivered, want)}"
    assert error_counts(decoder.stats) == want_errors, f"{data.hex(' ')}: {decoder.stats}"
