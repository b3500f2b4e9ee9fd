"""Escape-time Mandelbrot render: the numba kernel, a run of pixels per work unit.

Pixel (x, y) is c = (centre_re + (x - hw) * scale, centre_im + (hh - y) * scale); its count is
the number of steps z <- z^2 + c made before |z|^2 > 4, or max_iter if it never escapes. The
references evaluate the same expressions in the same order, so counts agree exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel

from boiler_agent.compute.kernel_api import Shard, State
from boiler_agent.compute.kernels._common import jit
from boiler_agent.compute.specs._common import check_state
from boiler_agent.compute.specs.mandelbrot import (
    ESCAPE_RADIUS_SQUARED,
    MandelbrotParams,
    pixel_geometry,
    pixels_per_unit,
    shard_pixels,
)

Array = np.ndarray[Any, Any]


@jit
def _escape_count(cr: float, ci: float, max_iter: int) -> int:
    zr = 0.0
    zi = 0.0
    n = 0
    while n < max_iter:
        zr2 = zr * zr
        zi2 = zi * zi
        if zr2 + zi2 > ESCAPE_RADIUS_SQUARED:
            break
        zi = 2.0 * zr * zi + ci
        zr = zr2 - zi2 + cr
        n += 1
    return n


@jit
def _render(  # noqa: PLR0917 (numba: positional arguments only)
    counts: Array, start: int, stop: int, first_pixel: int, view: Array, width: int
) -> None:
    """Counts of the shard's pixels start .. stop-1 (raster order from `first_pixel`)."""
    center_re, center_im, scale, half_w, half_h, max_iter = view
    limit = int(max_iter)
    for k in range(start, stop):
        y, x = divmod(first_pixel + k, width)
        cr = center_re + (x - half_w) * scale
        ci = center_im + (half_h - y) * scale
        counts[k] = _escape_count(cr, ci, limit)


class MandelbrotRun:
    """One shard of a mandelbrot job: a fixed run of pixels, unit by unit."""

    def __init__(self, params: BaseModel, shard: Shard, state: State | None = None) -> None:
        self.p = MandelbrotParams.model_validate(params)
        self.shard = shard
        self.units_done = 0
        self._first, pixels = shard_pixels(self.p, shard)
        self._counts = np.zeros(pixels, dtype=np.uint32)
        if state is not None:
            expected = {"counts": ((pixels,), "uint32")}
            self.units_done = check_state(state, expected, shard.units)
            self._counts[:] = state["counts"]
        scale, half_w, half_h = pixel_geometry(self.p)
        self._view = np.array(
            [self.p.center_re, self.p.center_im, scale, half_w, half_h, self.p.max_iter]
        )

    def step(self, units: int) -> int:
        count = max(0, min(units, self.shard.units - self.units_done))
        if count:
            per_unit = pixels_per_unit(self.p)
            start = self.units_done * per_unit
            stop = min(start + count * per_unit, self._counts.size)
            _render(self._counts, start, stop, self._first, self._view, self.p.width)
            self.units_done += count
        return count

    def state(self) -> State:
        return {
            "units_done": np.array(self.units_done, dtype=np.int64),
            "counts": self._counts.copy(),
        }

    def partial(self) -> State:
        if self.units_done < self.shard.units:
            raise RuntimeError(f"shard {self.shard.index}: {self.units_done} units done")
        return {"counts": self._counts.copy()}
