"""The job store's rows as values: a job, a shard, what one prune deleted."""

from __future__ import annotations

import json
import sqlite3
from dataclasses import dataclass
from typing import Any

from boiler_agent.compute.jobs import JobState


@dataclass(frozen=True)
class JobRecord:
    id: str
    kernel: str
    params: dict[str, Any]
    state: JobState
    filler: bool
    attempts: int
    created: float
    updated: float
    finished: float | None
    result: dict[str, Any] | None
    error: str | None
    cpu_s: float
    chunks: int
    energy_wh: float

    def as_dict(self) -> dict[str, Any]:
        out = dict(vars(self))
        out["state"] = self.state.value
        return out


@dataclass(frozen=True)
class ShardRecord:
    job_id: str
    idx: int
    first_unit: int
    units: int
    state: JobState
    units_done: int
    checkpoint: str | None
    partial: str | None
    attempts: int


@dataclass(frozen=True)
class Pruned:
    """What one `prune()` call deleted: the files its shard rows named, and whether more waits."""

    jobs: int
    shards: int
    files: list[str]
    more: bool


def job_from_row(row: sqlite3.Row) -> JobRecord:
    return JobRecord(
        id=row["id"],
        kernel=row["kernel"],
        params=json.loads(row["params"]),
        state=JobState(row["state"]),
        filler=bool(row["filler"]),
        attempts=row["attempts"],
        created=row["created"],
        updated=row["updated"],
        finished=row["finished"],
        result=json.loads(row["result"]) if row["result"] else None,
        error=row["error"],
        cpu_s=row["cpu_s"],
        chunks=row["chunks"],
        energy_wh=row["energy_wh"],
    )


def shard_from_row(row: sqlite3.Row) -> ShardRecord:
    return ShardRecord(
        job_id=row["job_id"],
        idx=row["idx"],
        first_unit=row["first_unit"],
        units=row["units"],
        state=JobState(row["state"]),
        units_done=row["units_done"],
        checkpoint=row["checkpoint"],
        partial=row["partial"],
        attempts=row["attempts"],
    )
