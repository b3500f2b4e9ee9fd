"""The campaign's faults that need the rig's help, each on its own against the whole agent:
a heater body past the MCU's limit, a SIGTERM while a worker stops to checkpoint, a state
database damaged while the agent is down. No broker: seconds, not minutes."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from boiler_agent.compute.jobs import JobState
from boiler_agent.compute.pool import WorkerState
from boiler_agent.compute.store import JobStore
from boiler_agent.faults.campaign import campaign_config
from boiler_agent.faults.harness import CampaignRig, Sample, damage_database
from boiler_agent.faults.invariants import Checker
from boiler_agent.faults.schedule import Fault, Injection

AT_S = 900.0  # the room heats at full power by then


def run(
    tmp_path: Path, injection: Injection, end_s: float, rig_type: type[CampaignRig] = CampaignRig
) -> tuple[CampaignRig, Checker, list[Sample]]:
    config = campaign_config(tmp_path, None, "room")
    checker = Checker(
        [injection], config.control.max_temp_c, config.power.period_s, config.serial.lease_s
    )
    samples: list[Sample] = []

    def observe(sample: Sample) -> None:
        checker.observe(sample)
        samples.append(sample)

    rig = rig_type(tmp_path, 1, config, preset="room", on_sample=observe)
    try:
        rig.run_until(end_s, [injection])
    finally:
        rig.close()
    return rig, checker, samples


def test_a_heater_body_past_the_mcu_limit_stops_the_heat_until_an_operator_reset(
    tmp_path: Path,
) -> None:
    rig, checker, samples = run(tmp_path, Injection(AT_S, Fault.BODY_OVERHEAT, 60.0, 0.5), 1500.0)
    limit = rig.heater.heater.plant.max_temp_c
    hot = [s for s in samples if s.body_c is not None and s.body_c > limit]
    assert hot and hot[0].at_s >= AT_S
    # The MCU's failsafe: 4 samples at 2 Hz past the limit, then no heat, whatever the agent.
    assert all(s.mcu_power_w == 0 for s in hot if s.at_s > hot[0].at_s + 3.0)
    tripped = [s for s in samples if "mcu_fault" in s.report.trips]
    assert tripped and all(not s.report.lease_s for s in tripped)
    # Latched past the repair (the outlet cleared at 960 s), until the operator's reset at 1260.
    assert tripped[-1].at_s >= AT_S + 60.0 + 299.0
    assert rig.resets == 1
    assert samples[-1].mcu_power_w > 0  # heating again
    assert checker.violations == []


class WatchedRig(CampaignRig):
    """Notes what the workers were doing when the SIGTERM was delivered."""

    states_at_term: list[WorkerState] | None = None

    def _deliver_term(self, how: str) -> None:
        self.states_at_term = [worker.state for worker in self.pool.workers]
        super()._deliver_term(how)


def test_sigterm_lands_while_a_worker_stops_to_checkpoint_and_the_work_resumes(
    tmp_path: Path,
) -> None:
    injection = Injection(AT_S, Fault.TERM_IN_CHECKPOINT, 600.0, 0.5)
    rig, checker, samples = run(tmp_path, injection, 1300.0, WatchedRig)
    assert isinstance(rig, WatchedRig)
    assert rig.term_stops == {"in_window": 1}
    assert rig.states_at_term is not None and WorkerState.STOPPING in rig.states_at_term
    assert rig.boots == 2  # stopped cleanly, started 5 s later
    restarted = [s for s in samples if s.boot == 2]
    assert restarted[0].at_s - AT_S < 10.0
    assert restarted[-1].mcu_power_w > 0
    assert not any("cpu_hot" in s.report.trips for s in restarted)  # the hot CPU was the cue
    store = JobStore(tmp_path / "state" / "jobs.sqlite")
    try:
        failed = store.jobs(JobState.FAILED)
    finally:
        store.close()
    assert failed == []  # a stop with its checkpoint is no failure
    assert checker.violations == []


@pytest.mark.parametrize("draw", [0.1, 0.3])
def test_a_database_damaged_while_the_agent_is_down_is_moved_aside_and_heating_goes_on(
    tmp_path: Path, draw: float
) -> None:
    rig, checker, samples = run(tmp_path, Injection(AT_S, Fault.DB_CORRUPT, 5.0, draw), 1200.0)
    assert rig.db_corruptions == {"moved_aside": 1}
    assert list((tmp_path / "state").glob("jobs.sqlite.corrupt-*"))
    assert rig.boots == 2
    assert samples[-1].mcu_power_w > 0
    assert checker.violations == []


@pytest.mark.parametrize("seed", range(6))
def test_each_damage_is_one_sqlite_notices(tmp_path: Path, seed: int) -> None:
    path = tmp_path / "jobs.sqlite"
    JobStore(path).close()
    how = damage_database(path, random.Random(seed))
    assert how.startswith(("header overwritten", "truncated"))
    store = JobStore(path)
    try:
        assert store.corrupt_moved_to is not None, how
    finally:
        store.close()
