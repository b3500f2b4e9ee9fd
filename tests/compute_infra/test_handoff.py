"""A job released by one heater resumes on another from the bundle of its checkpoints, with the
result of an uninterrupted run; a corrupt or foreign bundle is refused whole."""

from __future__ import annotations

import copy
import hashlib
from pathlib import Path
from typing import Any

import pytest

from boiler_agent.compute import checkpoint, kernels
from boiler_agent.compute.handoff import HandoffError, export_bundle, restore_bundle
from boiler_agent.compute.jobs import ValidatedJob, validate_job
from boiler_agent.compute.kernel_api import Shard
from boiler_agent.compute.specs import EXAMPLES
from boiler_agent.compute.store import JobStore

KERNEL = "mandelbrot"
# Three shards of 2^17 pixels, cheap to run: 1024 x 320 pixels, 16 iterations at most.
PARAMS: dict[str, Any] = {**EXAMPLES[KERNEL], "width": 1024, "height": 320, "max_iter": 16}


def _heater(root: Path) -> tuple[JobStore, Path, ValidatedJob]:
    store = JobStore(root / "jobs.sqlite")
    job = validate_job(KERNEL, PARAMS, job_id="fleet-1")
    assert store.submit(job, remote=True)
    return store, root / "checkpoints", job


def _run_some(store: JobStore, directory: Path, job: ValidatedJob) -> None:
    """Heater A: shard 0 finished, shard 1 halfway and checkpointed, the rest untouched."""
    factory = kernels.load_run_class(job.spec)
    assert len(job.shards) >= 3, "the example must have several shards"
    first, second = job.shards[0], job.shards[1]
    run = factory(job.params, first)
    run.step(first.units)
    partial = checkpoint.checkpoint_path(directory, job.job_id, 0, "partial")
    checkpoint.save(partial, run.partial(), job_id=job.job_id, shard=0, digest=job.digest)
    store.shard_done(job.job_id, 0, str(partial))
    run = factory(job.params, second)
    run.step(second.units // 2)
    state = checkpoint.checkpoint_path(directory, job.job_id, 1)
    checkpoint.save(state, run.state(), job_id=job.job_id, shard=1, digest=job.digest)
    store.shard_checkpointed(job.job_id, 1, run.units_done, str(state))


def _finish(store: JobStore, job: ValidatedJob) -> dict[str, Any]:
    """Heater B: every shard from where the store says it stands, then the combine."""
    factory = kernels.load_run_class(job.spec)
    partials = []
    for record in store.shards(job.job_id):
        shard = Shard(record.idx, record.first_unit, record.units)
        load = {"job_id": job.job_id, "shard": record.idx, "digest": job.digest}
        if record.partial:
            partials.append(checkpoint.load(Path(record.partial), **load))
            continue
        state = checkpoint.load(Path(record.checkpoint), **load) if record.checkpoint else None
        run = factory(job.params, shard, state)
        run.step(shard.units - run.units_done)
        partials.append(run.partial())
    return job.spec.combine(job.params, partials)


def test_a_released_job_resumes_elsewhere_with_the_uninterrupted_result(tmp_path: Path) -> None:
    store_a, dir_a, job = _heater(tmp_path / "a")
    _run_some(store_a, dir_a, job)
    bundle = export_bundle(store_a, job.job_id)
    assert [entry["kind"] for entry in bundle["shards"]] == ["partial", "state"]
    store_b, dir_b, _ = _heater(tmp_path / "b")
    restored = restore_bundle(store_b, job.job_id, bundle, dir_b)
    assert (restored.shards_finished, restored.shards_resumed) == (1, 1)
    assert store_b.shards(job.job_id)[1].units_done == job.shards[1].units // 2
    assert _finish(store_b, job) == kernels.run_job(KERNEL, PARAMS)


def _tampered(bundle: dict[str, Any], how: str) -> dict[str, Any]:
    bad = copy.deepcopy(bundle)
    entry = bad["shards"][1]
    if how == "bytes":  # a flipped character in flight: the sha256 no longer matches
        entry["data"] = ("A" if entry["data"][100] != "A" else "B").join(
            (entry["data"][:100], entry["data"][101:])
        )
    elif how == "forged":  # bytes and sha256 both changed: the file's own check refuses it
        data = b"not an npz file at all"
        import base64

        entry["data"] = base64.b64encode(data).decode()
        entry["sha256"] = hashlib.sha256(data).hexdigest()
    elif how == "foreign":
        bad["digest"] = "0" * 16
    elif how == "other_job":
        bad["job_id"] = "fleet-2"
    return bad


@pytest.mark.parametrize("how", ["bytes", "forged", "foreign", "other_job"])
def test_a_corrupt_or_foreign_bundle_is_refused_whole(tmp_path: Path, how: str) -> None:
    store_a, dir_a, job = _heater(tmp_path / "a")
    _run_some(store_a, dir_a, job)
    bundle = export_bundle(store_a, job.job_id)
    store_b, dir_b, _ = _heater(tmp_path / "b")
    with pytest.raises(HandoffError):
        restore_bundle(store_b, job.job_id, _tampered(bundle, how), dir_b)
    # Nothing of it was used: the job starts from zero, and still gets the right result.
    assert all(s.units_done == 0 and s.partial is None for s in store_b.shards(job.job_id))
    assert not list(dir_b.glob("*.npz")) if dir_b.exists() else True
    assert _finish(store_b, job) == kernels.run_job(KERNEL, PARAMS)


def test_a_bundle_that_would_not_fit_a_message_is_not_made(tmp_path: Path) -> None:
    import numpy as np

    from boiler_agent.compute import handoff

    store, directory, job = _heater(tmp_path / "a")
    noise = {"units_done": np.array(1), "z": np.random.default_rng(1).random(200_000)}
    path = checkpoint.checkpoint_path(directory, job.job_id, 1)
    checkpoint.save(path, noise, job_id=job.job_id, shard=1, digest=job.digest)
    store.shard_checkpointed(job.job_id, 1, 1, str(path))
    with pytest.raises(HandoffError, match="not released"):
        handoff.export_bundle(store, job.job_id)
