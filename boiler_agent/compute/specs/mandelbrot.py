"""Escape-time render of the Mandelbrot set: the spec."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, ClassVar

from pydantic import BaseModel, Field, model_validator

from boiler_agent.compute.kernel_api import JsonValue, KernelSpec, Shard, State
from boiler_agent.compute.specs._common import KernelParams, concat, fixed_shards

if TYPE_CHECKING:
    pass

# A unit is a run of consecutive pixels (raster order) worth at most this many iterations, so a
# unit stays under ~2 ms even where every pixel is inside the set; rows could not promise that.
ITERATIONS_PER_UNIT = 2**20
SHARD_PIXELS = 2**17  # a shard is a fixed run of pixels: 128 rows of 1024
MAX_PIXELS = 2**24  # the counts of the whole image (64 MiB) meet in `combine`
MAX_ITER = 2**20
VIEW_WIDTH = 3.0  # at zoom 1 the image is 3 units of the complex plane wide
ESCAPE_RADIUS_SQUARED = 4.0


class MandelbrotParams(KernelParams):
    width: int = Field(ge=1, le=16384, description="image width in pixels")
    height: int = Field(ge=1, le=16384, description="image height in pixels")
    max_iter: int = Field(
        ge=1, le=MAX_ITER, description="iterations before a point counts as inside"
    )
    center_re: float = Field(ge=-4, le=4, description="real part of the image centre")
    center_im: float = Field(ge=-4, le=4, description="imaginary part of the image centre")
    # Beyond ~1e13 neighbouring pixels fall on the same float64 and the image is meaningless.
    zoom: float = Field(ge=1e-3, le=1e13, description="magnification; 1 shows 3 units across")

    @model_validator(mode="after")
    def _bounded_image(self) -> MandelbrotParams:
        if self.width * self.height > MAX_PIXELS:
            raise ValueError(f"width x height = {self.width} x {self.height} is over {MAX_PIXELS}")
        return self


def pixels_per_unit(p: MandelbrotParams) -> int:
    return max(1, ITERATIONS_PER_UNIT // p.max_iter)


def unit_count(p: MandelbrotParams) -> int:
    return -(-(p.width * p.height) // pixels_per_unit(p))


def units_per_shard(p: MandelbrotParams) -> int:
    return max(1, SHARD_PIXELS // pixels_per_unit(p))


def pixel_geometry(p: MandelbrotParams) -> tuple[float, float, float]:
    """(scale, half width, half height): pixel (x, y) is c = centre + ((x - hw), (hh - y)) scale."""
    return VIEW_WIDTH / (p.zoom * p.width), (p.width - 1) / 2, (p.height - 1) / 2


def shard_pixels(p: MandelbrotParams, shard: Shard) -> tuple[int, int]:
    """(first pixel, pixel count) of a shard, in raster order."""
    per_unit = pixels_per_unit(p)
    first = shard.first_unit * per_unit
    return first, min(shard.units * per_unit, p.width * p.height - first)


class MandelbrotSpec(KernelSpec):
    name: ClassVar[str] = "mandelbrot"
    description: ClassVar[str] = (
        "Escape-time render of the Mandelbrot set; units are runs of pixels, shards fixed runs "
        "of pixels; result: sha256 of the uint32 counts, total iterations, share inside"
    )
    params_model: ClassVar[type[BaseModel]] = MandelbrotParams
    run_class: ClassVar[str] = "boiler_agent.compute.kernels.mandelbrot:MandelbrotRun"

    def plan(self, params: BaseModel) -> list[Shard]:
        p = MandelbrotParams.model_validate(params)
        return fixed_shards(unit_count(p), units_per_shard(p))

    def memory_bytes(self, params: BaseModel) -> int:
        p = MandelbrotParams.model_validate(params)
        pixels = min(p.width * p.height, units_per_shard(p) * pixels_per_unit(p))
        return 2 * 4 * pixels  # the shard's counts and their copy in state()

    def combine(self, params: BaseModel, partials: list[State]) -> dict[str, JsonValue]:
        import numpy as np

        p = MandelbrotParams.model_validate(params)
        counts = concat(partials, "counts").astype("<u4", copy=False)
        if counts.size != p.width * p.height:
            raise ValueError(f"expected {p.width * p.height} pixel counts, got {counts.size}")
        return {
            "checksum": hashlib.sha256(counts.tobytes()).hexdigest(),
            "total_iterations": int(counts.sum(dtype=np.uint64)),
            "inside_fraction": float(np.count_nonzero(counts == p.max_iter) / counts.size),
            "width": p.width,
            "height": p.height,
            "max_iter": p.max_iter,
        }
