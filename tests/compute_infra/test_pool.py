"""Real worker processes: determinism, stop with checkpoint, crash, pause, filler, kill -9."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import psutil
import pytest

from boiler_agent.compute.jobs import JobState, validate_job
from boiler_agent.compute.pool import WorkerState
from boiler_agent.compute.scheduler import FillerJob, JobScheduler

from .conftest import SchedulerFactory

OPTION = {"spot": 100.0, "strike": 105.0, "rate": 0.02, "volatility": 0.25, "maturity": 1.0}
SMALL_JOB = {**OPTION, "paths": 300_000, "steps": 16, "seed": 3}
MEDIUM_JOB = {**OPTION, "paths": 3_000_000, "steps": 16, "seed": 6}
LONG_JOB = {**OPTION, "paths": 40_000_000, "steps": 64, "seed": 4}
ONE_LONG_SHARD = {"nx": 128, "ny": 128, "iterations": 100_000_000, "alpha": 0.2}


def _run_to_end(scheduler: JobScheduler, params: dict[str, object], job_id: str) -> object:
    scheduler.store.submit(validate_job("option_mc", params, job_id=job_id))
    scheduler.wait_for(job_id, timeout_s=120)
    record = scheduler.store.get(job_id)
    assert record is not None and record.state is JobState.DONE, record
    return record.result


def _until(scheduler: JobScheduler, condition: object, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "condition not reached in time"
        scheduler.tick(0.02)


def test_result_does_not_depend_on_workers_or_chunking(make_scheduler: SchedulerFactory) -> None:
    one = _run_to_end(make_scheduler(1), SMALL_JOB, "a")
    two_fine = _run_to_end(make_scheduler(2, chunk_target_s=0.005), SMALL_JOB, "a")
    assert one == two_fine
    assert isinstance(one, dict) and {"price", "stderr"} <= set(one)


def test_stop_checkpoints_and_resume_gives_the_same_result(
    make_scheduler: SchedulerFactory,
) -> None:
    # One shard of 183 units: the small job's one shard could end before the stop came.
    reference = _run_to_end(make_scheduler(1), MEDIUM_JOB, "ref")
    # Progress after every chunk: the job is stopped after its first one.
    scheduler = make_scheduler(1, chunk_target_s=0.01, progress_interval_s=0.0)
    scheduler.store.submit(validate_job("option_mc", MEDIUM_JOB, job_id="j"))
    worker = scheduler.pool.workers[0]
    _until(scheduler, lambda: scheduler.store.shards("j")[0].state is JobState.RUNNING)
    _until(scheduler, lambda: worker.chunks > 0)
    scheduler.set_active(0)
    _until(scheduler, lambda: worker.state is WorkerState.IDLE)
    stopped = [s for s in scheduler.store.shards("j") if s.checkpoint]
    assert stopped and stopped[0].units_done > 0, "stopped with a checkpoint"
    assert Path(stopped[0].checkpoint or "").is_file()
    scheduler.set_active(1)
    scheduler.wait_for("j", timeout_s=120)
    record = scheduler.store.get("j")
    assert record is not None and record.result == reference
    assert record.attempts >= 2 and record.cpu_s > 0 and record.energy_wh > 0


def test_progress_comes_twice_a_second_not_once_a_chunk(make_scheduler: SchedulerFactory) -> None:
    # A message per chunk woke the supervisor 100 times a second at this chunk size.
    scheduler = make_scheduler(1, chunk_target_s=0.01)
    scheduler.store.submit(validate_job("heat2d", ONE_LONG_SHARD, job_id="n"))
    worker = scheduler.pool.workers[0]
    reports = 0
    deadline = time.monotonic() + 60
    while worker.chunks < 100:
        assert time.monotonic() < deadline, "the worker did not run 100 chunks"
        reports += sum(event.kind == "progress" for event in scheduler.tick(0.02))
    assert 1 <= reports <= worker.chunks / 5, (reports, worker.chunks)
    assert worker.chunk_rate(time.monotonic()) > 0


def test_wake_ends_a_long_poll_from_another_thread(make_scheduler: SchedulerFactory) -> None:
    # The control loop polls until its next period; a stop or a command must not wait for it.
    pool = make_scheduler(1).pool
    returned = threading.Event()

    def poll_long() -> None:
        while pool.workers[0].state is WorkerState.STARTING:  # its "ready" ends a poll too
            pool.poll(1.0)
        pool.poll(120.0)
        returned.set()

    poller = threading.Thread(target=poll_long, daemon=True)
    poller.start()
    # Wake until the poll under way has ended: a wake before it began is used up by the last
    # startup poll, as it would be by the loop's next turn.
    deadline = time.monotonic() + 30  # far short of the poll's 120 s
    while not returned.wait(0.05):
        assert time.monotonic() < deadline, "wake() did not end the poll"
        pool.wake()
    poller.join()


def test_crashed_worker_is_replaced_and_its_shard_resumes(make_scheduler: SchedulerFactory) -> None:
    reference = _run_to_end(make_scheduler(1), MEDIUM_JOB, "ref")
    scheduler = make_scheduler(1, checkpoint_interval_s=0.05, chunk_target_s=0.01)
    scheduler.store.submit(validate_job("option_mc", MEDIUM_JOB, job_id="c"))
    _until(scheduler, lambda: any(s.checkpoint for s in scheduler.store.shards("c")))
    victim = scheduler.pool.workers[0].pid
    assert victim is not None
    os.kill(victim, signal.SIGKILL)
    scheduler.wait_for("c", timeout_s=120)
    assert scheduler.pool.replacements >= 1
    record = scheduler.store.get("c")
    assert record is not None and record.result == reference


def test_pause_stops_the_cpu_and_resume_restarts_it(make_scheduler: SchedulerFactory) -> None:
    scheduler = make_scheduler(1)
    scheduler.store.submit(validate_job("option_mc", LONG_JOB, job_id="p"))
    worker = scheduler.pool.workers[0]
    _until(scheduler, lambda: worker.chunks > 2)
    scheduler.pool.pause(0)
    assert worker.pid is not None
    # SIGSTOP takes effect when the process next runs: soon, even at idle priority.
    deadline = time.monotonic() + 10
    while psutil.Process(worker.pid).status() != psutil.STATUS_STOPPED:
        assert time.monotonic() < deadline, "a paused worker is stopped"
        time.sleep(0.01)
    before = worker.cpu_seconds()
    # Not a wait for a state: a window in which nothing may happen (a stopped process gets no
    # CPU however loaded the machine is, so the window can be short).
    time.sleep(0.3)
    assert worker.cpu_seconds() - before < 0.05, "a paused worker makes no heat"
    scheduler.pool.resume(0)
    # An idle-priority worker runs only on CPU time nobody else wants: on a loaded machine
    # its 0.1 s may take a while to come, so wait for it rather than for a fixed time.
    deadline = time.monotonic() + 10
    while worker.cpu_seconds() - before <= 0.1:
        assert time.monotonic() < deadline, "a resumed worker makes heat again"
        time.sleep(0.05)
    stats = scheduler.pool.stats()[0]
    assert stats["job"] == "p" and stats["chunks_per_s"] > 0


def test_filler_runs_when_idle_and_yields_to_real_work(make_scheduler: SchedulerFactory) -> None:
    filler = FillerJob("option_mc", LONG_JOB)
    scheduler = make_scheduler(1, filler=filler)
    worker = scheduler.pool.workers[0]
    _until(scheduler, lambda: worker.task is not None)
    assert scheduler.store.get(worker.task.job_id).filler  # type: ignore[union-attr]
    scheduler.store.submit(validate_job("option_mc", SMALL_JOB, job_id="real"))
    scheduler.wait_for("real", timeout_s=120)
    fillers = [j for j in scheduler.store.jobs() if j.filler]
    assert fillers and fillers[0].state in (JobState.PREEMPTED, JobState.RUNNING)


def test_supervisor_side_never_imports_numba() -> None:
    code = (
        "import sys, boiler_agent.cli, boiler_agent.compute.scheduler, "
        "boiler_agent.compute.pool, boiler_agent.compute.specs, boiler_agent.compute.jobs;"
        "assert 'numba' not in sys.modules, 'numba imported by the supervisor'"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


def _job_run(state_dir: Path) -> list[str]:
    params = {**OPTION, "paths": 3_000_000, "steps": 32, "seed": 9}
    return [
        sys.executable, "-m", "boiler_agent.cli", "job", "run", "--kernel", "option_mc",
        "--params", json.dumps(params), "--workers", "2", "--state-dir", str(state_dir),
        "--job-id", "k9", "--checkpoint-interval", "0.1",
    ]  # fmt: skip


@pytest.mark.slow
def test_kill_9_of_everything_then_restart_finishes_with_the_same_result(tmp_path: Path) -> None:
    reference = subprocess.run(
        _job_run(tmp_path / "reference"), capture_output=True, text=True, timeout=300, check=True
    )
    state = tmp_path / "interrupted"
    first = subprocess.Popen(
        _job_run(state), stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while not list((state / "checkpoints").glob("*.state.npz")):
        assert time.monotonic() < deadline and first.poll() is None, "no checkpoint appeared"
        time.sleep(0.05)
    # At once: the job must still be running when it is killed (it ends within seconds).
    os.killpg(first.pid, signal.SIGKILL)  # the supervisor and every worker, no goodbyes
    first.wait()
    second = subprocess.run(
        _job_run(state), capture_output=True, text=True, timeout=300, check=False
    )
    assert second.returncode == 0, second.stderr
    assert json.loads(second.stdout) == json.loads(reference.stdout)
    assert "resuming" in second.stderr, second.stderr


def test_corrupt_checkpoint_restarts_the_shard_and_says_so(
    make_scheduler: SchedulerFactory, caplog: pytest.LogCaptureFixture
) -> None:
    reference = _run_to_end(make_scheduler(1), MEDIUM_JOB, "ref")
    scheduler = make_scheduler(1, checkpoint_interval_s=0.05, chunk_target_s=0.01)
    scheduler.store.submit(validate_job("option_mc", MEDIUM_JOB, job_id="x"))
    _until(scheduler, lambda: any(s.checkpoint for s in scheduler.store.shards("x")))
    scheduler.set_active(0)
    _until(scheduler, lambda: scheduler.pool.workers[0].state is WorkerState.IDLE)
    for shard in scheduler.store.shards("x"):
        if shard.checkpoint and shard.state is JobState.PREEMPTED:
            Path(shard.checkpoint).write_bytes(b"not a checkpoint")
    scheduler.set_active(1)
    scheduler.wait_for("x", timeout_s=120)
    record = scheduler.store.get("x")
    assert record is not None and record.result == reference
    assert "restarts from scratch" in caplog.text
