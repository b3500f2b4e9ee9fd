"""Jobs follow the heat: a heater that no longer wants heat releases a fleet job with its
checkpoints; the fleet offers it again; another heater resumes it (or starts afresh when the
checkpoint was damaged in flight)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from boiler_agent.compute import checkpoint, kernels
from boiler_agent.compute.specs import EXAMPLES, get_spec
from boiler_agent.compute.store import JobStore
from boiler_agent.fleet.dispatcher import JobDesk
from boiler_agent.fleet.messages import parse
from boiler_agent.telemetry.client import IncomingMessage
from boiler_agent.telemetry.job_feed import JobFeed
from boiler_agent.telemetry.topics import Topics
from tests.telemetry.test_job_feed import Clock, Monotonic, Recorder

KERNEL = "mandelbrot"
PARAMS: dict[str, Any] = {**EXAMPLES[KERNEL], "width": 1024, "height": 320, "max_iter": 16}
HOLD_S = 600.0


class Heater:
    def __init__(self, root: Path, name: str) -> None:
        self.name = name
        self.store = JobStore(root / name / "jobs.sqlite")
        self.checkpoints = root / name / "checkpoints"
        self.transport, self.monotonic = Recorder(), Monotonic()
        self.events: list[tuple[str, str, dict[str, Any]]] = []
        self.feed = JobFeed(
            self.transport,
            Topics("north", name),
            self.store,
            pool="p",
            clock=Clock(),
            monotonic=self.monotonic,
            workers=2,
            checkpoint_dir=self.checkpoints,
            release_after_s=HOLD_S,
            event=lambda kind, reason, **details: self.events.append((kind, reason, details)),
        )

    def take(self, payload: bytes) -> list[str]:
        self.feed.on_message(IncomingMessage("dh/v1/north/jobs", payload, None, None, 0.0))
        return self.feed.process()

    def statuses(self) -> list[tuple[str, dict[str, Any]]]:
        return [(t, d) for t, d in self.transport.published if t.endswith("/status")]


def _half_done(heater: Heater, job_id: str) -> None:
    """A worker ran shard 1 halfway, checkpointed and was preempted when the heat was cut."""
    record = heater.store.get(job_id)
    assert record is not None
    spec = get_spec(KERNEL)
    params = spec.params_model.model_validate(record.params)
    shard = spec.plan(params)[1]
    run = kernels.load_run_class(spec)(params, shard)
    run.step(shard.units // 2)
    digest = checkpoint.params_digest(KERNEL, record.params)
    path = checkpoint.checkpoint_path(heater.checkpoints, job_id, 1)
    checkpoint.save(path, run.state(), job_id=job_id, shard=1, digest=digest)
    heater.store.shard_started(job_id, 1)
    heater.store.shard_checkpointed(job_id, 1, run.units_done, str(path))
    heater.store.shard_preempted(job_id, 1)


def _handed_over(tmp_path: Path, damage: bool = False) -> tuple[Heater, Heater, JobDesk]:
    desk = JobDesk("north")
    desk.submit(KERNEL, PARAMS, 0.0, job_id="j1")
    (offer,) = desk.due(0.0)
    first, second = Heater(tmp_path, "h1"), Heater(tmp_path, "h2")
    assert first.take(offer.payload) == ["j1"]
    _half_done(first, "j1")
    assert first.feed.release_unwanted(wants_heat=True) == []
    assert first.feed.release_unwanted(wants_heat=False) == []  # the hold starts
    first.monotonic.now += HOLD_S
    assert first.feed.release_unwanted(wants_heat=False) == ["j1"]
    assert first.store.get("j1") is None and not list(first.checkpoints.glob("j1.*"))
    topic, status = first.statuses()[-1]
    assert status["state"] == "released" and status["schema"] == 2
    if damage:
        status["checkpoint"]["shards"][0]["sha256"] = "0" * 64
    message = parse(topic, json.dumps(status).encode())
    assert message is not None
    desk.handle(message, 1.0)
    (again,) = desk.due(1.0)
    assert json.loads(again.payload)["checkpoint"] == status["checkpoint"]
    assert second.take(again.payload) == ["j1"]
    return first, second, desk


def test_a_job_released_for_want_of_heat_resumes_on_another_heater(tmp_path: Path) -> None:
    _, second, desk = _handed_over(tmp_path)
    assert second.feed.stats.resumed == 1 and second.events == []
    shard = second.store.shards("j1")[1]
    assert shard.units_done > 0 and shard.checkpoint is not None
    assert desk.jobs["j1"].handoffs == 1


def test_a_checkpoint_damaged_in_flight_is_refused_and_the_job_starts_afresh(
    tmp_path: Path,
) -> None:
    _, second, _ = _handed_over(tmp_path, damage=True)
    assert second.feed.stats.handoffs_refused == 1
    assert [reason for _, reason, _ in second.events] == ["handoff_refused"]
    assert all(s.units_done == 0 for s in second.store.shards("j1"))
    assert second.store.get("j1") is not None  # taken all the same, from zero


def test_a_running_job_is_not_released_until_its_worker_has_stopped(tmp_path: Path) -> None:
    heater = Heater(tmp_path, "h1")
    desk = JobDesk("north")
    desk.submit(KERNEL, PARAMS, 0.0, job_id="j1")
    (offer,) = desk.due(0.0)
    heater.take(offer.payload)
    heater.store.shard_started("j1", 0)
    heater.feed.release_unwanted(wants_heat=False)
    heater.monotonic.now += 2 * HOLD_S
    assert heater.feed.release_unwanted(wants_heat=False) == []
    heater.store.shard_preempted("j1", 0)
    assert heater.feed.release_unwanted(wants_heat=False) == ["j1"]


def test_local_jobs_never_reach_the_broker_and_are_never_released(tmp_path: Path) -> None:
    from boiler_agent.compute.jobs import validate_job

    heater = Heater(tmp_path, "h1")
    local = validate_job(KERNEL, PARAMS, job_id="local-1")
    assert heater.store.submit(local)  # `boiler-agent job submit`: not from the fleet
    heater.store.shard_started("local-1", 0)
    heater.store.shard_preempted("local-1", 0)
    heater.feed.release_unwanted(wants_heat=False)
    heater.monotonic.now += 2 * HOLD_S
    assert heater.feed.release_unwanted(wants_heat=False) == []
    heater.feed.publish_statuses()
    heater.store.job_done("local-1", {"secret": 42})
    heater.feed.publish_results()
    assert heater.transport.published == []
    assert heater.store.get("local-1") is not None


def test_a_restarted_heater_follows_the_fleet_jobs_it_held(tmp_path: Path) -> None:
    heater = Heater(tmp_path, "h1")
    desk = JobDesk("north")
    desk.submit(KERNEL, PARAMS, 0.0, job_id="j1")
    (offer,) = desk.due(0.0)
    heater.take(offer.payload)
    heater.store.shard_started("j1", 0)
    restarted = Heater(tmp_path, "h1")  # the same store, a new feed: what a restart makes
    assert restarted.feed.publish_statuses() == 1
    assert [d["state"] for _, d in restarted.statuses()] == ["running"]
    restarted.monotonic.now += 2 * HOLD_S
    restarted.store.shard_preempted("j1", 0)
    restarted.feed.release_unwanted(wants_heat=False)
    restarted.monotonic.now += HOLD_S
    assert restarted.feed.release_unwanted(wants_heat=False) == ["j1"]
