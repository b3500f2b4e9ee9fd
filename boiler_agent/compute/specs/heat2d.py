"""2-D heat diffusion by Jacobi sweeps of the 5-point stencil, Dirichlet edges: the spec."""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, ClassVar, Literal

from pydantic import BaseModel, Field, model_validator

from boiler_agent.compute.kernel_api import JsonValue, KernelSpec, Shard, State
from boiler_agent.compute.specs._common import KernelParams, Seed, fixed_shards

if TYPE_CHECKING:
    pass

MAX_POINTS = 2**22  # one sweep of the largest grid stays under ~10 ms, two grids under 64 MiB
MAX_SIDE = 4096
MAX_ALPHA = 0.25  # explicit scheme, unit spacing: stable for alpha <= 1/4
GRIDS_IN_MEMORY = 3  # the two Jacobi buffers and the copy that state() hands out
STATS = ("mean", "max", "min", "residual")


class Heat2dParams(KernelParams):
    nx: int = Field(ge=3, le=MAX_SIDE, description="grid points along x, edges included")
    ny: int = Field(ge=3, le=MAX_SIDE, description="grid points along y, edges included")
    iterations: int = Field(ge=1, le=10**8, description="Jacobi sweeps")
    alpha: float = Field(gt=0, le=MAX_ALPHA, description="diffusion number D dt / h^2")
    initial: Literal["sine", "hot_spot", "random"] = "sine"
    seed: Seed = 0  # used by initial="random"

    @model_validator(mode="after")
    def _bounded_grid(self) -> Heat2dParams:
        if self.nx * self.ny > MAX_POINTS:
            raise ValueError(f"nx x ny = {self.nx} x {self.ny} is over {MAX_POINTS} points")
        return self


def sine_decay(p: Heat2dParams) -> float:
    """Per-sweep factor of the mode sin(pi x) sin(pi y) under the discrete operator.

    The 5-point Laplacian maps sin(pi i h) to -4 sin^2(pi h / 2) times itself along each axis.
    """
    hx, hy = 1.0 / (p.nx - 1), 1.0 / (p.ny - 1)
    return 1.0 - 4.0 * p.alpha * (math.sin(math.pi * hx / 2) ** 2 + math.sin(math.pi * hy / 2) ** 2)


class Heat2dSpec(KernelSpec):
    name: ClassVar[str] = "heat2d"
    description: ClassVar[str] = (
        "2-D heat diffusion, Jacobi 5-point stencil with fixed (Dirichlet) edges; one sweep per "
        "unit, one shard; result: sha256 of the final grid, mean, max, min, residual"
    )
    params_model: ClassVar[type[BaseModel]] = Heat2dParams
    run_class: ClassVar[str] = "boiler_agent.compute.kernels.heat2d:Heat2dRun"

    def plan(self, params: BaseModel) -> list[Shard]:
        p = Heat2dParams.model_validate(params)
        return fixed_shards(p.iterations, p.iterations)  # each sweep needs the one before

    def memory_bytes(self, params: BaseModel) -> int:
        p = Heat2dParams.model_validate(params)
        return GRIDS_IN_MEMORY * p.nx * p.ny * 8

    def combine(self, params: BaseModel, partials: list[State]) -> dict[str, JsonValue]:
        import numpy as np

        p = Heat2dParams.model_validate(params)
        if len(partials) != 1:
            raise ValueError(f"heat2d has one shard, got {len(partials)} partial results")
        stats = np.asarray(partials[0]["stats"], dtype=np.float64)
        digest = np.asarray(partials[0]["sha256"], dtype=np.uint8)
        if stats.shape != (len(STATS),) or digest.shape != (32,):
            raise ValueError(
                f"malformed heat2d partial: stats {stats.shape}, sha256 {digest.shape}"
            )
        result: dict[str, JsonValue] = {"checksum": digest.tobytes().hex()}
        result.update({key: float(value) for key, value in zip(STATS, stats, strict=True)})
        result.update({"iterations": p.iterations, "nx": p.nx, "ny": p.ny})
        return result
