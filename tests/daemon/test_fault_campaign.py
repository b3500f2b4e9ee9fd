"""The fault campaign in CI: one seed, every kind of fault, a real Mosquitto, no violation."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest

from boiler_agent.faults.campaign import run_campaign
from boiler_agent.faults.schedule import Fault, draw_schedule
from boiler_agent.telemetry.local_broker import find_mosquitto


def test_the_same_seed_draws_the_same_schedule_and_covers_every_kind() -> None:
    kinds = tuple(Fault)
    first = draw_schedule(7, 60, 12 * 3600.0, kinds)
    assert first == draw_schedule(7, 60, 12 * 3600.0, kinds)
    assert first != draw_schedule(8, 60, 12 * 3600.0, kinds)
    assert {injection.fault for injection in first} == set(kinds)
    assert all(b.at_s - a.at_s >= 120.0 for a, b in itertools.pairwise(first))


def test_a_schedule_that_cannot_fit_says_what_it_needs() -> None:
    with pytest.raises(ValueError, match="--duration"):
        draw_schedule(1, 100, 3600.0, tuple(Fault))


@pytest.mark.slow
@pytest.mark.skipif(find_mosquitto() is None, reason="mosquitto is not installed")
def test_fifty_faults_of_every_kind_break_no_invariant() -> None:
    result = run_campaign(seed=1, faults=50, duration_s=50 * 150.0 + 1500.0)
    assert result["broker"] is True
    assert set(result["faults_injected"]) == {kind.value for kind in Fault}
    assert result["faults_total"] == 50
    assert result["invariants_checked"] > 10_000
    assert result["violations"] == [], result["violations"]
    # I5: real jobs ran through the faults and each ended with the result of a clean run.
    assert result["jobs"]["done"] >= 5, result["jobs"]


@pytest.mark.slow
def test_a_healthy_boiler_through_its_morning_draws_never_trips() -> None:
    """I8 on the campaign's rig: the 6:00-9:00 hot-water draws, no fault, no trip."""
    result = run_campaign(
        seed=3, faults=0, duration_s=3 * 3600.0, use_broker=False, preset="boiler"
    )
    assert result["invariants_checked"] > 10_000
    assert result["violations"] == [], result["violations"]


def test_i5_catches_a_job_whose_result_differs_from_a_clean_run(tmp_path: Path) -> None:
    from boiler_agent.compute.store import JobStore
    from boiler_agent.faults.campaign_jobs import CampaignJobs

    jobs = CampaignJobs.submit(tmp_path, seed=5)
    store = JobStore(tmp_path / "jobs.sqlite")
    first, second = list(jobs.jobs)[:2]
    store.job_done(first, {"wrong": True})  # a result no clean run gives
    store.job_failed(second, "shard 0 paused 5 times: giving up")  # a pause is no failure
    store.close()
    checked, violations, ended = jobs.check(tmp_path, 100.0)
    assert checked == 2 and ended["done"] == 1 and ended["failed"] == 1
    assert [v.invariant for v in violations] == ["I5", "I5"], violations
