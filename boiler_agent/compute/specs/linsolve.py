"""Dense linear solve A X = B (LAPACK LU, many right-hand sides): the spec."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, Field

from boiler_agent.compute.kernel_api import JsonValue, KernelSpec, Shard, State
from boiler_agent.compute.specs._common import KernelParams, Seed, concat, exact_sum, fixed_shards

if TYPE_CHECKING:
    pass

MAX_N = 2048  # the LU at a shard's start (or resume) stays under ~0.3 s
MAX_RHS = 2**20
# A unit is a block of columns of B worth about this many flops (solve + residual, ~1-2 ms).
FLOPS_PER_UNIT = 2**26
MAX_COLUMNS_PER_UNIT = 4096
# A shard is worth about this many flops (~1 s), so its LU is a small share of its work.
FLOPS_PER_SHARD = 2**35
SCRATCH_BLOCKS = 3  # B, X and the residual of one unit


class LinsolveParams(KernelParams):
    n: int = Field(ge=2, le=MAX_N, description="order of the matrix A")
    rhs: int = Field(ge=1, le=MAX_RHS, description="number of right-hand sides (columns of B)")
    seed: Seed = 0


def columns_per_unit(n: int) -> int:
    return max(1, min(MAX_COLUMNS_PER_UNIT, FLOPS_PER_UNIT // (4 * n * n)))


def unit_count(p: LinsolveParams) -> int:
    return -(-p.rhs // columns_per_unit(p.n))


def units_per_shard(p: LinsolveParams) -> int:
    return max(1, FLOPS_PER_SHARD // (4 * p.n * p.n * columns_per_unit(p.n)))


def solve_flops(n: int, columns: int) -> float:
    """Flops of one LU (2/3 n^3), its triangular solves (2 n^2 per column) and A X - B (2 n^2)."""
    return 2.0 / 3.0 * n**3 + 4.0 * n * n * columns


class LinsolveSpec(KernelSpec):
    name: ClassVar[str] = "linsolve"
    description: ClassVar[str] = (
        "Solve A X = B for a seeded, diagonally dominant n x n matrix A and many right-hand "
        "sides with LAPACK (one LU per shard, units are blocks of columns); result: residual "
        "and solution norms, solution checksum"
    )
    params_model: ClassVar[type[BaseModel]] = LinsolveParams
    run_class: ClassVar[str] = "boiler_agent.compute.kernels.linsolve:LinsolveRun"

    def plan(self, params: BaseModel) -> list[Shard]:
        p = LinsolveParams.model_validate(params)
        return fixed_shards(unit_count(p), units_per_shard(p))

    def memory_bytes(self, params: BaseModel) -> int:
        p = LinsolveParams.model_validate(params)
        units = min(unit_count(p), units_per_shard(p))
        columns = min(p.rhs, columns_per_unit(p.n))
        # A and its LU, one unit's blocks, per-unit sums and their copy in state().
        return 8 * (2 * p.n * p.n + SCRATCH_BLOCKS * p.n * columns + p.n) + 2 * 4 * 8 * units

    def combine(self, params: BaseModel, partials: list[State]) -> dict[str, JsonValue]:
        import numpy as np

        p = LinsolveParams.model_validate(params)
        residual, x_sq, b_sq = (concat(partials, key) for key in ("resid_sq", "x_sq", "b_sq"))
        hashes = concat(partials, "x_hash").astype(np.uint64)
        if not residual.size == x_sq.size == b_sq.size == hashes.size == unit_count(p):
            raise ValueError(f"expected {unit_count(p)} unit results, got {residual.size}")
        a_norm = float(np.asarray(partials[0]["a_norm"]).ravel()[0])
        residual_norm = math.sqrt(exact_sum(residual))
        x_norm, b_norm = math.sqrt(exact_sum(x_sq)), math.sqrt(exact_sum(b_sq))
        # Each unit's hash is a sum over its entries, so their sum hashes all of X.
        checksum = int(hashes.sum(dtype=np.uint64))
        return {
            "residual_norm": residual_norm,
            "relative_residual": residual_norm / (a_norm * x_norm + b_norm),
            "solution_norm": x_norm,
            "rhs_norm": b_norm,
            "matrix_norm": a_norm,
            "solution_checksum": f"{checksum:016x}",
            "n": p.n,
            "rhs": p.rhs,
        }
