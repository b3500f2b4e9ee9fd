"""I5: the campaign's real jobs, and the check that each ends with the result of a clean run.

Before the agent first starts, a few local jobs of real kernels go into its job store, as
`boiler-agent job submit` puts them there. The campaign's workers compute them for real
(`SimulatedKernelPool`), each work unit costing simulated CPU time so that a job spans tens of
minutes of plant time and the faults (kills, SIGTERMs in a checkpoint, worker crashes, pauses
for heat demand, a full disk) land on it. At the end every job must be done with exactly the
result of a clean run of the same kernel and parameters (`kernels.run_job`), or failed for a
reason that is a real failure (a worker that died too often, a result that could not be
saved), never a pause. A job not finished when the run ends is reported, not a violation (a
heater tripped for an hour makes no heat and so no progress). A job store the campaign
corrupted (`db_corrupt`) is moved aside by the agent, its jobs with it, as documented; the
campaign then submits them again, as an operator would, and counts it (`resubmitted`).
"""

from __future__ import annotations

import json
import random
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from boiler_agent.compute.jobs import JobState, validate_job
from boiler_agent.compute.store import JobStore
from boiler_agent.compute.worker import Task
from boiler_agent.faults.invariants import Violation

JOB_CPU_S = 3 * 60.0  # each job: three minutes of one core, spread over its units
FILLER_CPU_S_PER_UNIT = 600.0  # the filler computes rarely: its heat is what matters
REAL_FAILURES = ("worker died", "could not be saved")
KEEP_RUNNING = 4  # our jobs unfinished at any time: one per worker
MAX_JOBS = 24  # per campaign: their real compute is the campaign's cost (a long healthy run)
STORE = "jobs.sqlite"


def _kinds(rng: random.Random) -> list[tuple[str, dict[str, Any]]]:
    """Small real jobs of three kernels, parameters drawn from the seed."""
    return [
        (
            "mandelbrot",
            {
                "width": 1024,
                "height": 320,
                "max_iter": rng.choice((16, 24, 32)),
                "center_re": -0.5,
                "center_im": 0.0,
                "zoom": 1.0,
            },
        ),
        (
            "option_mc",
            {
                "spot": 100.0,
                "strike": rng.choice((95.0, 105.0)),
                "rate": 0.02,
                "volatility": 0.25,
                "maturity": 1.0,
                "paths": 1_000_000,
                "steps": 8,
                "seed": rng.randrange(1, 1000),
            },
        ),
        ("linsolve", {"n": 64, "rhs": 256, "seed": rng.randrange(1, 1000)}),
        ("heat2d", {"nx": 33, "ny": 33, "iterations": 400, "alpha": 0.2, "initial": "random",
                    "seed": rng.randrange(1, 1000)}),
    ]  # fmt: skip


@dataclass
class CampaignJobs:
    seed: int
    jobs: dict[str, tuple[str, dict[str, Any]]]  # job id -> (kernel, params)
    cpu_s_per_unit_of: dict[str, float]
    resubmitted: int = 0  # after a corrupt job store (db_corrupt), as an operator would
    ended: dict[str, str] = field(default_factory=dict)  # job id -> done / failed, judged
    violations: list[Violation] = field(default_factory=list)
    _references: dict[str, Any] = field(default_factory=dict)  # clean results, by params

    rng: random.Random = field(default_factory=random.Random)
    job_cpu_s: float = JOB_CPU_S  # one core's CPU seconds each job costs

    @classmethod
    def submit(cls, state_dir: Path, seed: int, job_cpu_s: float = JOB_CPU_S) -> CampaignJobs:
        state_dir.mkdir(parents=True, exist_ok=True)
        jobs = cls(seed, {}, {}, rng=random.Random(f"jobs-{seed}"), job_cpu_s=job_cpu_s)
        store = JobStore(state_dir / STORE)
        try:
            jobs.top_up(store)
        finally:
            store.close()
        return jobs

    def top_up(self, store: JobStore, at_s: float = 0.0) -> None:
        """Judge the jobs that ended since the last look, then keep KEEP_RUNNING of ours
        unfinished: new ones keep the workers on real work for the whole campaign, so the faults
        keep landing on jobs. Ended jobs are judged as they end: a store corrupted later
        (db_corrupt) must not take the evidence with it."""
        unfinished = 0
        for job_id in self.jobs:
            record = store.get(job_id)
            if record is None or job_id in self.ended:
                continue
            if record.state in (JobState.DONE, JobState.FAILED):
                self._judge(job_id, record.state, record.result, record.error, at_s)
            else:
                unfinished += 1
        kinds = _kinds(self.rng)
        while unfinished < KEEP_RUNNING and len(self.jobs) < MAX_JOBS:
            kernel, params = kinds[len(self.jobs) % len(kinds)]
            job = validate_job(kernel, params, job_id=f"campaign-{self.seed}-{len(self.jobs)}")
            try:
                store.submit(job)
            except sqlite3.DatabaseError:  # a full disk: the operator's submit fails, retried
                return
            self.jobs[job.job_id] = (kernel, job.params_json)
            units = sum(s.units for s in job.shards)
            self.cpu_s_per_unit_of[job.job_id] = self.job_cpu_s / units
            unfinished += 1

    def _judge(
        self, job_id: str, state: JobState, result: Any, error: str | None, at_s: float
    ) -> None:
        from boiler_agent.compute import kernels  # numba

        kernel, params = self.jobs[job_id]
        self.ended[job_id] = state.value
        if state is JobState.DONE:
            key = json.dumps([kernel, params], sort_keys=True)
            if key not in self._references:
                self._references[key] = kernels.run_job(kernel, params)
            if result != self._references[key]:
                why = f"job {job_id} ({kernel}) ended with another result than a clean run"
                self.violations.append(Violation(at_s, "I5", why, None))
        elif not any(reason in (error or "") for reason in REAL_FAILURES):
            why = f"job {job_id} failed, not for a real failure: {(error or '')[:200]}"
            self.violations.append(Violation(at_s, "I5", why, None))

    def resubmit(self, store: JobStore) -> None:
        """After the store was corrupt and replaced: submit again what it lost, same ids."""
        for job_id, (kernel, params) in self.jobs.items():
            if job_id not in self.ended and store.get(job_id) is None:
                store.submit(validate_job(kernel, params, job_id=job_id))
                self.resubmitted += 1

    def cpu_s_per_unit(self, task: Task) -> float:
        return self.cpu_s_per_unit_of.get(task.job_id, FILLER_CPU_S_PER_UNIT)

    def check(self, state_dir: Path, at_s: float) -> tuple[int, list[Violation], dict[str, int]]:
        """(checks made, I5 violations, how the jobs ended), once the agent has stopped."""
        store = JobStore(state_dir / STORE)
        try:
            self.top_up(store, at_s)  # the last ones to end are judged; nothing more is run
        finally:
            store.close()
        ended = list(self.ended.values())
        counts = {
            "done": ended.count("done"),
            "failed": ended.count("failed"),
            "unfinished": len(self.jobs) - len(ended),
            "resubmitted": self.resubmitted,
        }
        return len(ended), self.violations, counts
