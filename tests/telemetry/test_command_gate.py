"""The command gate: every refusal says why and is counted; duplicates never apply twice."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from boiler_agent.telemetry.command_gate import KNOWN_COMMANDS, CommandGate
from boiler_agent.telemetry.payloads import (
    BOILER_SETPOINT_RANGE_C,
    CommandReply,
    HaMode,
    HaSetpoint,
    RequestBirth,
    SetMode,
    SetpointOverride,
    dump,
)

NOW = datetime(2025, 1, 31, 18, 0, tzinfo=UTC)


def gate(**kwargs: Any) -> CommandGate:
    return CommandGate(clock=NOW.timestamp, **kwargs)


def raw(document: Any) -> bytes:
    return json.dumps(document).encode()


def refused(reply: CommandReply, reason: str) -> str:
    assert not reply.ok, reply
    assert reply.reason == reason, reply
    assert reply.error, reply
    return reply.error


def test_a_valid_override_is_accepted_and_handed_over() -> None:
    g = gate()
    reply, command = g.handle(
        "setpoint_override", raw({"cmd_id": "c1", "setpoint_c": 22.5, "duration_s": 3600})
    )
    assert reply.ok and reply.cmd_id == "c1" and reply.command == "setpoint_override"
    assert isinstance(command, SetpointOverride)
    assert command.setpoint_c == 22.5 and command.duration_s == 3600
    assert g.accepted["setpoint_override"] == 1 and not g.rejected


def test_set_mode_and_request_birth_are_accepted() -> None:
    g = gate()
    expires = (NOW + timedelta(hours=1)).isoformat()
    _, mode = g.handle("set_mode", raw({"cmd_id": "m1", "mode": "boost", "expires_at": expires}))
    assert isinstance(mode, SetMode) and mode.mode == "boost"
    assert mode.expires_at == NOW + timedelta(hours=1)
    _, birth = g.handle("request_birth", raw({"cmd_id": "b1"}))
    assert isinstance(birth, RequestBirth)


def test_oversized_is_refused_before_parsing() -> None:
    g = gate(max_bytes=64)
    # Not JSON at all: had it been parsed, the reason would be not_json.
    reply, command = g.handle("set_mode", b"{" * 65)
    assert "65 bytes, at most 64" in refused(reply, "oversized")
    assert command is None and g.rejected["oversized"] == 1


def test_not_json_and_not_object() -> None:
    g = gate()
    reply, command = g.handle("set_mode", b"{mode: heat}")
    assert "not JSON" in refused(reply, "not_json") and command is None
    reply, _ = g.handle("set_mode", b"\xff\xfe\x00")
    refused(reply, "not_json")
    reply, _ = g.handle("set_mode", b"[" * 2000 + b"]" * 2000)  # deeper than the parser goes
    refused(reply, "not_json")
    reply, _ = g.handle("set_mode", b'["heat"]')
    assert "JSON object, got list" in refused(reply, "not_object")
    assert g.rejected == {"not_json": 3, "not_object": 1}


def test_unknown_command_names_it_and_lists_the_known_ones() -> None:
    g = gate()
    reply, command = g.handle("reboot", raw({"cmd_id": "x"}))
    error = refused(reply, "unknown_command")
    assert '"reboot"' in error
    for name in KNOWN_COMMANDS:
        assert name in error
    assert command is None and g.rejected["unknown_command"] == 1


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            {"cmd_id": "c", "setpoint_c": 90, "duration_s": 60},
            "setpoint_c: Input should be less than or equal to 75 (got 90)",
        ),
        (
            {"cmd_id": "c", "setpoint_c": 50, "duration_s": 60},  # a boiler's, not a room's
            "setpoint_c: Input should be less than or equal to 35 (got 50)",
        ),
        (
            {"cmd_id": "c", "setpoint_c": "22", "duration_s": 60},
            'setpoint_c: Input should be a valid number (got "22")',
        ),
        (
            {"cmd_id": "c", "setpoint_c": 22, "duration_s": 60, "colour": "red"},
            'colour: Extra inputs are not permitted (got "red")',
        ),
        ({"setpoint_c": 22, "duration_s": 60}, "cmd_id: Field required"),
        ({"cmd_id": "c", "setpoint_c": 22}, "exactly one of expires_at or duration_s"),
        (
            {"cmd_id": "c", "setpoint_c": 22, "expires_at": "2030-01-01T00:00:00"},
            "expires_at: Input should have timezone info",
        ),
        ({"cmd_id": "c", "setpoint_c": 22, "duration_s": 0}, "duration_s: Input should be"),
        ({"schema": 2, "cmd_id": "c", "setpoint_c": 22, "duration_s": 60}, "schema: Input"),
    ],
)
def test_invalid_commands_name_the_field_and_value(document: Any, expected: str) -> None:
    g = gate()
    reply, command = g.handle("setpoint_override", raw(document))
    assert expected in refused(reply, "invalid")
    assert command is None and g.rejected == {"invalid": 1}
    assert reply.cmd_id == document.get("cmd_id")  # kept for the fleet, when readable


def test_wrong_types_are_not_coerced() -> None:
    reply, _ = gate().handle("set_mode", raw({"cmd_id": 7, "mode": "heat"}))
    assert "cmd_id: Input should be a valid string (got 7)" in refused(reply, "invalid")
    assert reply.cmd_id is None


def test_the_boiler_range_is_the_gates_to_choose() -> None:
    g = gate(setpoint_range_c=BOILER_SETPOINT_RANGE_C)
    reply, command = g.handle(
        "setpoint_override", raw({"cmd_id": "c", "setpoint_c": 55, "duration_s": 60})
    )
    assert reply.ok and isinstance(command, SetpointOverride)


def test_an_expired_command_is_refused_with_how_late() -> None:
    g = gate()
    past = (NOW - timedelta(minutes=5)).isoformat()
    reply, command = g.handle("set_mode", raw({"cmd_id": "m", "mode": "off", "expires_at": past}))
    error = refused(reply, "expired")
    assert error.startswith("expires_at: 2025-01-31T17:55:00+00:00") and "300 s ago" in error
    assert command is None and g.rejected["expired"] == 1


def test_expiry_follows_the_injected_clock() -> None:
    now = [NOW.timestamp()]
    g = CommandGate(clock=lambda: now[0])
    expires = (NOW + timedelta(seconds=10)).isoformat()
    reply, _ = g.handle("request_birth", raw({"cmd_id": "a", "expires_at": expires}))
    assert reply.ok
    now[0] += 10
    reply, _ = g.handle("request_birth", raw({"cmd_id": "b", "expires_at": expires}))
    refused(reply, "expired")


def test_a_duplicate_gets_the_original_reply_and_is_never_applied_again() -> None:
    g = gate()
    payload = raw({"cmd_id": "c1", "setpoint_c": 21, "duration_s": 60})
    first, command = g.handle("setpoint_override", payload)
    assert first.ok and command is not None
    again, command = g.handle("setpoint_override", payload)
    assert command is None
    assert again.duplicate and again.ok
    assert again.model_copy(update={"duplicate": False}) == first
    assert g.rejected["duplicate"] == 1 and g.accepted["setpoint_override"] == 1


def test_a_duplicate_of_an_expired_command_repeats_the_expiry() -> None:
    g = gate()
    payload = raw({"cmd_id": "old", "mode": "eco", "expires_at": "2020-01-01T00:00:00Z"})
    first, _ = g.handle("set_mode", payload)
    again, command = g.handle("set_mode", payload)
    assert command is None and again.duplicate and again.reason == "expired"
    assert again.error == first.error


def test_the_agents_applied_reply_is_what_duplicates_repeat() -> None:
    g = gate()
    payload = raw({"cmd_id": "c1", "setpoint_c": 30, "duration_s": 60})
    reply, _ = g.handle("setpoint_override", payload)
    g.record(reply.model_copy(update={"applied": {"setpoint_c": 28.0}}))
    again, _ = g.handle("setpoint_override", payload)
    assert again.applied == {"setpoint_c": 28.0} and again.duplicate


def test_an_invalid_command_does_not_burn_its_id() -> None:
    g = gate()
    bad, _ = g.handle("set_mode", raw({"cmd_id": "c1", "mode": "cool"}))
    refused(bad, "invalid")
    good, command = g.handle("set_mode", raw({"cmd_id": "c1", "mode": "heat"}))
    assert good.ok and command is not None


def test_memory_of_ids_is_bounded_oldest_forgotten_first() -> None:
    g = gate(remember=2)
    for cmd_id in ("a", "b", "c"):
        g.handle("request_birth", raw({"cmd_id": cmd_id}))
    _, command = g.handle("request_birth", raw({"cmd_id": "a"}))
    assert command is not None, "the oldest id should have been forgotten"
    _, command = g.handle("request_birth", raw({"cmd_id": "c"}))
    assert command is None and g.rejected["duplicate"] == 1


@pytest.mark.parametrize(
    ("payload", "expected"),
    [(b"21.5", 21.5), (b" 19 \n", 19.0), (b"5", 5.0)],
)
def test_home_assistant_setpoint_is_plain_text(payload: bytes, expected: float) -> None:
    reply, command = gate().handle("ha_setpoint", payload)
    assert reply.ok and reply.cmd_id is None
    assert command == HaSetpoint(setpoint_c=expected)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [(b"heat", "heat"), (b"off", "off"), (b"eco", "eco"), (b"boost", "boost"), (b"none", "heat")],
)
def test_home_assistant_mode_and_preset_are_plain_text(payload: bytes, expected: str) -> None:
    reply, command = gate().handle("ha_mode", payload)
    assert reply.ok and command == HaMode(mode=expected)  # type: ignore[arg-type]


def test_home_assistant_commands_are_last_writer_wins_not_duplicates() -> None:
    g = gate()
    for _ in range(3):
        _, command = g.handle("ha_setpoint", b"21")
        assert command is not None
    assert not g.rejected and g.accepted["ha_setpoint"] == 3


@pytest.mark.parametrize(
    ("name", "payload", "expected"),
    [
        ("ha_setpoint", b"warm", "setpoint_c: Input should be a valid number"),
        ("ha_setpoint", b"nan", "setpoint_c: Input should be a finite number"),
        ("ha_setpoint", b"40", "setpoint_c: Input should be less than or equal to 35 (got 40)"),
        ("ha_setpoint", b"\xff", "not UTF-8"),
        ("ha_mode", b"cool", "mode: Input should be 'heat', 'eco', 'off' or 'boost'"),
    ],
)
def test_bad_home_assistant_values_are_invalid(name: str, payload: bytes, expected: str) -> None:
    g = gate()
    reply, command = g.handle(name, payload)
    assert expected in refused(reply, "invalid") and command is None
    assert g.rejected == {"invalid": 1}


def test_every_reply_serialises_even_quoting_lone_surrogates() -> None:
    g = gate()
    for name, payload in [
        ("nope", b"x"),
        ("set_mode", b"x" * 5000),
        ("ha_mode", b"\x00"),
        ("\ud800", b"{}"),
        (
            "set_mode",
            json.dumps({"cmd_id": "c", "mode": "\ud800"}, ensure_ascii=False).encode(
                "utf-8", "surrogatepass"
            ),
        ),
    ]:
        reply, _ = g.handle(name, payload)
        CommandReply.model_validate_json(dump(reply))


names = st.sampled_from([*KNOWN_COMMANDS, "reboot", ""]) | st.text(max_size=80)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=20,
)
command_like = st.fixed_dictionaries(
    {},
    optional={
        "cmd_id": st.text(max_size=70) | st.integers(),
        "schema": st.integers(0, 2),
        "setpoint_c": st.floats() | st.integers() | st.text(max_size=5),
        "duration_s": st.floats() | st.integers(),
        "expires_at": st.datetimes(timezones=st.just(UTC)).map(datetime.isoformat)
        | st.text(max_size=30),
        "mode": st.sampled_from(["heat", "eco", "off", "boost", "cool", ""]),
        "extra": json_values,
    },
)


@settings(max_examples=300, deadline=None)
@given(name=names, payload=st.binary(max_size=300))
def test_arbitrary_bytes_never_raise(name: str, payload: bytes) -> None:
    reply, command = gate(max_bytes=200).handle(name, payload)
    assert reply.ok == (command is not None)
    dump(reply)  # whatever came in, the reply can be sent


@settings(max_examples=300, deadline=None)
@given(name=names, document=json_values | command_like)
def test_arbitrary_json_never_raises(name: str, document: Any) -> None:
    g = gate()
    reply, command = g.handle(name, json.dumps(document).encode())
    assert reply.ok == (command is not None)
    assert sum(g.rejected.values()) + sum(g.accepted.values()) == 1
    CommandReply.model_validate_json(dump(reply))


def test_an_expiry_beyond_a_week_is_refused_as_invalid() -> None:
    gate = CommandGate(lambda: 1_800_000_000.0)
    reply, command = gate.handle(
        "set_mode", b'{"cmd_id": "far", "mode": "eco", "expires_at": "9999-12-31T23:59:59-12:00"}'
    )
    assert command is None and reply.reason == "invalid"
    assert "more than 7 days ahead" in str(reply.error)


def test_an_expiry_while_the_clock_is_unset_is_refused_as_clock_unset() -> None:
    now = [1_000_000.0]  # 1970-01-12: no clock battery, NTP not answered yet
    g = CommandGate(clock=lambda: now[0])
    expires = (NOW + timedelta(hours=1)).isoformat()
    reply, command = g.handle(
        "set_mode", raw({"cmd_id": "m", "mode": "eco", "expires_at": expires})
    )
    error = refused(reply, "clock_unset")
    assert "clock" in error and command is None
    assert g.rejected["clock_unset"] == 1
    # Without an expiry there is nothing to judge: taken as usual.
    reply, command = g.handle("set_mode", raw({"cmd_id": "n", "mode": "eco"}))
    assert reply.ok and isinstance(command, SetMode)
    # Not remembered: sent again once the clock is set, the same cmd_id is taken.
    now[0] = NOW.timestamp()
    reply, command = g.handle(
        "set_mode", raw({"cmd_id": "m", "mode": "eco", "expires_at": expires})
    )
    assert reply.ok and isinstance(command, SetMode) and not reply.duplicate
