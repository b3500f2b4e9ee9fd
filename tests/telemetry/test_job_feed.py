from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from boiler_agent.compute.store import JobStore
from boiler_agent.telemetry.client import ClientSettings, FleetClient, IncomingMessage
from boiler_agent.telemetry.job_feed import MAX_OFFER_BYTES, PROGRESS_EVERY_S, JobFeed
from boiler_agent.telemetry.local_broker import LocalBroker
from boiler_agent.telemetry.outbox import Outbox, Priority
from boiler_agent.telemetry.topics import Topics
from tests.telemetry.consumer import Consumer

OPTION = {
    "spot": 100.0,
    "strike": 100.0,
    "rate": 0.01,
    "volatility": 0.2,
    "maturity": 1.0,
    "paths": 1000,
    "steps": 4,
    "seed": 7,
}


def _offer(job_id: str, **overrides: object) -> bytes:
    return json.dumps(
        {"job_id": job_id, "kernel": "option_mc", "params": OPTION, **overrides}
    ).encode()


class Recorder:
    """A transport that records what the feed publishes and subscribes."""

    def __init__(self) -> None:
        self.published: list[tuple[str, dict[str, object]]] = []
        self.subscribed: list[str] = []

    def publish(
        self,
        topic: str,
        payload: bytes,
        *,
        priority: Priority = Priority.BULK,
        retain: bool = False,
    ) -> None:
        self.published.append((topic, json.loads(payload)))

    def subscribe(self, topic_filter: str, handler: Callable[[IncomingMessage], None]) -> None:
        self.subscribed.append(topic_filter)

    def unsubscribe(self, topic_filter: str) -> None:
        self.subscribed.remove(topic_filter)

    def manage(self, topic_filter: str) -> None:
        self.managed = topic_filter


class Clock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def store(tmp_path: Path) -> Iterator[JobStore]:
    job_store = JobStore(tmp_path / "jobs.sqlite")
    yield job_store
    job_store.close()


def _message(payload: bytes) -> IncomingMessage:
    return IncomingMessage("dh/v1/f/jobs", payload, None, None, 0.0)


def test_offers_are_accepted_once_and_bad_ones_rejected_with_a_reason(store: JobStore) -> None:
    transport, clock = Recorder(), Clock()
    feed = JobFeed(transport, Topics("f", "h1"), store, pool="p", clock=clock)
    for payload in (
        _offer("job-1"),
        _offer("job-1"),  # the broker delivered it twice
        b"\xff not json",
        b"[1, 2]",
        _offer("job-2", extra="field"),
        _offer("job-3", kernel="rm -rf /"),
        _offer("job-4", params={**OPTION, "paths": -5}),
        _offer("job-5", expires_at="2020-01-01T00:00:00Z"),
        b"x" * (MAX_OFFER_BYTES + 1),
    ):
        feed.on_message(_message(payload))
    assert feed.process() == ["job-1"]
    assert feed.stats.accepted == 1 and feed.stats.duplicates == 1
    assert feed.stats.rejected == {"not_json": 1, "invalid": 4, "expired": 1, "oversized": 1}
    statuses = {topic.split("/")[-2]: doc for topic, doc in transport.published}
    assert statuses["job-1"]["state"] == "queued"
    assert statuses["job-2"]["state"] == "rejected" and "extra" in str(statuses["job-2"]["error"])
    assert "rm -rf /" in str(statuses["job-3"]["error"])
    assert "params.paths" in str(statuses["job-4"]["error"])
    assert statuses["job-5"]["state"] == "rejected"
    assert store.get("job-3") is None  # never stored, never run
    # A rejected id offered again is not answered twice.
    feed.on_message(_message(_offer("job-2", extra="field")))
    feed.process()
    assert sum(1 for topic, _ in transport.published if "/job-2/" in topic) == 1


def test_results_are_published_once_even_across_a_restart(tmp_path: Path) -> None:
    transport, clock = Recorder(), Clock()
    path = tmp_path / "jobs.sqlite"
    store = JobStore(path)
    feed = JobFeed(transport, Topics("f", "h1"), store, pool="p", clock=clock)
    feed.on_message(_message(_offer("job-1")))
    feed.process()
    store.job_done("job-1", {"price": 10.4})
    assert feed.publish_results() == 1
    assert feed.publish_results() == 0
    store.close()
    reopened = JobStore(path)
    again = JobFeed(transport, Topics("f", "h1"), reopened, pool="p", clock=clock)
    assert again.publish_results() == 0
    results = [doc for topic, doc in transport.published if topic.endswith("/result")]
    assert results == [
        {
            "schema": 1,
            "job_id": "job-1",
            "state": "done",
            "result": {"price": 10.4},
            "error": None,
            "ts": results[0]["ts"],
        }
    ]
    reopened.close()


def test_the_subscription_follows_heat_demand_with_a_hold(store: JobStore) -> None:
    transport, clock = Recorder(), Clock()
    feed = JobFeed(
        transport, Topics("f", "h1"), store, pool="p", clock=clock, monotonic=clock, hold_s=30
    )
    assert feed.gate(wants_heat=True, has_room=True)
    assert transport.subscribed == ["$share/p/dh/v1/f/jobs"]
    clock.now += 10
    assert feed.gate(wants_heat=False, has_room=True)  # held: no churn at the broker
    clock.now += 25
    assert not feed.gate(wants_heat=False, has_room=True)
    assert transport.subscribed == []
    clock.now += 1
    assert not feed.gate(wants_heat=True, has_room=True)  # held the other way too
    clock.now += 30
    assert feed.gate(wants_heat=True, has_room=True)
    clock.now += 1
    assert not feed.gate(wants_heat=True, has_room=False)  # no room: cut at once
    assert feed.stats.subscription_changes == 4


def test_two_heaters_on_one_shared_subscription_each_take_a_job_once(
    broker: LocalBroker, tmp_path: Path
) -> None:
    clock = time.time
    heaters = []
    for name in ("h1", "h2"):
        topics = Topics("f", name)
        client = FleetClient(
            ClientSettings(url=broker.url, client_id=name, availability_topic=topics.availability),
            Outbox(tmp_path / f"{name}-outbox.sqlite"),
        )
        store = JobStore(tmp_path / f"{name}-jobs.sqlite")
        # Room for every offer: this test is about the shared subscription.
        feed = JobFeed(client, topics, store, pool="heaters", clock=clock, hold_s=0, workers=20)
        client.start()
        assert client.wait_connected(10)
        feed.gate(wants_heat=True, has_room=True)
        heaters.append((client, store, feed))
    fleet = Consumer(broker.port, "dh/v1/f/+/jobs/+/status", client_id="fleet")
    for client, _, _ in heaters:  # both shared subscriptions are in place
        assert client.subscriptions_settled(10)
    offered = [f"job-{i}" for i in range(20)]
    for job_id in offered:
        fleet.publish("dh/v1/f/jobs", _offer(job_id))

    taken: dict[str, list[str]] = {"h1": [], "h2": []}
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and sum(len(t) for t in taken.values()) < len(offered):
        for (_, _, feed), name in zip(heaters, ("h1", "h2"), strict=True):
            taken[name] += feed.process()
        time.sleep(0.05)
    try:
        assert sorted(taken["h1"] + taken["h2"]) == sorted(offered)
        assert not set(taken["h1"]) & set(taken["h2"])
        assert taken["h1"] and taken["h2"]  # the broker spread them
        assert fleet.wait_for(lambda: len(fleet.received) >= len(offered))
        # A last message from each heater: MQTT keeps one publisher's order, so once both are
        # in, any second status would be in too.
        for (client, _, _), name in zip(heaters, ("h1", "h2"), strict=True):
            client.publish(f"dh/v1/f/{name}/jobs/probe/status", b'{"job_id": "probe"}')
        assert fleet.wait_for(
            lambda: sum(b"probe" in m.payload for m in fleet.received) == len(heaters)
        )
        statuses = [
            json.loads(m.payload)["job_id"] for m in fleet.received if b"probe" not in m.payload
        ]
        assert sorted(statuses) == sorted(offered)  # one status per job id
    finally:
        fleet.close()
        for client, store, _ in heaters:
            client.stop(flush_timeout_s=1)
            store.close()


def test_offers_with_ids_that_cannot_be_topics_are_refused_without_a_status(
    store: JobStore,
) -> None:
    transport, clock = Recorder(), Clock()
    feed = JobFeed(transport, Topics("f", "h1"), store, pool="p", clock=clock)
    for job_id in ("evil/1", "evil+two", "ok#3", "$SYS"):
        feed.on_message(_message(_offer(job_id, params={"paths": -1})))
        feed.on_message(_message(_offer(job_id, expires_at="2001-01-01T00:00:00Z")))
    feed.on_message(_message(_offer("fine-1")))
    assert feed.process() == ["fine-1"]  # the bad ones took nothing else down
    assert [topic for topic, _ in transport.published] == ["dh/v1/f/h1/jobs/fine-1/status"]


def test_a_restarted_heater_drops_a_job_subscription_its_old_session_kept(
    broker: LocalBroker, tmp_path: Path
) -> None:
    """Offers must reach heaters that take jobs, not a session nobody listens on."""
    topics = Topics("f", "h1")
    settings = ClientSettings(
        url=broker.url, client_id="h1", availability_topic=topics.availability
    )
    first = FleetClient(settings, Outbox(tmp_path / "o1.sqlite"))
    first.start()
    assert first.wait_connected(10)
    first.subscribe(topics.jobs_shared_subscription("pool"), lambda message: None)
    assert first.subscriptions_settled(10)
    first.stop(flush_timeout_s=0.5)  # stopped without leaving the pool (a crash would, too)

    other_topics = Topics("f", "h2")
    other = FleetClient(
        ClientSettings(
            url=broker.url, client_id="h2", availability_topic=other_topics.availability
        ),
        Outbox(tmp_path / "o2.sqlite"),
    )
    other_store = JobStore(tmp_path / "h2-jobs.sqlite")
    other_feed = JobFeed(
        other, other_topics, other_store, pool="pool", clock=time.time, hold_s=0, workers=6
    )
    other.start()
    assert other.wait_connected(10)
    other_feed.gate(wants_heat=True, has_room=True)

    second = FleetClient(settings, Outbox(tmp_path / "o1.sqlite"))  # same session, resumed
    second_store = JobStore(tmp_path / "h1-jobs.sqlite")
    JobFeed(second, topics, second_store, pool="pool", clock=time.time)  # not taking jobs
    second.start()
    fleet = Consumer(broker.port, "dh/v1/f/+/jobs/+/status", client_id="fleet")
    try:
        assert second.wait_connected(10)
        assert second.subscriptions_settled(10)  # the stale subscription is gone
        for i in range(6):
            fleet.publish("dh/v1/f/jobs", _offer(f"job-{i}"))
        taken: list[str] = []
        deadline = time.monotonic() + 10
        while len(taken) < 6 and time.monotonic() < deadline:
            taken += other_feed.process()
            time.sleep(0.05)
        assert sorted(taken) == [f"job-{i}" for i in range(6)]
        assert second.stats.unhandled == 0
    finally:
        fleet.close()
        for client in (second, other):
            client.stop(flush_timeout_s=0.5)
        other_store.close()
        second_store.close()


class Monotonic:
    def __init__(self) -> None:
        self.now = 50.0

    def __call__(self) -> float:
        return self.now


UNSET = 1_000_000.0  # 1970-01-12: a heater without a clock battery, before NTP answered
FIFTY_YEARS_S = 50 * 365.25 * 86400


def test_the_subscription_hold_runs_on_the_monotonic_clock_not_the_wall_clock(
    store: JobStore,
) -> None:
    transport, wall, monotonic = Recorder(), Clock(), Monotonic()
    wall.now = UNSET
    feed = JobFeed(
        transport, Topics("f", "h1"), store, pool="p", clock=wall, monotonic=monotonic, hold_s=30
    )
    assert feed.gate(wants_heat=True, has_room=True)
    wall.now += FIFTY_YEARS_S  # NTP sets the clock: no time has passed
    monotonic.now += 1
    assert feed.gate(wants_heat=False, has_room=True), "the hold ended by a wall-clock step"
    monotonic.now += 30
    assert not feed.gate(wants_heat=False, has_room=True)
    assert feed.stats.subscription_changes == 2


def _statuses(transport: Recorder, job_id: str) -> list[dict[str, object]]:
    return [doc for topic, doc in transport.published if f"/jobs/{job_id}/status" in topic]


def test_offers_beyond_the_room_are_rejected_no_room_and_can_be_offered_again(
    store: JobStore,
) -> None:
    transport, clock = Recorder(), Clock()
    feed = JobFeed(transport, Topics("f", "h1"), store, pool="p", clock=clock, workers=1)
    assert feed.max_pending == 2  # two fleet jobs per worker: one running, one waiting
    for i in range(1, 6):
        feed.on_message(_message(_offer(f"job-{i}")))
    assert feed.process() == ["job-1", "job-2"]
    assert store.remote_jobs_pending() == 2
    assert feed.stats.rejected == {"no_room": 3}
    for job_id in ("job-3", "job-4", "job-5"):
        [status] = _statuses(transport, job_id)
        assert status["state"] == "rejected" and status["reason"] == "no_room", status
        assert "room" in str(status["error"])
        assert store.get(job_id) is None  # never silently held
    [queued] = _statuses(transport, "job-1")
    assert queued["state"] == "queued" and queued["reason"] is None
    # A job finishes: the fleet offers job-3 again, and now it is taken.
    store.job_done("job-1", {"price": 1.0})
    feed.on_message(_message(_offer("job-3")))
    assert feed.process() == ["job-3"]
    assert [s["state"] for s in _statuses(transport, "job-3")] == ["rejected", "queued"]


def test_offers_with_an_expiry_wait_for_the_clock_to_be_set(store: JobStore) -> None:
    transport, clock = Recorder(), Clock()
    clock.now = UNSET
    feed = JobFeed(transport, Topics("f", "h1"), store, pool="p", clock=clock)
    feed.on_message(_message(_offer("job-1", expires_at="2027-06-01T00:00:00Z")))
    feed.on_message(_message(_offer("job-2")))  # no expiry: nothing to judge
    assert feed.process() == ["job-2"]
    [status] = _statuses(transport, "job-1")
    assert status["state"] == "rejected" and status["reason"] == "clock_unset", status
    assert "clock" in str(status["error"])
    clock.now = 1_800_000_000.0  # 2027-01-15: NTP answered; the fleet offers it again
    feed.on_message(_message(_offer("job-1", expires_at="2027-06-01T00:00:00Z")))
    assert feed.process() == ["job-1"]


def test_every_state_change_is_published_and_progress_at_a_bounded_rate(store: JobStore) -> None:
    transport, clock, monotonic = Recorder(), Clock(), Monotonic()
    feed = JobFeed(
        transport, Topics("f", "h1"), store, pool="p", clock=clock, monotonic=monotonic, workers=1
    )
    feed.on_message(_message(_offer("job-1")))
    assert feed.process() == ["job-1"]
    assert feed.publish_statuses() == 0  # "queued" went out when it was taken
    store.shard_started("job-1", 0)
    assert feed.publish_statuses() == 1
    for units in (10, 20, 30):  # progress moves every second: published once a minute
        store.shard_checkpointed("job-1", 0, units, "/tmp/x")
        monotonic.now += 1.0
        feed.publish_statuses()
    monotonic.now += PROGRESS_EVERY_S
    feed.publish_statuses()
    store.shard_preempted("job-1", 0)
    feed.publish_statuses()
    states = [(s["state"], s["progress"]) for s in _statuses(transport, "job-1")]
    assert [state for state, _ in states] == ["queued", "running", "running", "preempted"]
    assert states[2][1] > 0.0
    store.job_done("job-1", {"price": 1.0})
    assert feed.publish_statuses() == 0  # the result says it now
    assert feed.publish_results() == 1
