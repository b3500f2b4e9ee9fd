"""Three real agents (in-process, simulated 2-core pools computing the real kernel) and a real
Mosquitto: a fleet job follows the heat from heater to heater, and a heater killed while it
holds a handed-off job loses nothing and gets its result counted once, and a checkpoint
corrupted on its way between two heaters is refused (the job restarts and ends identical)."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from boiler_agent.benchmarks.fleet import (
    CLIMATES,
    FILLER_CPU_S_PER_UNIT,
    KERNEL,
    OFFER_TIMEOUT_S,
    OPTION,
    PATHS,
    FleetHeater,
    FleetRig,
    HeaterSpec,
)
from boiler_agent.compute.jobs import validate_job
from boiler_agent.compute.kernels import run_job
from boiler_agent.fleet.dispatcher import FleetJob, JobDesk
from boiler_agent.fleet.messages import FleetMessage
from boiler_agent.fleet.subscriber import FleetSubscriber
from boiler_agent.telemetry.local_broker import LocalBroker

pytestmark = [pytest.mark.slow, pytest.mark.timeout(240)]

RELEASE_AFTER_S = 120.0
JOB_CPU_S = 4 * 3600.0  # four hours of one core: two hours of a heater's two cores
PARAMS = {**OPTION, "strike": 100.0, "paths": PATHS, "seed": 7}
REAL_DEADLINE_S = 150.0


class Fleet:
    """The benchmark's rig with three rooms, a job of known size, and what a test watches."""

    def __init__(self, root: Path, url: str, names: list[str]) -> None:
        units = sum(s.units for s in validate_job(KERNEL, PARAMS).shards)
        per_unit = JOB_CPU_S / units

        def cpu_s_of(task: Any) -> float:
            return per_unit if task.job_id.startswith("job") else FILLER_CPU_S_PER_UNIT

        heaters = [
            FleetHeater(
                HeaterSpec(name, "room", CLIMATES[0], 12.0),
                root,
                url,
                RELEASE_AFTER_S,
                cpu_s_of,
                # A killed heater's will comes at once, not after 10 s of real time (hours of
                # the fleet's fast clock).
                overrides={"mqtt": {"will_delay_s": 0}},
            )
            for name in names
        ]
        self.heaters = {heater.spec.name: heater for heater in heaters}
        self.desk = JobDesk("bench", offer_timeout_s=OFFER_TIMEOUT_S, offline_grace_s=120.0)
        watcher = FleetSubscriber(url, fleet="bench").start()
        assert watcher.subscribed.wait(30)
        self.rig = FleetRig(heaters, self.desk, watcher)
        self.rig.on_message = self._watch
        self.results: list[tuple[str | None, Any]] = []
        self.h002_statuses: list[str] = []

    def _watch(self, message: FleetMessage) -> None:
        if message.kind == "job_result":
            self.results.append((message.heater, message.body.get("result")))
        if message.heater == "h002" and message.kind in ("job_status", "job_result"):
            done = message.kind == "job_result"
            self.h002_statuses.append("done" if done else str(message.body.get("state")))

    @property
    def now(self) -> float:
        return self.rig.now

    @property
    def refused(self) -> int:
        return self.rig.refused_handoffs

    def until(self, what: str, done: Callable[[], bool], job: FleetJob) -> None:
        deadline = time.monotonic() + REAL_DEADLINE_S
        while not done():
            assert time.monotonic() < deadline, f"timed out waiting for {what}: {job.as_dict()}"
            assert job.state != "done" or what == "the result" or "h002's copy" in what, (
                f"the job ended before {what}: {job.as_dict()}"
            )
            self.rig.turn()

    def wants_heat(self, *names: str) -> None:
        for name, heater in self.heaters.items():
            heater.wants_heat(name in names)

    def handed_to_h002(self, job_id: str) -> FleetJob:
        """A job taken by h001, which then stops wanting heat: h002, which wants it, runs it."""
        self.wants_heat("h001")
        job = self.desk.submit(KERNEL, PARAMS, self.now, job_id)
        self.until("h001 running it", _running_on(job, "h001", 0.1), job)
        self.wants_heat("h002")
        self.until("h002 running it", _running_on(job, "h002", 0.1), job)
        return job


@pytest.fixture
def make_fleet(tmp_path: Path, broker: LocalBroker) -> Iterator[Callable[[list[str]], Fleet]]:
    made: list[Fleet] = []

    def make(names: list[str]) -> Fleet:
        fleet = Fleet(tmp_path, broker.url, names)
        made.append(fleet)
        return fleet

    yield make
    for fleet in made:
        fleet.rig.close()


def _expected() -> Any:
    return json.loads(json.dumps(run_job(KERNEL, PARAMS)))


def _running_on(job: FleetJob, heater: str, beyond: float = 0.0) -> Callable[[], bool]:
    """Running on `heater` and past `beyond` of its progress (a resumed job starts where its
    checkpoint left it, not from zero)."""
    return lambda: job.heater == heater and job.state == "running" and job.progress > beyond


def test_a_job_follows_the_heat_across_three_heaters_and_ends_identical(
    make_fleet: Callable[[list[str]], Fleet],
) -> None:
    fleet = make_fleet(["h001", "h002", "h003"])
    job = fleet.handed_to_h002("job-follow")
    fleet.until("h002 making progress", _running_on(job, "h002", 0.3), job)
    fleet.wants_heat("h003")
    fleet.until("h003 running it", _running_on(job, "h003", 0.3), job)
    fleet.until("the result", lambda: job.state == "done", job)
    assert job.heaters == ["h001", "h002", "h003"] and job.handoffs == 2, job.as_dict()
    assert fleet.refused == 0, "every checkpoint bundle was taken"
    assert job.result == _expected(), "handed off twice, the result is a clean run's"
    assert fleet.desk.duplicate_results == 0
    for name in ("h001", "h002"):  # a released job leaves the heater's store
        loop = fleet.heaters[name].agent.loop
        assert loop is not None and loop.parts.scheduler.store.get("job-follow") is None


def test_a_heater_killed_holding_a_handed_off_job_loses_nothing_and_counts_once(
    make_fleet: Callable[[list[str]], Fleet],
) -> None:
    fleet = make_fleet(["h001", "h002", "h003"])
    job = fleet.handed_to_h002("job-killed")
    fleet.heaters["h002"].kill()  # mid-hand-off: it took the bundle and is running from it
    fleet.wants_heat("h003")
    # The broker publishes h002's will; after the desk's grace the job is offered again, with
    # the checkpoint h001 handed back, and h003 (which wants heat) takes it.
    fleet.until("h003 running it", _running_on(job, "h003", 0.1), job)
    fleet.until("the result", lambda: job.state == "done", job)
    assert job.result == _expected()
    assert fleet.refused == 0
    # h002 comes back with the job still in its store: it finishes its copy (a duplicate the
    # desk ignores) or hands it back (the desk has its result): counted once either way.
    statuses_before = len(fleet.h002_statuses)
    fleet.heaters["h002"].restart()
    fleet.wants_heat("h002")
    fleet.until(
        "h002's copy finished or handed back",
        lambda: any(
            state in ("released", "done") for state in fleet.h002_statuses[statuses_before:]
        ),
        job,
    )
    assert fleet.desk.duplicate_results <= 1
    assert all(result == _expected() for _, result in fleet.results), fleet.results
    assert job.state == "done" and job.result == _expected()
    assert job.heaters[-1] == "h003"


def test_a_checkpoint_corrupted_in_flight_is_refused_and_the_job_restarts_identical(
    make_fleet: Callable[[list[str]], Fleet],
) -> None:
    fleet = make_fleet(["h001", "h002"])
    corrupted: list[int] = []

    def flip_a_byte(bundle: dict[str, Any]) -> None:
        if corrupted:
            return
        shard = bundle["shards"][0]
        packed = bytearray(base64.b64decode(shard["data"]))
        packed[len(packed) // 2] ^= 0x01
        shard["data"] = base64.b64encode(bytes(packed)).decode("ascii")
        corrupted.append(shard["idx"])

    def before_offers() -> None:
        for job in fleet.desk.jobs.values():
            if job.state == "released" and job.checkpoint is not None:
                flip_a_byte(job.checkpoint)  # what the broker carries next, changed

    fleet.rig.before_offers = before_offers
    fleet.wants_heat("h001")
    job = fleet.desk.submit(KERNEL, PARAMS, fleet.now, "job-corrupt")
    fleet.until("h001 running it", _running_on(job, "h001", 0.1), job)
    fleet.wants_heat("h002")
    fleet.until("h002 running it", lambda: job.heater == "h002", job)
    assert corrupted, "the bundle was never offered again"
    fleet.until("the refusal", lambda: fleet.refused >= 1, job)
    fleet.until("the result", lambda: job.state == "done", job)
    assert fleet.refused == 1
    assert job.result == _expected(), "restarted from zero, the result is still a clean run's"
