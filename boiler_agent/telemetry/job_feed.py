"""Jobs from the fleet: taken through an MQTT v5 shared subscription only while heat is wanted.

The fleet publishes job offers on `dh/v1/<fleet>/jobs`; every heater that wants heat and has
room subscribes with `$share/<pool>/...`, so the broker hands each offer to one of them. The
heat demand gates the work queue: a heater that needs no heat unsubscribes and takes nothing.

An offer is taken only while there is room: fewer than `max_pending` fleet jobs unfinished
(two per worker: one running, one waiting). An offer beyond that is answered at once with a
`rejected` status, reason `no_room`, and is not remembered: the fleet offers it again, here or
elsewhere, and nothing is silently held. While the wall clock is plainly unset (before the
build date) an offer with `expires_at` is rejected as `clock_unset`, also not remembered. The
subscription's hold is measured on the monotonic clock; the wall clock only stamps statuses.

Every state change of a job taken here is published on its status topic (the topic names this
heater): `queued` when taken, `running` when a worker starts it, `preempted` when heat demand
paused it, then its result; and while it runs, its `progress` at most every PROGRESS_EVERY_S and
only when it moved by PROGRESS_STEP, so a fleet of busy heaters does not flood the broker.

Brokers deliver duplicates and lose messages (eclipse-mosquitto issue #2662), so job ids are
idempotent: a job id this heater already has is recognised and ignored, its status is published
once, and its result once (marked in the job store, so a restart does not publish it again).

Threads: `on_message` runs on paho's thread and only appends to a bounded queue; `process`,
`gate` and `publish_results` run on the compute thread, which owns the job store.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, Protocol, cast, get_args

from pydantic import ValidationError

from boiler_agent.compute.handoff import (
    MAX_BUNDLE_BYTES,
    HandoffError,
    export_bundle,
    restore_bundle,
)
from boiler_agent.compute.jobs import JobError, JobState, validate_job
from boiler_agent.compute.store import JobStore
from boiler_agent.telemetry.client import IncomingMessage
from boiler_agent.telemetry.inbox import Inbox
from boiler_agent.telemetry.outbox import Priority
from boiler_agent.telemetry.payloads import (
    JobOffer,
    JobRejectReason,
    JobResult,
    JobStatus,
    dump,
)
from boiler_agent.telemetry.payloads import JobState as StatusState
from boiler_agent.telemetry.topics import Topics, check_id
from boiler_agent.telemetry.wall_clock import clock_is_set

log = logging.getLogger(__name__)

MAX_OFFER_BYTES = 64 * 1024
# An offer that carries a released job's checkpoints (schema 2): the bundle and its envelope.
MAX_HANDOFF_OFFER_BYTES = MAX_OFFER_BYTES + MAX_BUNDLE_BYTES + 16 * 1024
EventSink = Callable[..., Any]  # Uplink.publish_event(kind, reason, **details)
QUEUE_LIMIT = 256  # offers waiting for the compute thread; more are refused as overflow
REMEMBER_REJECTED = 1024
PENDING_PER_WORKER = 2  # fleet jobs unfinished per worker: one running, one ready to start
JOB_REJECT_REASONS: frozenset[str] = frozenset(get_args(JobRejectReason))
PROGRESS_EVERY_S = 60.0  # progress of a running job, at most this often
PROGRESS_STEP = 0.01  # ... and only when it moved by at least this share


@dataclass
class Published:
    """The last status published for a job held here."""

    state: StatusState | None  # None: not published by this run yet (held before a restart)
    progress: float
    at_s: float  # monotonic


class Transport(Protocol):
    """What the feed needs from the MQTT client (FleetClient has it)."""

    def publish(
        self, topic: str, payload: bytes, *, priority: Priority = ..., retain: bool = ...
    ) -> None: ...

    def subscribe(self, topic_filter: str, handler: Callable[[IncomingMessage], None]) -> None: ...

    def unsubscribe(self, topic_filter: str) -> None: ...

    def manage(self, topic_filter: str) -> None: ...


@dataclass
class JobFeedStats:
    offered: int = 0
    accepted: int = 0
    duplicates: int = 0
    results_published: int = 0
    released: int = 0  # handed back to the fleet with their checkpoints
    resumed: int = 0  # taken with a checkpoint bundle that was used
    handoffs_refused: int = 0  # taken with a bundle that was corrupt or foreign: from zero
    subscribed: bool = False
    subscription_changes: int = 0
    rejected: collections.Counter[str] = field(default_factory=collections.Counter)


class JobFeed:
    def __init__(
        self,
        transport: Transport,
        topics: Topics,
        store: JobStore,
        *,
        pool: str,
        clock: Callable[[], float],
        monotonic: Callable[[], float] = time.monotonic,
        hold_s: float = 30.0,
        memory_budget_bytes: int | None = None,
        workers: int | None = None,
        checkpoint_dir: Path | None = None,
        release_after_s: float = 0.0,
        event: EventSink | None = None,
    ) -> None:
        """`clock` is the wall clock (statuses' `ts`, offers' `expires_at`); `monotonic` times
        the subscription's hold; `workers` (default: the CPUs) sizes the room for fleet jobs."""
        self._transport = transport
        self._topics = topics
        self._store = store
        self._clock = clock
        self._monotonic = monotonic
        self._hold_s = hold_s
        self.max_pending = PENDING_PER_WORKER * (workers or os.cpu_count() or 1)
        self._memory_budget = memory_budget_bytes
        self.subscription = topics.jobs_shared_subscription(pool)
        transport.manage(self.subscription)
        self.stats = JobFeedStats()
        self.incoming = Inbox(QUEUE_LIMIT)
        self._rejected_ids: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._last_change_s: float | None = None  # on the monotonic clock
        # Fleet jobs held and not finished; those taken before a restart are followed again.
        self._held: dict[str, Published] = {
            job_id: Published(None, 0.0, monotonic()) for job_id in store.remote_jobs_unfinished()
        }
        # Jobs follow the heat: after this long without heat wanted, held jobs go back.
        self._checkpoint_dir = checkpoint_dir
        self._release_after_s = release_after_s if checkpoint_dir is not None else 0.0
        self._event = event
        self._no_heat_since: float | None = None
        self._kept: set[str] = set()  # too large to hand back: they wait for heat here

    # -- paho thread ------------------------------------------------------------------------

    def leave(self) -> None:
        """Stop taking offers now (at shutdown: the pool's other heaters get them)."""
        if self.stats.subscribed:
            self._transport.unsubscribe(self.subscription)
            self.stats.subscribed = False

    def on_message(self, message: IncomingMessage) -> None:
        self.incoming.put(message)

    # -- compute thread ---------------------------------------------------------------------

    def gate(self, wants_heat: bool, has_room: bool) -> bool:
        """Subscribe while heat is wanted and there is room; hold each change for `hold_s`."""
        want = wants_heat and has_room
        if want == self.stats.subscribed:
            return want
        now = self._monotonic()
        # Cutting is immediate when there is no room (taking jobs we cannot run helps nobody);
        # otherwise both directions wait out the hold, so a thermostat hovering at the setpoint
        # does not churn subscriptions at the broker.
        holding = self._last_change_s is not None and now - self._last_change_s < self._hold_s
        if holding and (want or has_room):
            return self.stats.subscribed
        if want:
            self._transport.subscribe(self.subscription, self.on_message)
            log.info("jobs: taking offers from %s (heat wanted, room for work)", self.subscription)
        else:
            self._transport.unsubscribe(self.subscription)
            reason = "no room for more work" if not has_room else "no heat wanted"
            log.info("jobs: not taking offers (%s)", reason)
        self.stats.subscribed = want
        self.stats.subscription_changes += 1
        self._last_change_s = now
        return want

    def process(self) -> list[str]:
        """Validate and store the offers received so far; returns the ids accepted."""
        batch = self.incoming.drain()
        if self.incoming.overflow:
            self.stats.rejected["overflow"] = self.incoming.overflow
        accepted: list[str] = []
        for message in batch:
            self.stats.offered += 1
            try:
                job_id = self._take(message.payload)
            except Exception:  # one offer must never take the daemon or the batch with it
                log.exception("jobs: an offer could not be handled; dropped")
                self.stats.rejected["error"] += 1
                continue
            if job_id is not None:
                accepted.append(job_id)
        return accepted

    def publish_results(self) -> int:
        """Publish the result of every finished fleet job not published yet, once each."""
        published = 0
        for record in self._store.remote_results_to_publish():
            state: Literal["done", "failed"] = "done" if record.state.value == "done" else "failed"
            result = JobResult(
                job_id=record.id,
                state=state,
                result=record.result if state == "done" else None,
                error=(record.error or "failed") if state == "failed" else None,
                ts=_now(self._clock),
            )
            self._transport.publish(self._topics.job_result(record.id), dump(result))
            self._store.mark_result_published(record.id)
            published += 1
        self.stats.results_published += published
        return published

    def release_unwanted(self, wants_heat: bool) -> list[str]:
        """Hand back the held jobs no worker runs once heat has not been wanted for the hold.

        Each goes with its checkpoints in a `released` status, for the fleet to offer to a heater
        that wants heat, and leaves this heater's store. A job still running (a worker stops at
        a chunk boundary and checkpoints once the heat is cut) goes at a later period.
        """
        now = self._monotonic()
        if wants_heat or not self._release_after_s:
            self._no_heat_since = None
            return []
        if self._no_heat_since is None:
            self._no_heat_since = now
        if now - self._no_heat_since < self._release_after_s:
            return []
        released = []
        for job_id in list(self._held):
            record = self._store.get(job_id)
            if record is None or job_id in self._kept:
                continue
            if record.state.value not in ("queued", "preempted"):
                continue
            if self._release(job_id):
                released.append(job_id)
        return released

    def _release(self, job_id: str) -> bool:
        try:
            bundle = export_bundle(self._store, job_id)
        except HandoffError as error:
            self._kept.add(job_id)
            log.warning("jobs: %s stays here: %s", job_id, error)
            if self._event is not None:
                self._event("fault", "handoff_too_large", job_id=job_id)
            return False
        progress = self._store.progress(job_id)
        status = JobStatus(
            job_id=job_id,
            state="released",
            progress=progress,
            checkpoint=bundle,
            ts=_now(self._clock),
        )
        self._transport.publish(self._topics.job_status(job_id), dump(status))
        for path in self._store.drop_job(job_id, counted_as=JobState.PREEMPTED):
            with contextlib.suppress(OSError):
                Path(path).unlink(missing_ok=True)  # the bundle carried them away
        del self._held[job_id]
        self.stats.released += 1
        log.info(
            "jobs: released %s to the fleet at %.0f%% (%d files, no heat wanted here)",
            job_id,
            100 * progress,
            len(bundle["shards"]),
        )
        return True

    def _resume(self, job_id: str, bundle: Any) -> None:
        """Use a received checkpoint bundle, or start afresh and say why."""
        if self._checkpoint_dir is None:
            return
        try:
            restored = restore_bundle(self._store, job_id, bundle, self._checkpoint_dir)
        except HandoffError as error:
            self.stats.handoffs_refused += 1
            log.warning("jobs: %s starts from zero: its checkpoint was refused: %s", job_id, error)
            if self._event is not None:
                self._event("fault", "handoff_refused", job_id=job_id, why=str(error)[:200])
            return
        self.stats.resumed += 1
        log.info(
            "jobs: %s resumes here: %d shards from their checkpoints, %d already finished",
            job_id,
            restored.shards_resumed,
            restored.shards_finished,
        )

    def publish_statuses(self) -> int:
        """Publish each held job's state change, and its progress at a bounded rate."""
        published = 0
        now = self._monotonic()
        found = self._store.states_and_progress(self._held)
        for job_id, last in list(self._held.items()):
            job_state, progress = found.get(job_id, (None, 0.0))
            if job_state is None or job_state.value in ("done", "failed"):
                del self._held[job_id]  # its result says the rest (publish_results)
                continue
            moved = progress - last.progress >= PROGRESS_STEP
            if job_state.value == last.state and not (
                moved and now - last.at_s >= PROGRESS_EVERY_S
            ):
                continue
            state: StatusState = job_state.value
            status = JobStatus(job_id=job_id, state=state, progress=progress, ts=_now(self._clock))
            self._transport.publish(self._topics.job_status(job_id), dump(status))
            self._held[job_id] = Published(state, progress, now)
            published += 1
        return published

    # -- helpers ----------------------------------------------------------------------------

    def _take(self, payload: bytes) -> str | None:
        if len(payload) > MAX_HANDOFF_OFFER_BYTES:
            self._reject(None, "oversized", _too_big(len(payload)))
            return None
        try:
            document: Any = json.loads(payload)
        except (ValueError, UnicodeDecodeError) as error:
            if len(payload) > MAX_OFFER_BYTES:  # only a checkpoint may make an offer this big
                self._reject(None, "oversized", _too_big(len(payload)))
            else:
                self._reject(None, "not_json", f"offer is not JSON: {error}")
            return None
        job_id = document.get("job_id") if isinstance(document, dict) else None
        known_id = job_id if isinstance(job_id, str) and _safe_id(job_id) else None
        try:
            offer = JobOffer.model_validate(document)
        except ValidationError as error:
            self._reject(known_id, "invalid", _describe(error))
            return None
        if offer.checkpoint is None and len(payload) > MAX_OFFER_BYTES:
            self._reject(offer.job_id, "oversized", _too_big(len(payload)))
            return None
        now = self._clock()
        if offer.expires_at is not None and not clock_is_set(now):
            why = (
                f"expires_at {offer.expires_at} cannot be judged: this heater's clock is not "
                f"set yet (it reads {datetime.fromtimestamp(now, tz=UTC):%Y-%m-%dT%H:%M:%SZ})"
            )
            self._reject(offer.job_id, "clock_unset", why, remember=False)
            return None
        if offer.expires_at is not None and offer.expires_at.timestamp() < now:
            self._reject(offer.job_id, "expired", f"offer expired at {offer.expires_at}")
            return None
        if self._store.get(offer.job_id) is not None or offer.job_id in self._rejected_ids:
            self.stats.duplicates += 1
            return None
        pending = self._store.remote_jobs_pending()
        if pending >= self.max_pending:
            why = f"no room: {pending} fleet jobs not finished, at most {self.max_pending}"
            self._reject(offer.job_id, "no_room", why, remember=False)
            return None
        try:
            options = (
                {} if self._memory_budget is None else {"memory_budget_bytes": self._memory_budget}
            )
            job = validate_job(offer.kernel, offer.params, job_id=offer.job_id, **options)
        except JobError as error:
            self._reject(offer.job_id, "invalid", str(error))
            return None
        if not self._store.submit(job, remote=True):
            self.stats.duplicates += 1
            return None
        self.stats.accepted += 1
        if offer.checkpoint is not None:
            self._resume(job.job_id, offer.checkpoint)
        status = JobStatus(job_id=job.job_id, state="queued", progress=0.0, ts=_now(self._clock))
        self._transport.publish(self._topics.job_status(job.job_id), dump(status))
        self._held[job.job_id] = Published("queued", 0.0, self._monotonic())
        log.info("jobs: accepted %s (%s, %d shards)", job.job_id, job.kernel, len(job.shards))
        return job.job_id

    def _reject(self, job_id: str | None, reason: str, why: str, *, remember: bool = True) -> None:
        """Count and log a refused offer; answer it under its job id, if it has one.

        A remembered refusal (the offer itself is wrong) is answered once; one that is not
        (no room, no clock) is answered every time, as the offer may be fine when sent again.
        """
        self.stats.rejected[reason] += 1
        log.warning("jobs: rejected an offer%s: %s", f" {job_id!r}" if job_id else "", why)
        if job_id is None or not _safe_id(job_id) or job_id in self._rejected_ids:
            return  # an id that cannot be a topic level gets no status (it cannot have one)
        if remember:
            self._rejected_ids[job_id] = None
            while len(self._rejected_ids) > REMEMBER_REJECTED:
                self._rejected_ids.popitem(last=False)
        status = JobStatus(
            job_id=job_id,
            state="rejected",
            progress=0.0,
            error=why[:500],
            reason=cast(JobRejectReason, reason) if reason in JOB_REJECT_REASONS else None,
            ts=_now(self._clock),
        )
        self._transport.publish(self._topics.job_status(job_id), dump(status))


def _too_big(size: int) -> str:
    return (
        f"offer of {size} bytes: limit {MAX_OFFER_BYTES}, or {MAX_HANDOFF_OFFER_BYTES} "
        "with a checkpoint"
    )


def _safe_id(job_id: str) -> bool:
    """Whether a rejection can be published under this id (it becomes part of a topic)."""
    try:
        check_id("job_id", job_id)
    except ValueError:
        return False
    return True


def _describe(error: ValidationError) -> str:
    parts = []
    for problem in error.errors():
        where = ".".join(str(part) for part in problem["loc"]) or "offer"
        shown = "" if problem["type"] == "missing" else f" (got {problem.get('input')!r:.80})"
        parts.append(f"{where}: {problem['msg']}{shown}")
    return "; ".join(parts)


def _now(clock: Callable[[], float]) -> datetime:
    return datetime.fromtimestamp(clock(), tz=UTC)
