"""The fleet's job desk: offer jobs to the heaters' shared subscription, follow them, count
each result once, and offer again what nobody took.

An offer goes to `<root>/<fleet>/jobs`; the broker hands it to one heater of the pool (MQTT v5
shared subscription) or, when no heater wants heat, to nobody. A job is offered again, under
the same id (heaters ignore ids they already hold):
- when no heater said anything about it within `offer_timeout_s` (no heater subscribed, or the
  offer was lost);
- at once when a heater answered `rejected` with reason `no_room` or `clock_unset` (not the
  job's fault);
- when the heater holding it `released` it (it stopped wanting heat): the offer then carries the
  checkpoint it handed back, so the next heater resumes instead of starting over.
- when the heater holding it went offline (its will, or a stop) and did not come back within
  `offline_grace_s`: a dead heater must not take its jobs with it.
A `rejected` for any other reason (invalid, expired) fails the job. The first `done` or
`failed` result of a job id is the one counted; later ones are duplicates (a heater that died
mid-hand-off and came back, a broker's redelivery).

Pure state and time in: `handle(message)` and `due(now)` return the offers to publish, so the
same desk runs against a real broker (`fleet submit`) or in a benchmark on a virtual clock.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from boiler_agent.fleet.messages import FleetMessage
from boiler_agent.telemetry.topics import DEFAULT_ROOT

OFFER_TIMEOUT_S = 60.0
REOFFER_AFTER_REJECT_S = 5.0  # a heater without room now may have room soon; others may take it
RETRYABLE = frozenset({"no_room", "clock_unset"})
FINAL = frozenset({"done", "failed", "cancelled"})
HELD = frozenset({"queued", "running", "preempted"})
OFFLINE_GRACE_S = 300.0  # a restart (systemd, an upgrade) comes back well within this


@dataclass
class FleetJob:
    job_id: str
    kernel: str
    params: dict[str, Any]
    state: str = "new"  # new, offered, queued, running, preempted, released, done, failed, ...
    heater: str | None = None
    progress: float = 0.0
    offers: int = 0
    handoffs: int = 0  # released by one heater and offered again with its checkpoint
    checkpoint: dict[str, Any] | None = None  # what the releasing heater handed back
    result: Any = None
    error: str | None = None
    submitted_s: float = 0.0
    finished_s: float | None = None
    next_offer_s: float | None = 0.0  # None: not to be offered (held, or finished)
    heaters: list[str] = field(default_factory=list)  # every heater that held it, in order

    def as_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "kernel": self.kernel,
            "state": self.state,
            "heater": self.heater,
            "progress": round(self.progress, 4),
            "offers": self.offers,
            "handoffs": self.handoffs,
            "heaters": self.heaters,
            "error": self.error,
            "submitted_s": self.submitted_s,
            "finished_s": self.finished_s,
        }


@dataclass(frozen=True)
class Offer:
    topic: str
    payload: bytes


class JobDesk:
    def __init__(
        self,
        fleet: str,
        *,
        root: str = DEFAULT_ROOT,
        offer_timeout_s: float = OFFER_TIMEOUT_S,
        offline_grace_s: float = OFFLINE_GRACE_S,
    ) -> None:
        self.fleet = fleet
        self.root = root
        self.offer_timeout_s = offer_timeout_s
        self.offline_grace_s = offline_grace_s
        self.jobs: dict[str, FleetJob] = {}
        self.duplicate_results = 0
        self.unknown_jobs = 0  # statuses of jobs this desk did not send

    @property
    def offer_topic(self) -> str:
        return f"{self.root}/{self.fleet}/jobs"

    @property
    def status_filter(self) -> str:
        """Every heater's job statuses and results in this fleet."""
        return f"{self.root}/{self.fleet}/+/jobs/#"

    @property
    def filters(self) -> list[str]:
        """What the desk subscribes to: job statuses and results, and heaters' availability."""
        return [self.status_filter, f"{self.root}/{self.fleet}/+/availability"]

    def submit(
        self, kernel: str, params: dict[str, Any], now_s: float, job_id: str | None = None
    ) -> FleetJob:
        job = FleetJob(job_id or uuid.uuid4().hex[:16], kernel, params, submitted_s=now_s)
        if job.job_id in self.jobs:
            raise ValueError(f"job id {job.job_id!r} was submitted already")
        self.jobs[job.job_id] = job
        return job

    def cancel(self, job_id: str) -> FleetJob:
        """Offer it no more; a heater that holds it finishes, and its result is not counted."""
        job = self.jobs[job_id]
        if job.state not in FINAL:
            job.state, job.next_offer_s = "cancelled", None
        return job

    def due(self, now_s: float) -> list[Offer]:
        """The offers to publish now: new jobs, and those nobody answered or took in time."""
        offers = []
        for job in self.jobs.values():
            if job.next_offer_s is None or now_s < job.next_offer_s:
                continue
            body: dict[str, Any] = {"schema": 1, "job_id": job.job_id, "kernel": job.kernel}
            body["params"] = job.params
            if job.checkpoint is not None:
                body["checkpoint"] = job.checkpoint
            offers.append(Offer(self.offer_topic, json.dumps(body).encode()))
            job.offers += 1
            if job.state in ("new", "released", "rejected") or job.state in HELD:
                job.state = "offered"
            job.next_offer_s = now_s + self.offer_timeout_s
        return offers

    def handle(self, message: FleetMessage, now_s: float) -> None:
        """A heater's job status or result, or its availability."""
        if message.kind == "availability" and message.heater is not None:
            self._availability(message.heater, str(message.body.get("value")), now_s)
            return
        if message.job_id is None or message.kind not in ("job_status", "job_result"):
            return
        job = self.jobs.get(message.job_id)
        if job is None:
            self.unknown_jobs += 1
            return
        body = message.body
        if message.kind == "job_result":
            self._result(job, body, message.heater, now_s)
        else:
            self._status(job, body, message.heater, now_s)

    def _status(
        self, job: FleetJob, body: dict[str, Any], heater: str | None, now_s: float
    ) -> None:
        if job.state in FINAL:
            return
        state = str(body.get("state"))
        if isinstance(body.get("progress"), int | float):
            job.progress = float(body["progress"])
        if state == "rejected":
            if body.get("reason") in RETRYABLE:
                job.state, job.next_offer_s = "rejected", now_s + REOFFER_AFTER_REJECT_S
            else:
                job.state, job.next_offer_s = "failed", None
                job.error = str(body.get("error") or body.get("reason") or "rejected")
                job.finished_s = now_s
            return
        if state == "released":
            job.handoffs += 1
            checkpoint = body.get("checkpoint")
            job.checkpoint = checkpoint if isinstance(checkpoint, dict) else None
            job.state, job.heater, job.next_offer_s = "released", None, now_s
            return
        # queued, running, preempted: a heater holds it; no more offers while it does.
        job.state, job.next_offer_s = state, None
        if heater is not None and heater != job.heater:
            job.heater = heater
            job.heaters.append(heater)

    def _result(
        self, job: FleetJob, body: dict[str, Any], heater: str | None, now_s: float
    ) -> None:
        if job.state in ("done", "failed"):
            self.duplicate_results += 1
            return
        if job.state == "cancelled":
            return
        job.state = "done" if body.get("state") == "done" else "failed"
        job.result = body.get("result")
        job.error = body.get("error") if job.state == "failed" else None
        job.finished_s, job.next_offer_s = now_s, None
        job.heater = heater or job.heater
        job.progress = 1.0 if job.state == "done" else job.progress

    def _availability(self, heater: str, value: str, now_s: float) -> None:
        """A heater gone offline (its will, or a clean stop) may never come back: what it holds
        is offered again after a grace; if it does come back and finishes, the first result
        counts and the other is a duplicate."""
        for job in self.jobs.values():
            if job.heater != heater or job.state in FINAL or job.state == "released":
                continue
            if value == "offline":
                job.next_offer_s = now_s + self.offline_grace_s
            elif value == "online" and job.state in HELD:
                job.next_offer_s = None  # back within the grace: it still holds the job

    def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for job in self.jobs.values():
            counts[job.state] = counts.get(job.state, 0) + 1
        return counts

    def finished(self) -> bool:
        return all(job.state in FINAL for job in self.jobs.values())
