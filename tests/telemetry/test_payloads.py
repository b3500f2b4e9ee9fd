"""Payload models: `schema` on the wire, unknown keys refused, bounds, JSON round trips."""

from __future__ import annotations

import json
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from boiler_agent.telemetry.payloads import (
    PAYLOADS,
    CommandReply,
    Energy,
    Event,
    JobResult,
    JobStatus,
    SetMode,
    SetpointOverride,
    State,
    Telemetry,
    all_schemas,
    dump,
)
from boiler_agent.telemetry.topics import SCHEMA_VERSION
from tests.factories import NOW, birth, telemetry


def test_the_json_key_is_schema_and_carries_the_version() -> None:
    document = json.loads(dump(telemetry()))
    assert document["schema"] == SCHEMA_VERSION
    assert "schema_version" not in document


def test_every_schema_names_the_schema_key_and_forbids_unknown_keys() -> None:
    for name, schema in all_schemas().items():
        if name in ("JobOffer", "JobStatus"):  # schema 2 added `released` and `checkpoint`
            assert schema["properties"]["schema"]["enum"] == [1, 2], name
        else:
            assert schema["properties"]["schema"]["const"] == SCHEMA_VERSION, name
        assert "schema_version" not in schema["properties"], name
        assert schema["additionalProperties"] is False, name


def test_dump_is_compact_utf8_and_keeps_historical_false_for_the_outbox() -> None:
    raw = dump(telemetry())
    assert b" " not in raw and b"\n" not in raw
    document = json.loads(raw.decode("utf-8"))
    assert document["historical"] is False  # the client flips it to true on late sends
    assert document["ts"] == "2025-01-31T18:00:00Z"


@pytest.mark.parametrize(
    "model",
    [telemetry(), birth()],
    ids=["telemetry", "birth"],
)
def test_a_payload_survives_a_json_round_trip(model: BaseModel) -> None:
    again = type(model).model_validate_json(dump(model), strict=True)
    assert again == model


def test_unknown_keys_are_refused_at_every_level() -> None:
    with pytest.raises(ValidationError, match="extra"):
        telemetry(colour="blue")
    with pytest.raises(ValidationError, match=r"temperatures\.floor_c"):
        telemetry(temperatures={"floor_c": 20.0})


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"duty": 1.5}, "duty"),
        ({"seq": -1}, "seq"),
        ({"power_w": float("nan")}, "power_w"),
        ({"ts": "2025-01-31T18:00:00"}, "ts"),  # no UTC offset: ambiguous
        ({"energy": {"total_kwh": 1.0, "wanted_kwh": 2.0}}, "wanted_kwh"),
        ({"msg_id": ""}, "msg_id"),
    ],
)
def test_out_of_range_values_name_the_field(changes: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError, match=field):
        telemetry(**changes)


def test_a_payload_of_another_schema_version_is_refused() -> None:
    document = json.loads(dump(telemetry()))
    document["schema"] = 2
    with pytest.raises(ValidationError, match="schema"):
        Telemetry.model_validate(document)


def test_energy_reused_as_wanted_heat_cannot_exceed_the_total() -> None:
    assert Energy(total_kwh=2.0, wanted_kwh=2.0).wanted_kwh == 2.0
    with pytest.raises(ValidationError, match="must not exceed"):
        Energy(total_kwh=1.0, wanted_kwh=1.5)


def test_state_event_and_job_payloads_validate() -> None:
    State(
        mode="eco",
        setpoint_c=19.0,
        setpoint_source="override",
        override_until=NOW,
        accepting_jobs=False,
        safety_trips=["cpu_hot"],
    )
    event = Event(
        boot_id="b1",
        seq=3,
        msg_id="b1-e3",
        ts=NOW,
        kind="safety_trip",
        reason="over_temperature",
        details={"temp_c": 31.5, "limit_c": 30, "latched": True, "sensor": "air"},
    )
    assert json.loads(dump(event))["details"]["latched"] is True
    with pytest.raises(ValidationError, match="kind"):
        Event.model_validate({**event.model_dump(by_alias=True), "kind": "party"})
    JobStatus(job_id="j1", state="running", progress=0.5, ts=NOW)
    JobResult(job_id="j1", state="done", result={"sum": [1, 2.5, None]}, ts=NOW)
    with pytest.raises(ValidationError, match="error"):
        JobResult(job_id="j1", state="failed", ts=NOW)


def test_a_setpoint_override_needs_exactly_one_end() -> None:
    SetpointOverride(cmd_id="c1", setpoint_c=22.0, duration_s=3600)
    SetpointOverride(cmd_id="c1", setpoint_c=22.0, expires_at=NOW)
    neither: dict[str, Any] = {}
    for ends in (neither, {"duration_s": 60, "expires_at": NOW}):
        with pytest.raises(ValidationError, match="exactly one"):
            SetpointOverride(cmd_id="c1", setpoint_c=22.0, **ends)
    with pytest.raises(ValidationError, match="duration_s"):
        SetpointOverride(cmd_id="c1", setpoint_c=22.0, duration_s=8 * 24 * 3600)


def test_a_reply_has_an_error_exactly_when_refused() -> None:
    CommandReply(cmd_id="c1", ok=True)
    CommandReply(cmd_id=None, ok=False, reason="not_json", error="payload is not JSON")
    with pytest.raises(ValidationError):
        CommandReply(cmd_id="c1", ok=True, error="but why")
    with pytest.raises(ValidationError):
        CommandReply(cmd_id="c1", ok=False)


def test_every_payload_model_is_listed_once() -> None:
    names = [model.__name__ for model in PAYLOADS]
    assert len(names) == len(set(names))
    assert set(names) == set(all_schemas())
    assert SetMode.__name__ in names
