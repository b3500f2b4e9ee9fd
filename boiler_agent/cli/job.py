"""`boiler-agent job ...` and `boiler-agent warm-cache`: compute jobs from the command line."""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from boiler_agent.compute.jobs import DEFAULT_MEMORY_BUDGET_BYTES, MIB, JobError, validate_job
from boiler_agent.compute.pool import WorkerPool
from boiler_agent.compute.scheduler import DEFAULT_CHECKPOINT_INTERVAL_S, JobScheduler
from boiler_agent.compute.specs import KERNELS
from boiler_agent.compute.store import JobStore
from boiler_agent.paths import default_cache_dir, default_state_dir, numba_cache_dir
from boiler_agent.terminal import console

BOUND_KEYS = ("minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum")


def add_parser(commands: Any) -> None:
    parser = commands.add_parser("job", help="run, submit and inspect compute jobs")
    which = parser.add_subparsers(dest="job_command", metavar="ACTION", required=True)

    kernels = which.add_parser("kernels", help="list the kernels and their parameter schemas")
    kernels.add_argument("--json", action="store_true", help="the schemas as one JSON object")
    kernels.set_defaults(handler=_kernels)

    run = which.add_parser(
        "run",
        help="run one job to the end and print its result as JSON",
        description=(
            "Validate the job, run it on N worker processes with checkpoints, and print the "
            "result as one JSON line. With --state-dir and --job-id, running the same command "
            "again after a crash resumes from the last checkpoints."
        ),
    )
    _job_arguments(run)
    run.add_argument("--workers", type=int, default=os.cpu_count() or 1, help="worker processes")
    run.add_argument("--state-dir", type=Path, help="job store and checkpoints (default: temp)")
    run.add_argument(
        "--checkpoint-interval",
        type=float,
        default=DEFAULT_CHECKPOINT_INTERVAL_S,
        help="seconds between checkpoints (default %(default)g)",
    )
    run.set_defaults(handler=_run)

    submit = which.add_parser("submit", help="add a job to the local store")
    _job_arguments(submit)
    submit.add_argument("--state-dir", type=Path, default=None, help="default: the agent's")
    submit.set_defaults(handler=_submit)

    listing = which.add_parser("list", help="jobs in the local store")
    listing.add_argument("--state", choices=["queued", "running", "preempted", "done", "failed"])
    listing.add_argument("--state-dir", type=Path, default=None)
    listing.add_argument("--json", action="store_true", help="one JSON object per line")
    listing.set_defaults(handler=_list)

    show = which.add_parser("show", help="one job from the local store, as JSON")
    show.add_argument("job_id")
    show.add_argument("--state-dir", type=Path, default=None)
    show.set_defaults(handler=_show)

    warm = commands.add_parser(
        "warm-cache",
        help="compile every kernel ahead of time into the numba cache",
        description="Compile every kernel into the cache so that workers start from it.",
    )
    warm.add_argument("--cache-dir", type=Path, default=None, help="default: the agent's")
    warm.set_defaults(handler=_warm)


def _job_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kernel", required=True, help="see 'boiler-agent job kernels'")
    parser.add_argument("--params", required=True, help="the parameters as a JSON object")
    parser.add_argument("--job-id", help="idempotent id (default: a new random one)")
    parser.add_argument(
        "--memory-budget-mb",
        type=int,
        default=DEFAULT_MEMORY_BUDGET_BYTES // MIB,
        help="refuse jobs estimated above this (default %(default)s)",
    )


def _fail(message: str) -> int:
    print(f"boiler-agent job: {message}", file=sys.stderr)
    return 2


def _kernels(args: argparse.Namespace) -> int:
    schemas: dict[str, dict[str, Any]] = {
        name: {"description": spec.description, "params": spec.params_model.model_json_schema()}
        for name, spec in KERNELS.items()
    }
    if args.json:
        print(json.dumps(schemas))
        return 0
    for name, info in schemas.items():
        console.print(f"[bold]{name}[/]: {info['description']}")
        properties = info["params"].get("properties", {})
        required = set(info["params"].get("required", []))
        for field, schema in properties.items():
            bounds = [f"{key} {schema[key]}" for key in BOUND_KEYS if key in schema]
            need = "required" if field in required else f"default {schema.get('default')!r}"
            console.print(f"    {field}: {schema.get('type', '')} {', '.join(bounds)} ({need})")
    return 0


def _validated(args: argparse.Namespace) -> Any:
    return validate_job(
        args.kernel,
        args.params,
        job_id=args.job_id,
        memory_budget_bytes=args.memory_budget_mb * MIB,
    )


def _run(args: argparse.Namespace) -> int:
    if args.workers < 1:
        return _fail(f"--workers must be at least 1, got {args.workers}")
    try:
        job = _validated(args)
    except JobError as exc:
        return _fail(str(exc))
    with tempfile.TemporaryDirectory(prefix="boiler-agent-job-") as tmp:
        state_dir = args.state_dir or Path(tmp)
        store = JobStore(state_dir / "jobs.sqlite")
        store.submit(job)
        pool = WorkerPool(args.workers, cache_dir=str(numba_cache_dir(default_cache_dir())))
        scheduler = JobScheduler(
            store,
            pool,
            checkpoint_dir=state_dir / "checkpoints",
            checkpoint_interval_s=args.checkpoint_interval,
        )
        total = sum(shard.units for shard in job.shards)
        try:
            with Progress(
                TextColumn(f"{job.kernel} {job.job_id}"),
                BarColumn(),
                TextColumn("{task.completed:.0f}/{task.total:.0f} units"),
                TimeElapsedColumn(),
                console=console,
                transient=True,
                disable=not console.is_terminal,
            ) as progress:
                bar = progress.add_task("run", total=total)
                record = store.get(job.job_id)
                while record is not None and record.state.value not in ("done", "failed"):
                    scheduler.tick(0.1)
                    done = sum(s.units_done for s in store.shards(job.job_id))
                    progress.update(bar, completed=done)
                    record = store.get(job.job_id)
        except KeyboardInterrupt:
            pool.close()
            return _fail(f"interrupted; checkpoints of {job.job_id} are in {state_dir}")
        pool.close()
        store.close()
    if record is None or record.result is None:
        return _fail(f"job {job.job_id} failed: {record.error if record else 'vanished'}")
    print(json.dumps(record.result))
    return 0


def _store(args: argparse.Namespace) -> JobStore:
    return JobStore((args.state_dir or default_state_dir()) / "jobs.sqlite")


def _submit(args: argparse.Namespace) -> int:
    try:
        job = _validated(args)
    except JobError as exc:
        return _fail(str(exc))
    added = _store(args).submit(job)
    summary = {
        "job_id": job.job_id,
        "accepted": added,
        "shards": len(job.shards),
        "memory_mb": round(job.memory_bytes / MIB, 1),
    }
    print(json.dumps(summary))
    return 0


def _list(args: argparse.Namespace) -> int:
    from boiler_agent.compute.jobs import JobState

    records = _store(args).jobs(JobState(args.state) if args.state else None, limit=1000)
    for record in records:
        if args.json:
            print(json.dumps(record.as_dict()))
        else:
            when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(record.created))
            filler = " (filler)" if record.filler else ""
            print(
                f"{record.id}  {record.kernel:<11} {record.state.value:<9} {when}  "
                f"cpu {record.cpu_s:8.1f} s  {record.energy_wh:7.2f} Wh{filler}"
            )
    return 0


def _show(args: argparse.Namespace) -> int:
    store = _store(args)
    record = store.get(args.job_id)
    if record is None:
        return _fail(f"no job {args.job_id!r} in {store.path}")
    out = record.as_dict()
    out["shards"] = [
        vars(shard) | {"state": shard.state.value} for shard in store.shards(record.id)
    ]
    print(json.dumps(out, indent=2))
    return 0


def _warm(args: argparse.Namespace) -> int:
    cache = numba_cache_dir(args.cache_dir or default_cache_dir())
    cache.mkdir(parents=True, exist_ok=True)
    os.environ["NUMBA_CACHE_DIR"] = str(cache)
    os.environ.setdefault("NUMBA_NUM_THREADS", "1")
    started = time.perf_counter()
    from boiler_agent.compute import kernels  # numba: this command is not the supervisor

    kernels.warm_all()
    print(f"compiled {len(KERNELS)} kernels into {cache} in {time.perf_counter() - started:.1f} s")
    return 0
