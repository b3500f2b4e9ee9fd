"""Fixtures: a numba cache shared by the session's workers, and a scheduler on real workers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from boiler_agent.compute.pool import WorkerPool
from boiler_agent.compute.scheduler import FillerJob, JobScheduler
from boiler_agent.compute.store import JobStore
from boiler_agent.compute.worker import PROGRESS_INTERVAL_S


@pytest.fixture(scope="session")
def numba_cache(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One cache for the whole run, shared by pytest-xdist's workers (their base temp
    directories share a parent): each kernel is compiled once, not once per worker. numba
    writes its cache files whole (a temporary file renamed), so concurrent workers are safe."""
    base = tmp_path_factory.getbasetemp()
    shared = base.parent if base.name.startswith("popen-gw") else base
    path = shared / "numba-cache"
    path.mkdir(exist_ok=True)
    return str(path)


SchedulerFactory = Callable[..., JobScheduler]


@pytest.fixture
def make_scheduler(tmp_path: Path, numba_cache: str) -> Iterator[SchedulerFactory]:
    made: list[JobScheduler] = []

    def make(
        workers: int = 1,
        *,
        root: Path | None = None,
        filler: FillerJob | None = None,
        checkpoint_interval_s: float = 60.0,
        chunk_target_s: float = 0.05,
        progress_interval_s: float = PROGRESS_INTERVAL_S,
    ) -> JobScheduler:
        base = root or tmp_path / f"run{len(made)}"
        scheduler = JobScheduler(
            JobStore(base / "jobs.sqlite"),
            WorkerPool(workers, cache_dir=numba_cache, grace_s=3.0),
            checkpoint_dir=base / "checkpoints",
            checkpoint_interval_s=checkpoint_interval_s,
            filler=filler,
            chunk_target_s=chunk_target_s,
            progress_interval_s=progress_interval_s,
        )
        made.append(scheduler)
        return scheduler

    yield make
    for scheduler in made:
        scheduler.pool.close()
        scheduler.store.close()
