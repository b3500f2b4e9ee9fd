"""The job store: durable states, idempotent submission, recovery after a crash."""

from __future__ import annotations

from pathlib import Path

from boiler_agent.compute.jobs import JobState, validate_job
from boiler_agent.compute.store import JobStore

from .test_jobs import GOOD


def test_submission_is_idempotent_and_survives_reopening(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    job = validate_job("option_mc", GOOD, job_id="j-1")
    assert store.submit(job) is True
    assert store.submit(job) is False, "the same job id twice is one job"
    store.close()
    reopened = JobStore(tmp_path / "jobs.sqlite")
    record = reopened.get("j-1")
    assert record is not None and record.state is JobState.QUEUED
    assert [s.idx for s in reopened.shards("j-1")] == [s.index for s in job.shards]


def test_running_shards_are_preempted_by_recovery(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    store.submit(validate_job("option_mc", GOOD, job_id="j-2"))
    store.shard_started("j-2", 0)
    store.shard_checkpointed("j-2", 0, 3, str(tmp_path / "ck.npz"))
    assert store.get("j-2").state is JobState.RUNNING  # type: ignore[union-attr]
    assert store.recover() == 1
    shard = store.shards("j-2")[0]
    assert shard.state is JobState.PREEMPTED and shard.units_done == 3
    assert shard.checkpoint == str(tmp_path / "ck.npz")
    assert store.next_shard(set()) is not None


def test_real_jobs_come_before_filler(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    store.submit(validate_job("option_mc", GOOD, job_id="filler"), filler=True)
    store.submit(validate_job("option_mc", GOOD, job_id="real"))
    first = store.next_shard(set())
    assert first is not None and first.job_id == "real"


def test_accounting_adds_up(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    store.submit(validate_job("option_mc", GOOD, job_id="j-3"))
    store.account("j-3", 1.5, 10, 0.01)
    store.account("j-3", 0.5, 5, 0.002)
    record = store.get("j-3")
    assert record is not None
    assert (record.cpu_s, record.chunks, round(record.energy_wh, 6)) == (2.0, 15, 0.012)


def test_failed_job_keeps_its_reason(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    store.submit(validate_job("option_mc", GOOD, job_id="j-4"))
    store.job_failed("j-4", "shard 0 failed 5 times")
    record = store.get("j-4")
    assert record is not None and record.state is JobState.FAILED
    assert record.error == "shard 0 failed 5 times"
    assert store.next_shard(set()) is None


def test_states_and_progress_answers_for_many_jobs_in_one_call(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite")
    job = validate_job("option_mc", GOOD, job_id="half")
    store.submit(job)
    store.submit(validate_job("option_mc", GOOD, job_id="waiting"))
    store.submit(validate_job("option_mc", GOOD, job_id="finished"))
    store.job_done("finished", {"price": 1.0})
    first = job.shards[0]
    store.shard_started("half", first.index)
    store.shard_checkpointed("half", first.index, first.units // 2, str(tmp_path / "ck.npz"))
    total = sum(shard.units for shard in job.shards)

    found = store.states_and_progress(["half", "waiting", "finished", "unknown"])

    assert found["half"] == (JobState.RUNNING, (first.units // 2) / total)
    assert found["waiting"] == (JobState.QUEUED, 0.0)
    assert found["finished"] == (JobState.DONE, 1.0)
    assert "unknown" not in found, "a job the store does not know is left out"
    assert store.progress("half") == found["half"][1] and store.progress("unknown") == 0.0
    assert store.states_and_progress([]) == {}
