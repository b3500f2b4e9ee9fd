"""Shard results combined into a job's result on a small thread pool, off the loop's thread.

Loading every shard's partial result and combining them (numpy, up to a million values summed
exactly) takes long enough to stall the daemon's loop. Only that pure work moves: the job store
belongs to the loop's thread, which asks `finished()` each tick and records the outcome. File
deletions (a finished job's checkpoints, a pruned job's leftovers) run on the same pool.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from boiler_agent.compute import checkpoint
from boiler_agent.compute.kernel_api import JsonValue
from boiler_agent.compute.specs import get_spec

log = logging.getLogger(__name__)

COMBINE_THREADS = 1  # combines are rare; one thread keeps them off the loop and in order

# (kernel, params, job_id, [(shard index, partial path)]) -> the job's result
CombineFn = Callable[[str, dict[str, Any], str, list[tuple[int, str | None]]], dict[str, JsonValue]]


class CombineError(Exception):
    """The shards' results could not be combined; the message says why."""


def combine_results(
    kernel: str, params: dict[str, Any], job_id: str, partials: list[tuple[int, str | None]]
) -> dict[str, JsonValue]:
    """Load each shard's partial result (checked against the job) and combine them in order."""
    spec = get_spec(kernel)
    model = spec.params_model.model_validate(params)
    digest = checkpoint.params_digest(kernel, params)
    try:
        states = [
            checkpoint.load(Path(path or ""), job_id=job_id, shard=index, digest=digest)
            for index, path in partials
        ]
        return spec.combine(model, states)
    except (checkpoint.CorruptCheckpointError, FileNotFoundError, ValueError) as exc:
        raise CombineError(f"could not combine the shards' results: {exc}") from None


@dataclass(frozen=True)
class Combined:
    """A finished combine: the result, or why there is none."""

    job_id: str
    result: dict[str, JsonValue] | None
    error: str | None


class Combiner:
    def __init__(self, combine: CombineFn = combine_results) -> None:
        self._combine = combine
        self._executor = ThreadPoolExecutor(COMBINE_THREADS, thread_name_prefix="combine")
        self._running: dict[str, Future[dict[str, JsonValue]]] = {}

    @property
    def pending(self) -> int:
        return len(self._running)

    def busy(self, job_id: str) -> bool:
        return job_id in self._running

    def submit(
        self,
        job_id: str,
        kernel: str,
        params: dict[str, Any],
        partials: list[tuple[int, str | None]],
    ) -> None:
        if job_id not in self._running:
            future = self._executor.submit(self._combine, kernel, params, job_id, partials)
            self._running[job_id] = future

    def finished(self) -> list[Combined]:
        """The combines that ended since the last call (cheap when none did)."""
        done: list[Combined] = []
        for job_id, future in list(self._running.items()):
            if not future.done():
                continue
            del self._running[job_id]
            try:
                done.append(Combined(job_id, future.result(), None))
            except CombineError as exc:
                done.append(Combined(job_id, None, str(exc)))
            except Exception as exc:  # a bug in one kernel's combine fails its job, not the agent
                log.exception("combining job %s raised", job_id)
                done.append(Combined(job_id, None, f"{type(exc).__name__}: {exc}"))
        return done

    def discard_files(self, paths: Iterable[Path | str]) -> None:
        """Delete these files in the background (missing ones are fine)."""
        listed = [Path(path) for path in paths]
        if listed:
            self._executor.submit(_unlink_all, listed)

    def close(self) -> None:
        """Stop taking work; a combine under way finishes, its result is recombined at start."""
        self._executor.shutdown(wait=False, cancel_futures=True)


def _unlink_all(paths: list[Path]) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            path.unlink(missing_ok=True)
