"""The fleet's job desk: offers, re-offers, hand-offs and results counted once."""

from __future__ import annotations

import json
from typing import Any

from boiler_agent.fleet.dispatcher import OFFER_TIMEOUT_S, REOFFER_AFTER_REJECT_S, JobDesk
from boiler_agent.fleet.messages import FleetMessage

PARAMS = {"n": 16, "rhs": 40, "seed": 1}


def _status(job_id: str, heater: str, **body: Any) -> FleetMessage:
    topic = f"dh/v1/north/{heater}/jobs/{job_id}/status"
    return FleetMessage(topic, "north", heater, "job_status", job_id, body)


def _result(job_id: str, heater: str, **body: Any) -> FleetMessage:
    topic = f"dh/v1/north/{heater}/jobs/{job_id}/result"
    return FleetMessage(topic, "north", heater, "job_result", job_id, body)


def test_a_job_nobody_answers_is_offered_again_after_the_timeout() -> None:
    desk = JobDesk("north")
    job = desk.submit("linsolve", PARAMS, 0.0, job_id="j1")
    (offer,) = desk.due(0.0)
    assert offer.topic == "dh/v1/north/jobs"
    assert json.loads(offer.payload) == {
        "schema": 1, "job_id": "j1", "kernel": "linsolve", "params": PARAMS
    }  # fmt: skip
    assert desk.due(OFFER_TIMEOUT_S - 1) == []
    assert len(desk.due(OFFER_TIMEOUT_S)) == 1 and job.offers == 2


def test_no_room_is_offered_again_soon_and_invalid_fails() -> None:
    desk = JobDesk("north")
    desk.submit("linsolve", PARAMS, 0.0, job_id="j1")
    desk.submit("linsolve", PARAMS, 0.0, job_id="j2")
    desk.due(0.0)
    desk.handle(_status("j1", "h1", state="rejected", reason="no_room", progress=0.0), 1.0)
    desk.handle(_status("j2", "h1", state="rejected", reason="invalid", error="bad n"), 1.0)
    assert [json.loads(o.payload)["job_id"] for o in desk.due(1.0 + REOFFER_AFTER_REJECT_S)] == [
        "j1"
    ]
    assert desk.jobs["j2"].state == "failed" and desk.jobs["j2"].error == "bad n"


def test_a_held_job_is_not_offered_and_its_result_counts_once() -> None:
    desk = JobDesk("north")
    job = desk.submit("linsolve", PARAMS, 0.0, job_id="j1")
    desk.due(0.0)
    desk.handle(_status("j1", "h1", state="running", progress=0.5), 2.0)
    assert desk.due(10 * OFFER_TIMEOUT_S) == []
    desk.handle(_result("j1", "h1", state="done", result={"x": 1}), 3.0)
    desk.handle(_result("j1", "h2", state="done", result={"x": 1}), 4.0)
    assert job.state == "done" and job.result == {"x": 1} and job.heater == "h1"
    assert desk.duplicate_results == 1 and desk.finished()


def test_a_released_job_goes_to_the_next_heater_with_its_checkpoint() -> None:
    desk = JobDesk("north")
    job = desk.submit("linsolve", PARAMS, 0.0, job_id="j1")
    desk.due(0.0)
    desk.handle(_status("j1", "h1", state="running", progress=0.3), 1.0)
    checkpoint = {"format": 1, "shards": {}}
    desk.handle(_status("j1", "h1", state="released", progress=0.3, checkpoint=checkpoint), 2.0)
    (offer,) = desk.due(2.0)
    assert json.loads(offer.payload)["checkpoint"] == checkpoint
    desk.handle(_status("j1", "h2", state="running", progress=0.4), 3.0)
    assert job.heaters == ["h1", "h2"] and job.handoffs == 1


def test_a_cancelled_job_is_offered_no_more_and_its_result_is_not_counted() -> None:
    desk = JobDesk("north")
    job = desk.submit("linsolve", PARAMS, 0.0, job_id="j1")
    desk.due(0.0)
    desk.cancel("j1")
    assert desk.due(10 * OFFER_TIMEOUT_S) == []
    desk.handle(_result("j1", "h1", state="done", result=1), 5.0)
    assert job.state == "cancelled" and job.result is None


def test_statuses_of_jobs_it_did_not_send_are_counted_not_followed() -> None:
    desk = JobDesk("north")
    desk.handle(_status("other", "h1", state="running"), 0.0)
    assert desk.unknown_jobs == 1 and desk.jobs == {}


def test_a_job_on_a_heater_gone_offline_is_offered_again_after_the_grace() -> None:
    desk = JobDesk("north", offline_grace_s=300.0)
    job = desk.submit("linsolve", PARAMS, 0.0, job_id="j1")
    desk.due(0.0)
    desk.handle(_status("j1", "h1", state="running", progress=0.2), 1.0)
    offline = FleetMessage(
        "dh/v1/north/h1/availability", "north", "h1", "availability", None, {"value": "offline"}
    )
    desk.handle(offline, 10.0)
    assert desk.due(200.0) == []
    assert len(desk.due(310.0)) == 1  # h1 did not come back: offered again
    desk.handle(_status("j1", "h2", state="running", progress=0.0), 311.0)
    desk.handle(_result("j1", "h2", state="done", result=7), 400.0)
    desk.handle(_result("j1", "h1", state="done", result=7), 500.0)  # h1 came back and finished
    assert job.state == "done" and job.heater == "h2" and desk.duplicate_results == 1


def test_a_heater_back_within_the_grace_keeps_its_job() -> None:
    desk = JobDesk("north", offline_grace_s=300.0)
    desk.submit("linsolve", PARAMS, 0.0, job_id="j1")
    desk.due(0.0)
    desk.handle(_status("j1", "h1", state="running", progress=0.2), 1.0)
    for value, at in (("offline", 10.0), ("online", 60.0)):
        message = FleetMessage("t", "north", "h1", "availability", None, {"value": value})
        desk.handle(message, at)
    assert desk.due(1000.0) == []
