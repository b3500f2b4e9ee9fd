"""The memory one shard may use: the constant budget, lowered to what this machine has free."""

from __future__ import annotations

import logging

import psutil

from boiler_agent.compute.jobs import DEFAULT_MEMORY_BUDGET_BYTES, MIB

log = logging.getLogger(__name__)

# A warm worker's own memory (Python, numpy, numba, the kernels): about 110 MiB unique measured.
WORKER_BASELINE_BYTES = 128 * MIB
HEADROOM_SHARE = 0.25  # of the available memory, left to the rest of the machine and its cache
# Never lower: a momentary squeeze at start must not refuse every job until the next restart.
MIN_SHARD_MEMORY_BYTES = 16 * MIB


def shard_memory_budget(workers: int, *, available: int | None = None) -> int:
    """Bytes one shard may need for a job to be accepted, with `workers` running at once.

    Each worker's share of the available memory (less a headroom for the rest of the machine)
    less the worker's own baseline, capped by `DEFAULT_MEMORY_BUDGET_BYTES` and floored at
    `MIN_SHARD_MEMORY_BYTES`. `available` defaults to psutil's view of the machine now.
    """
    if available is None:
        available = int(psutil.virtual_memory().available)
    share = available * (1.0 - HEADROOM_SHARE) / max(1, workers) - WORKER_BASELINE_BYTES
    budget = int(max(MIN_SHARD_MEMORY_BYTES, min(DEFAULT_MEMORY_BUDGET_BYTES, share)))
    if budget < DEFAULT_MEMORY_BUDGET_BYTES:
        log.info(
            "shard memory budget %.0f MiB (%.0f MiB available for %d workers)",
            budget / MIB,
            available / MIB,
            workers,
        )
    return budget
