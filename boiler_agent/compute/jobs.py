"""Jobs as data: a kernel name and parameters, validated before anything runs.

Nothing received ever runs as code: a job can only name a kernel from the registry and give
parameters its pydantic model accepts (extra fields forbidden, every number bounded), and its
estimated memory must fit the budget. Every refusal names the field and the value.
"""

from __future__ import annotations

import enum
import json
import uuid
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, ValidationError

from boiler_agent.compute.checkpoint import params_digest
from boiler_agent.compute.kernel_api import KernelSpec, Shard
from boiler_agent.compute.specs import UnknownKernelError, get_spec

MIB = 1024 * 1024
DEFAULT_MEMORY_BUDGET_BYTES = 512 * MIB
MAX_JOB_ID_LENGTH = 64
JOB_ID_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-")


class JobState(enum.StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    PREEMPTED = "preempted"  # stopped with a checkpoint; will resume
    DONE = "done"
    FAILED = "failed"


class JobError(ValueError):
    """A job that cannot be accepted; the message names the field and the value."""


@dataclass(frozen=True)
class ValidatedJob:
    job_id: str
    kernel: str
    spec: KernelSpec
    params: BaseModel
    params_json: dict[str, Any]  # canonical: what the store keeps and checkpoints digest
    shards: list[Shard]
    memory_bytes: int

    @property
    def digest(self) -> str:
        return params_digest(self.kernel, self.params_json)


def new_job_id() -> str:
    return uuid.uuid4().hex[:16]


def validate_job(
    kernel: str,
    params: dict[str, Any] | str,
    *,
    job_id: str | None = None,
    memory_budget_bytes: int = DEFAULT_MEMORY_BUDGET_BYTES,
) -> ValidatedJob:
    """Check everything about a job before it is stored or run. Raises JobError."""
    try:
        spec = get_spec(kernel)
    except UnknownKernelError as exc:
        raise JobError(str(exc)) from None
    if isinstance(params, str):
        try:
            params = json.loads(params)
        except json.JSONDecodeError as exc:
            raise JobError(f"params is not JSON: {exc}") from None
    if not isinstance(params, dict):
        raise JobError(f"params must be a JSON object, got {type(params).__name__}")
    try:
        model = spec.params_model.model_validate(params)
    except ValidationError as exc:
        raise JobError(describe_validation_error(kernel, exc)) from None
    if job_id is not None:
        check_job_id(job_id)
    memory = spec.memory_bytes(model)
    if memory > memory_budget_bytes:
        raise JobError(
            f"{kernel} job needs about {memory / MIB:.0f} MiB, over the memory budget of "
            f"{memory_budget_bytes / MIB:.0f} MiB; make it smaller or raise the budget"
        )
    return ValidatedJob(
        job_id=job_id or new_job_id(),
        kernel=kernel,
        spec=spec,
        params=model,
        params_json=model.model_dump(mode="json"),
        shards=spec.plan(model),
        memory_bytes=memory,
    )


def check_job_id(job_id: str) -> None:
    if not 1 <= len(job_id) <= MAX_JOB_ID_LENGTH or not set(job_id) <= JOB_ID_CHARS:
        raise JobError(
            f"job_id {job_id!r} must be 1..{MAX_JOB_ID_LENGTH} of letters, digits, '.', '_', '-'"
        )


def describe_validation_error(kernel: str, exc: ValidationError) -> str:
    problems = []
    for error in exc.errors():
        where = ".".join(["params", *(str(part) for part in error["loc"])])
        value = error.get("input")
        shown = "" if error["type"] == "missing" else f" (got {value!r})"
        problems.append(f"{where}: {error['msg']}{shown}")
    return f"bad parameters for {kernel}: " + "; ".join(problems)
