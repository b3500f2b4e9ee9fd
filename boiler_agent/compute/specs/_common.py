"""What every kernel spec shares: strict parameter models, fixed shard plans, exact sums."""

from __future__ import annotations

import fractions
import math
from collections.abc import Mapping
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import BaseModel, ConfigDict, Field

from boiler_agent.compute.kernel_api import Shard, State

# numpy is imported inside the functions that use it: the supervisor process loads it (about
# 13 MB) only when it combines or checks results, never just to start.
if TYPE_CHECKING:
    import numpy as np

# Seeds become a Philox key of two 32-bit words; kept below 2**63 so they fit numba's int64.
MAX_SEED = 2**63 - 1
Seed = Annotated[int, Field(ge=0, le=MAX_SEED, description="random seed, 0 .. 2**63-1")]


class KernelParams(BaseModel):
    """Base of every kernel's parameters: unknown keys, NaN, inf and strings-as-numbers fail."""

    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True, frozen=True)


def fixed_shards(total_units: int, units_per_shard: int) -> list[Shard]:
    """Contiguous shards of `units_per_shard` units (the last one may be shorter)."""
    if total_units < 1 or units_per_shard < 1:
        raise ValueError(f"need at least one unit per shard, got {total_units}, {units_per_shard}")
    return [
        Shard(index, first, min(units_per_shard, total_units - first))
        for index, first in enumerate(range(0, total_units, units_per_shard))
    ]


MAX_EXACT_TERMS = 64  # the exact sum of float64s never needs more (their bits span < 2,100)
_SCALE_BITS = 1074  # every finite float64 is a whole multiple of 2**-1074


def exact_terms(values: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """A few float64 whose exact sum is the exact sum of `values` (usually one to three).

    `math.fsum` rounds the exact sum of what it is given once, so `fsum` over the terms of
    several groups gives the same float, to the bit, as `fsum` over every value of every group.
    A shard keeps these terms instead of one sum per work unit: its checkpoints and results
    are a few bytes, not 16 per unit (a busy worker wrote 80 MB an hour of them).
    Hand-written: the stdlib's fsum keeps such terms inside and returns only their rounding.
    """
    import numpy as np

    total = 0  # the exact sum, in units of 2**-1074
    for value in values.astype(np.float64, copy=False).ravel().tolist():
        total += _scaled(value)
    terms = []
    while total:  # the nearest float, then what it leaves: each term smaller than the last
        try:
            term = float(fractions.Fraction(total, 1 << _SCALE_BITS))
        except OverflowError:
            raise ValueError("the exact sum is beyond float64") from None
        terms.append(term)
        total -= _scaled(term)
    return np.array(terms, dtype=np.float64)


def _scaled(value: float) -> int:
    """`value` as a whole number of 2**-1074."""
    if not math.isfinite(value):
        raise ValueError(f"cannot keep an exact sum of {value}")
    numerator, denominator = value.as_integer_ratio()  # the denominator is a power of two
    return numerator << (_SCALE_BITS - denominator.bit_length() + 1)


def exact_sum(values: np.ndarray[Any, Any]) -> float:
    """The correctly rounded sum (math.fsum): independent of order, SIMD width and machine."""
    import numpy as np

    return math.fsum(values.astype(np.float64, copy=False).ravel().tolist())


def concat(partials: list[State], key: str) -> np.ndarray[Any, Any]:
    """One array of `key` from every shard's partial, in shard (hence unit) order."""
    import numpy as np

    try:
        return np.concatenate([np.asarray(partial[key]).ravel() for partial in partials])
    except KeyError:
        raise ValueError(f"a shard's partial result has no {key!r}") from None


def check_state(
    state: State, expected: Mapping[str, tuple[tuple[int, ...], str]], units: int
) -> int:
    """Validate a saved state's arrays (shape, dtype) and return its units_done."""
    import numpy as np

    for key, (shape, dtype) in expected.items():
        if key not in state:
            raise ValueError(f"saved state has no {key!r}; has {sorted(state)}")
        array = np.asarray(state[key])
        if array.shape != shape or array.dtype != np.dtype(dtype):
            raise ValueError(
                f"saved state {key!r} is {array.dtype}{list(array.shape)}, "
                f"expected {np.dtype(dtype)}{list(shape)}"
            )
    done = int(np.asarray(state.get("units_done", -1)))
    if not 0 <= done <= units:
        raise ValueError(f"saved state units_done={done} is outside 0..{units}")
    return done


def check_terms(state: State, key: str) -> np.ndarray[Any, Any]:
    """A saved state's or partial's `exact_terms` array: 1-D float64, finite, a few terms."""
    import numpy as np

    if key not in state:
        raise ValueError(f"saved state has no {key!r}; has {sorted(state)}")
    array = np.asarray(state[key])
    if array.ndim != 1 or array.dtype != np.float64 or array.size > MAX_EXACT_TERMS:
        raise ValueError(
            f"saved state {key!r} is {array.dtype}{list(array.shape)}, expected "
            f"float64[n] with n <= {MAX_EXACT_TERMS}"
        )
    if not np.isfinite(array).all():
        raise ValueError(f"saved state {key!r} holds a value that is not finite")
    exact_terms(array)  # their sum must be a float64 too: ValueError if beyond
    return array
