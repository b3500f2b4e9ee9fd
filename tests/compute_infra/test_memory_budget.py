"""The per-shard memory budget follows the machine: a share of what is free, capped."""

from __future__ import annotations

from boiler_agent.compute.jobs import DEFAULT_MEMORY_BUDGET_BYTES, MIB
from boiler_agent.compute.memory import (
    MIN_SHARD_MEMORY_BYTES,
    WORKER_BASELINE_BYTES,
    shard_memory_budget,
)

GIB = 1024 * MIB


def test_a_large_machine_keeps_the_constant_budget() -> None:
    assert shard_memory_budget(8, available=64 * GIB) == DEFAULT_MEMORY_BUDGET_BYTES


def test_a_small_machine_shares_what_is_free_between_its_workers() -> None:
    budget = shard_memory_budget(4, available=2 * GIB)
    assert budget == int(2 * GIB * 0.75 / 4 - WORKER_BASELINE_BYTES)
    assert budget * 4 + 4 * WORKER_BASELINE_BYTES < 2 * GIB, "the workers fit, with headroom"
    assert shard_memory_budget(8, available=2 * GIB) < budget, "more workers, less each"


def test_a_squeezed_machine_still_takes_small_jobs() -> None:
    assert shard_memory_budget(16, available=512 * MIB) == MIN_SHARD_MEMORY_BYTES


def test_this_machine_gets_a_budget_within_bounds() -> None:
    budget = shard_memory_budget(2)
    assert MIN_SHARD_MEMORY_BYTES <= budget <= DEFAULT_MEMORY_BUDGET_BYTES
