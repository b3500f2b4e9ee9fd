"""2-D heat diffusion, Jacobi 5-point stencil: the numba kernel, one sweep per work unit.

Every sweep evaluates u' = c + alpha * ((((n + s) + w) + e) - 4 c) in exactly this order, with no
fused multiply-add (numba does not contract without fastmath), so the NumPy reference that
writes the same expression gives the same bits. Two buffers alternate; sweep k reads buffer k % 2.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np
from pydantic import BaseModel

from boiler_agent.compute.kernel_api import Shard, State
from boiler_agent.compute.kernels._common import jit, philox_words, seed_key, unit_float
from boiler_agent.compute.specs._common import check_state, exact_sum
from boiler_agent.compute.specs.heat2d import Heat2dParams

Array = np.ndarray[Any, Any]
HOT_SPOT_FRACTION = 16  # the hot square's half side is 1/16 of the shorter side
RANDOM_DOMAIN = np.uint64(3)  # Philox counter word 3: which use of the seed this is


@jit
def _sweep(u: Array, v: Array, alpha: float) -> None:
    """One Jacobi sweep from u into v; edges of v are left as they are (Dirichlet).

    The interior rows are one flat loop over the C-ordered buffers: a row's 94 points left LLVM
    a scalar remainder of 14 after its 16-wide vector loop (15 % of the points), a flat loop
    leaves one per sweep. The flat loop also writes the edge columns (a row's first point takes
    the previous row's last as its west neighbour), so they are put back from u after it; each
    interior point is still the same expression of the same neighbours.
    """
    nx, ny = u.shape
    a, b = u.reshape(nx * ny), v.reshape(nx * ny)
    lo, n = ny, (nx - 2) * ny
    # Unit-stride 1-D views of the same length: LLVM vectorises the loop over them.
    up, row, down, out = (
        a[lo - ny : lo - ny + n],
        a[lo - 1 : lo + n + 1],
        a[lo + ny : lo + ny + n],
        b[lo : lo + n],
    )
    for j in range(n):
        c = row[j + 1]
        out[j] = c + alpha * ((((up[j] + down[j]) + row[j]) + row[j + 2]) - 4.0 * c)
    for i in range(1, nx - 1):
        v[i, 0] = u[i, 0]
        v[i, ny - 1] = u[i, ny - 1]


@jit
def _sweeps(a: Array, b: Array, alpha: float, start: int, count: int) -> None:
    for k in range(start, start + count):
        if k % 2 == 0:
            _sweep(a, b, alpha)
        else:
            _sweep(b, a, alpha)


@jit
def _residual(u: Array, alpha: float) -> float:
    """max |u' - u| that one more sweep would make: how far from steady state the grid is."""
    nx, ny = u.shape
    worst = 0.0
    for i in range(1, nx - 1):
        for j in range(1, ny - 1):
            c = u[i, j]
            new = c + alpha * (
                (((u[i - 1, j] + u[i + 1, j]) + u[i, j - 1]) + u[i, j + 1]) - 4.0 * c
            )
            worst = max(worst, abs(new - c))
    return worst


@jit
def _random_interior(u: Array, key: Array) -> None:
    """Uniform [0, 1) values inside the edges; the value of cell q = i ny + j is Philox(q)."""
    nx, ny = u.shape
    for i in range(1, nx - 1):
        for j in range(1, ny - 1):
            q = np.uint64(i * ny + j)
            word, _ = philox_words(q, np.uint64(0), np.uint64(0), RANDOM_DOMAIN, key[0], key[1])
            u[i, j] = unit_float(word)


def initial_grid(p: Heat2dParams) -> Array:
    """The grid before the first sweep; edges are zero in every case."""
    u = np.zeros((p.nx, p.ny))
    if p.initial == "sine":
        # libm's sin (math), not numpy's SIMD one, so that every host builds the same grid.
        sx = np.array([math.sin(math.pi * i / (p.nx - 1)) for i in range(p.nx)])
        sy = np.array([math.sin(math.pi * j / (p.ny - 1)) for j in range(p.ny)])
        sx[[0, -1]] = 0.0
        sy[[0, -1]] = 0.0
        u[:] = np.outer(sx, sy)
    elif p.initial == "hot_spot":
        h = max(1, min(p.nx, p.ny) // HOT_SPOT_FRACTION)
        ci, cj = p.nx // 2, p.ny // 2
        u[
            max(1, ci - h) : min(p.nx - 1, ci + h + 1), max(1, cj - h) : min(p.ny - 1, cj + h + 1)
        ] = 1
    else:
        _random_interior(u, np.array(seed_key(p.seed), dtype=np.uint64))
    return u


def grid_summary(u: Array, alpha: float) -> State:
    """The partial result: sha256 of the float64 grid bytes and (mean, max, min, residual)."""
    grid = np.ascontiguousarray(u, dtype="<f8")
    stats = [exact_sum(grid) / grid.size, float(grid.max()), float(grid.min()), _residual(u, alpha)]
    digest = np.frombuffer(hashlib.sha256(grid.tobytes()).digest(), dtype=np.uint8).copy()
    return {"sha256": digest, "stats": np.array(stats, dtype=np.float64)}


class Heat2dRun:
    """The single shard of a heat2d job: `step(k)` makes k more sweeps."""

    def __init__(self, params: BaseModel, shard: Shard, state: State | None = None) -> None:
        self.p = Heat2dParams.model_validate(params)
        self.shard = shard
        self.units_done = 0
        if state is None:
            grid = initial_grid(self.p)
        else:
            expected = {"grid": ((self.p.nx, self.p.ny), "float64")}
            self.units_done = check_state(state, expected, shard.units)
            grid = np.array(state["grid"], dtype=np.float64, order="C")
        # Both buffers start as the grid, so their fixed edges agree whichever is read next.
        self._buffers = (grid, grid.copy())

    @property
    def grid(self) -> Array:
        return self._buffers[self.units_done % 2]

    def step(self, units: int) -> int:
        count = max(0, min(units, self.shard.units - self.units_done))
        if count:
            _sweeps(*self._buffers, self.p.alpha, self.units_done, count)
            self.units_done += count
        return count

    def state(self) -> State:
        return {"units_done": np.array(self.units_done, dtype=np.int64), "grid": self.grid.copy()}

    def partial(self) -> State:
        if self.units_done < self.shard.units:
            raise RuntimeError(f"heat2d: {self.units_done} of {self.shard.units} sweeps done")
        return grid_summary(self.grid, self.p.alpha)
