"""What every kernel spec shares: strict parameter models, fixed shard plans, exact sums."""

from __future__ import annotations

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
