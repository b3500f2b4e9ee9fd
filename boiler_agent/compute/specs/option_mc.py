"""Monte Carlo price of a European option under geometric Brownian motion: the spec."""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import (
    BaseModel,
    Field,
    SerializerFunctionWrapHandler,
    model_serializer,
    model_validator,
)

from boiler_agent.compute.kernel_api import JsonValue, KernelSpec, Shard, State
from boiler_agent.compute.specs._common import (
    KernelParams,
    Seed,
    check_terms,
    exact_sum,
    fixed_shards,
)

# numpy is imported inside the functions that use it: the supervisor process loads it (about
# 13 MB) only when it combines or checks results, never just to start.
if TYPE_CHECKING:
    import numpy as np

# A work unit is a block of whole paths holding about this many normal draws (~1 ms here).
NORMALS_PER_UNIT = 2**18
SHARD_UNITS = 512  # about half a second of one core per shard: a job spreads over every core
MAX_SHARD_UNITS = 2**17  # 1.5-2 minutes of one core; 2 MB of per-unit sums in memory
MAX_NORMALS = 2**38  # paths x steps: bounds a job (results in the old per-unit format: ~20 MB)
WORDS_PER_BLOCK = 4096  # Philox blocks the kernel generates at once (two 64-bit words each)
TABLE_BYTES = 3 * 257 * 8

# Ziggurat for the normal law, 256 layers (Marsaglia and Tsang 2000): base strip edge and area.
ZIGGURAT_LAYERS = 256
ZIGGURAT_R = 3.6541528853610088
ZIGGURAT_V = 4.92867323399e-3
ZIGGURAT_BITS = 52  # each draw is one 64-bit word: 8 bits of layer, 1 of sign, 52 of abscissa


class OptionMcParams(KernelParams):
    spot: float = Field(gt=0, le=1e9, description="price of the underlying today")
    strike: float = Field(gt=0, le=1e9, description="strike price")
    rate: float = Field(ge=-1, le=1, description="risk-free rate, continuously compounded")
    volatility: float = Field(gt=0, le=5, description="annual volatility")
    maturity: float = Field(gt=0, le=100, description="time to expiry in years")
    paths: int = Field(ge=2, le=10**10, description="simulated paths")
    steps: int = Field(ge=1, le=10_000, description="time steps per path")
    shard_units: int = Field(
        default=SHARD_UNITS,
        ge=1,
        le=MAX_SHARD_UNITS,
        description=(
            "work units (about 1 ms of a core each) per shard: fewer, longer shards cost less "
            "bookkeeping and disk writes, more shards spread the job over more cores; the "
            "result is the same whatever the split"
        ),
    )
    seed: Seed = 0
    option: Literal["call", "put"] = "call"

    @model_validator(mode="after")
    def _bounded_work(self) -> OptionMcParams:
        if self.paths * self.steps > MAX_NORMALS:
            raise ValueError(
                f"paths x steps = {self.paths} x {self.steps} = {self.paths * self.steps} "
                f"is over {MAX_NORMALS}: split the job over several seeds"
            )
        return self

    @model_serializer(mode="wrap")
    def _default_split_unsaid(self, handler: SerializerFunctionWrapHandler) -> dict[str, Any]:
        """The canonical parameters (stored, digested, handed off) say `shard_units` only when
        it is not the default: a job's digest stays what it was before the parameter existed,
        so its checkpoints and handoff bundles from older heaters still match, and older
        heaters still accept it."""
        data: dict[str, Any] = handler(self)
        if data.get("shard_units") == SHARD_UNITS:
            del data["shard_units"]
        return data


def paths_per_unit(steps: int) -> int:
    return max(1, NORMALS_PER_UNIT // steps)


def unit_count(p: OptionMcParams) -> int:
    return -(-p.paths // paths_per_unit(p.steps))


def gbm_constants(p: OptionMcParams) -> tuple[float, float, float]:
    """(log S0 + (r - sigma^2/2) T, sigma sqrt(dt), exp(-r T)): log S_T = first + second * sum Z.

    Exact simulation of GBM: each step multiplies by exp((r - sigma^2/2) dt + sigma sqrt(dt) Z),
    so the terminal log price needs only the running sum of the step normals.
    """
    drift = math.log(p.spot) + (p.rate - 0.5 * p.volatility * p.volatility) * p.maturity
    return drift, p.volatility * math.sqrt(p.maturity / p.steps), math.exp(-p.rate * p.maturity)


@functools.cache
def ziggurat_tables() -> tuple[np.ndarray[Any, Any], ...]:
    """(k, w, f) of the 256-layer ziggurat, built with libm (math) so every host agrees.

    Layer i is the box [0, x_i] x [f(x_i), f(x_i+1)] with f(x) = exp(-x^2/2); a draw with
    integer abscissa j < k[i] lies under the curve for sure (x = j * w[i] < x_i+1).
    """
    import numpy as np

    n = ZIGGURAT_LAYERS
    x = [0.0] * (n + 1)
    x[0] = ZIGGURAT_V / math.exp(-0.5 * ZIGGURAT_R * ZIGGURAT_R)  # base strip plus the tail
    x[1] = ZIGGURAT_R
    for i in range(1, n - 1):
        x[i + 1] = math.sqrt(-2.0 * math.log(ZIGGURAT_V / x[i] + math.exp(-0.5 * x[i] * x[i])))
    scale = float(2**ZIGGURAT_BITS)
    k = np.array([math.floor(scale * x[i + 1] / x[i]) for i in range(n)], dtype=np.uint64)
    w = np.array([x[i] / scale for i in range(n)], dtype=np.float64)
    f = np.array([math.exp(-0.5 * v * v) for v in x], dtype=np.float64)
    return k, w, f


class OptionMcSpec(KernelSpec):
    name: ClassVar[str] = "option_mc"
    description: ClassVar[str] = (
        "Monte Carlo price of a European call or put under geometric Brownian motion "
        "(Philox4x32-10 streams per block of paths, ziggurat normals); result: price, stderr"
    )
    params_model: ClassVar[type[BaseModel]] = OptionMcParams
    run_class: ClassVar[str] = "boiler_agent.compute.kernels.option_mc:OptionMcRun"

    def plan(self, params: BaseModel) -> list[Shard]:
        p = OptionMcParams.model_validate(params)
        return fixed_shards(unit_count(p), p.shard_units)

    def memory_bytes(self, params: BaseModel) -> int:
        p = OptionMcParams.model_validate(params)
        units = min(p.shard_units, unit_count(p))
        words = 2 * 8 * max(WORDS_PER_BLOCK, (p.steps + 1) // 2)
        return words + TABLE_BYTES + 2 * 2 * 8 * units  # per-unit sums, and state()'s concatenation

    def combine(self, params: BaseModel, partials: list[State]) -> dict[str, JsonValue]:
        p = OptionMcParams.model_validate(params)
        units, sums, squares = _gather(partials)
        if units != unit_count(p):
            raise ValueError(f"expected {unit_count(p)} units in the shards' results, got {units}")
        _, _, discount = gbm_constants(p)
        try:
            total, total_squares = exact_sum(sums), exact_sum(squares)
        except OverflowError:
            raise ValueError("the shards' sums add up beyond float64") from None
        mean = total / p.paths
        variance = max(total_squares / p.paths - mean * mean, 0.0) * p.paths / (p.paths - 1)
        return {
            "price": discount * mean,
            "stderr": discount * math.sqrt(variance / p.paths),
            "payoff_mean": mean,
            "payoff_std": math.sqrt(variance),
            "discount": discount,
            "paths": p.paths,
            "steps": p.steps,
            "option": p.option,
            "units": units,
            "generator": "philox4x32-10, ziggurat-256",
        }


def _gather(partials: list[State]) -> tuple[int, np.ndarray[Any, Any], np.ndarray[Any, Any]]:
    """(units, sum terms, sum-of-squares terms) of every shard's result. A result is the exact
    terms of its totals (`exact_terms`), or, written before them, one sum per unit: `fsum`
    over either gives the same float, so results of both kinds combine."""
    import numpy as np

    units, sums, squares = 0, [], []
    for partial in partials:
        if "sum" in partial:
            per_unit = np.asarray(partial["sum"], dtype=np.float64).ravel()
            per_unit_squares = np.asarray(partial.get("sumsq", []), dtype=np.float64).ravel()
            if not (np.isfinite(per_unit).all() and np.isfinite(per_unit_squares).all()):
                raise ValueError(
                    "a shard's result 'sum' or 'sumsq' holds a value that is not finite"
                )
            if per_unit_squares.size != per_unit.size:
                raise ValueError(
                    f"a shard's result has {per_unit.size} sums, "
                    f"{per_unit_squares.size} sums of squares"
                )
            units += per_unit.size
            sums.append(per_unit)
            squares.append(per_unit_squares)
            continue
        if "units" not in partial:
            raise ValueError(f"a shard's result has no 'units'; has {sorted(partial)}")
        count = np.asarray(partial["units"])
        if count.shape != () or count.dtype.kind not in "iu" or int(count) < 0:
            raise ValueError(f"a shard's result has units {count!r}: expected a count")
        units += int(count)
        sums.append(check_terms(partial, "sum_terms"))
        squares.append(check_terms(partial, "sumsq_terms"))
    if not partials:
        return 0, np.zeros(0), np.zeros(0)
    return units, np.concatenate(sums), np.concatenate(squares)
