"""The test vectors of PROTOCOL.md section 10, checked in both directions against the codec."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from firmware_bridge import protocol
from firmware_bridge.protocol import DecoderStats, FrameDecoder, MessageType, encode, to_dict

PROTOCOL_MD = Path(protocol.__file__).with_name("PROTOCOL.md")
_BLOCK = re.compile(r"^```vector\n(.*?)^```", re.MULTILINE | re.DOTALL)
_FIELDS = {"name", "why", "hex", "expect"}


@dataclass(frozen=True)
class Vector:
    name: str
    wire: bytes
    expect: dict[str, Any]

    @property
    def drop(self) -> str | None:
        kind = self.expect.get("drop")
        return str(kind) if kind is not None else None

    @property
    def delivered(self) -> list[dict[str, Any]]:
        """The messages a receiver must deliver for these bytes, in order."""
        if self.drop is None:
            return [self.expect]
        then = self.expect.get("then")
        return [then] if then is not None else []


def parse_vectors(text: str) -> list[Vector]:
    vectors = []
    for block in _BLOCK.findall(text):
        values: dict[str, str] = {}
        for line in block.splitlines():
            if not line.strip():
                continue
            key, sep, value = line.partition(":")
            assert sep and key.strip() in _FIELDS, f"vector line is not one of {_FIELDS}: {line!r}"
            values[key.strip()] = value.strip()
        assert {"name", "hex", "expect"} <= values.keys(), f"vector lacks a field: {block!r}"
        vectors.append(
            Vector(values["name"], bytes.fromhex(values["hex"]), json.loads(values["expect"]))
        )
    return vectors


VECTORS = parse_vectors(PROTOCOL_MD.read_text(encoding="utf-8"))


def error_counts(stats: DecoderStats) -> dict[str, int]:
    return {kind: getattr(stats, kind) for kind in DecoderStats.ERROR_KINDS}


def check_outcome(vector: Vector, decoder: FrameDecoder, messages: list[protocol.Message]) -> None:
    got = [to_dict(message) for message in messages]
    assert got == vector.delivered, f"{vector.name}: expected {vector.delivered}, decoded {got}"
    expected_errors = dict.fromkeys(DecoderStats.ERROR_KINDS, 0)
    if vector.drop is not None:
        assert vector.drop in expected_errors, f"{vector.name}: unknown counter {vector.drop!r}"
        expected_errors[vector.drop] = 1
    counts = error_counts(decoder.stats)
    assert counts == expected_errors, f"{vector.name}: expected errors {expected_errors}, {counts}"
    assert decoder.stats.frames_ok == len(vector.delivered), f"{vector.name}: frames_ok"
    assert decoder.stats.bytes_in == len(vector.wire), f"{vector.name}: bytes_in"


def test_protocol_md_has_vectors_with_unique_names() -> None:
    names = [vector.name for vector in VECTORS]
    assert len(names) >= 20, f"expected the ~25 vectors of PROTOCOL.md, parsed {len(names)}"
    duplicates = {name for name in names if names.count(name) > 1}
    assert not duplicates, f"vector names must be unique, repeated: {duplicates}"


@pytest.mark.parametrize("vector", VECTORS, ids=[vector.name for vector in VECTORS])
def test_vector_decodes_as_specified(vector: Vector) -> None:
    decoder = FrameDecoder()
    messages = decoder.feed(vector.wire)
    check_outcome(vector, decoder, messages)


@pytest.mark.parametrize(
    "vector",
    [vector for vector in VECTORS if vector.drop is None],
    ids=[vector.name for vector in VECTORS if vector.drop is None],
)
def test_valid_vector_encodes_to_its_exact_bytes(vector: Vector) -> None:
    (message,) = FrameDecoder().feed(vector.wire)
    wire = encode(message)
    assert wire == vector.wire, f"{vector.name}: expected {vector.wire.hex(' ')}, {wire.hex(' ')}"


@pytest.mark.parametrize("vector", VECTORS, ids=[vector.name for vector in VECTORS])
def test_vector_fed_byte_by_byte_gives_the_same_result(vector: Vector) -> None:
    decoder = FrameDecoder()
    messages = []
    for index in range(len(vector.wire)):
        messages += decoder.feed(vector.wire[index : index + 1])
    check_outcome(vector, decoder, messages)


def test_every_message_type_has_a_valid_vector() -> None:
    covered = {vector.expect["type"] for vector in VECTORS if vector.drop is None}
    missing = [kind.name for kind in MessageType if kind.name not in covered]
    assert not missing, f"PROTOCOL.md section 10 needs a valid vector for each type: {missing}"


def test_every_error_counter_has_a_vector() -> None:
    covered = {vector.drop for vector in VECTORS if vector.drop is not None}
    missing = [kind for kind in DecoderStats.ERROR_KINDS if kind not in covered]
    assert not missing, f"PROTOCOL.md section 10 needs a vector for each error counter: {missing}"


def test_crc_is_ccitt_false_with_its_check_value() -> None:
    assert protocol.crc16(b"123456789") == 0x29B1, "CRC-16/CCITT-FALSE check value is 0x29B1"


def test_all_vectors_in_one_stream_give_all_results_in_order() -> None:
    decoder = FrameDecoder()
    stream = b"".join(vector.wire for vector in VECTORS)
    got = [to_dict(message) for message in decoder.feed(stream)]
    expected = [message for vector in VECTORS for message in vector.delivered]
    assert got == expected, "the vectors back to back must decode as they do one by one"
    drops = [vector.drop for vector in VECTORS if vector.drop is not None]
    expected_errors = {kind: drops.count(kind) for kind in DecoderStats.ERROR_KINDS}
    assert error_counts(decoder.stats) == expected_errors, "each drop counted once, by kind"


def test_all_vectors_fed_byte_by_byte_match_feeding_them_whole() -> None:
    stream = b"".join(vector.wire for vector in VECTORS)
    whole = FrameDecoder()
    whole_messages = whole.feed(stream)
    bytewise = FrameDecoder()
    bytewise_messages = []
    for index in range(len(stream)):
        bytewise_messages += bytewise.feed(stream[index : index + 1])
    assert bytewise_messages == whole_messages, "byte-by-byte feeding must deliver the same"
    assert bytewise.stats == whole.stats, "byte-by-byte feeding must count the same"
