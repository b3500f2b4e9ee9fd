"""Monte Carlo price of a European option under GBM: the numba kernel, run a few units at a time.

A unit is a fixed block of paths with its own Philox stream: draw q of unit u (path q // pairs,
steps 2m and 2m+1 for m = q % pairs) is the block Philox(counter=(q, 0, u), key=seed), whose two
64-bit words give two normals. Normals come from a 256-layer ziggurat rather than Box-Muller:
libm's log, sin and cos cost ~20 ns a normal here, while 99 % of ziggurat draws take one multiply
and one compare. The rare rejections draw extra blocks from counter (q, 2a + parity, u) for
attempt a = 1, 2, ..., so every draw still has a fixed address. Each path sums its step normals
in order; each unit keeps its own payoff sum and sum of squares, added in unit order later.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from pydantic import BaseModel

from boiler_agent.compute.kernel_api import Shard, State
from boiler_agent.compute.kernels._common import (
    M32,
    S32,
    jit,
    philox_words,
    seed_key,
    unit_float,
)
from boiler_agent.compute.specs._common import check_state, check_terms, exact_terms
from boiler_agent.compute.specs.option_mc import (
    WORDS_PER_BLOCK,
    ZIGGURAT_R,
    OptionMcParams,
    gbm_constants,
    paths_per_unit,
    ziggurat_tables,
)

Array = np.ndarray[Any, Any]
Tables = tuple[Array, Array, Array]  # the ziggurat's k (uint64), w and f
LAYER_MASK = np.uint64(0xFF)
S8 = np.uint64(8)
S12 = np.uint64(12)
ONE = np.uint64(1)
ZERO = np.uint64(0)


@jit
def _ziggurat_slow(  # noqa: PLR0917 (numba: positional arguments only)
    word: np.uint64, q: np.uint64, parity: int, unit: np.uint64, key: Array, tables: Tables
) -> float:
    """A normal from `word` when its fast test failed: wedge or tail, with fresh draws."""
    kt, wt, ft = tables
    attempt = 0
    while True:
        layer = int(word & LAYER_MASK)
        sign = -1.0 if (word >> S8) & ONE else 1.0
        j = word >> S12
        x = np.float64(j) * wt[layer]
        if j < kt[layer]:
            return float(sign * x)
        attempt += 1
        e0, e1 = philox_words(
            q, np.uint64(2 * attempt + parity), unit & M32, unit >> S32, key[0], key[1]
        )
        if layer == 0:  # the tail beyond R (Marsaglia 1964): exponential proposals
            while True:
                xx = -math.log(1.0 - unit_float(e0)) / ZIGGURAT_R
                yy = -math.log(1.0 - unit_float(e1))
                if yy + yy > xx * xx:
                    return float(sign * (ZIGGURAT_R + xx))
                attempt += 1
                e0, e1 = philox_words(
                    q, np.uint64(2 * attempt + parity), unit & M32, unit >> S32, key[0], key[1]
                )
        if ft[layer] + unit_float(e0) * (ft[layer + 1] - ft[layer]) < math.exp(-0.5 * x * x):
            return float(sign * x)
        word = e1  # rejected in the wedge: start again from a fresh word


@jit
def _fill(words: Array, first: int, count: int, unit: np.uint64, key: Array) -> None:
    """Primary words of Philox blocks first .. first+count-1 of `unit` (LLVM vectorises it)."""
    lo, hi = unit & M32, unit >> S32
    for i in range(count):
        w0, w1 = philox_words(np.uint64(first + i), ZERO, lo, hi, key[0], key[1])
        words[2 * i] = w0  # the draws of a path end up consecutive, in step order
        words[2 * i + 1] = w1


@jit
def _unit_sums(  # noqa: PLR0917 (numba: positional arguments only)
    unit: int, paths: int, steps: int, consts: Array, key: Array, tables: Tables, words: Array
) -> tuple[float, float]:
    """(sum, sum of squares) of the undiscounted payoffs of the `paths` paths of `unit`."""
    per_path = (steps + 1) // 2  # Philox blocks per path: two normals each
    block = max(1, words.shape[0] // (2 * per_path))
    u = np.uint64(unit)
    kt, wt = tables[0], tables[1]
    drift, vol_sqrt_dt, strike, call = consts[0], consts[1], consts[2], consts[3] > 0.0
    total = 0.0
    squares = 0.0
    for first in range(0, paths, block):
        count = min(block, paths - first)
        _fill(words, first * per_path, count * per_path, u, key)
        for i in range(count):
            acc = 0.0
            for s in range(steps):
                # The ziggurat's fast path, written out here: numba's inlining of a helper
                # taking arrays left reference counting in the loop and cost 25x.
                word = words[2 * i * per_path + s]
                layer = int(word & LAYER_MASK)
                j = word >> S12
                if j < kt[layer]:
                    x = np.float64(j) * wt[layer]
                    acc += -x if (word >> S8) & ONE else x
                else:
                    q = np.uint64((first + i) * per_path + s // 2)
                    acc += _ziggurat_slow(word, q, s % 2, u, key, tables)
            price = math.exp(drift + vol_sqrt_dt * acc)
            payoff = max(price - strike, 0.0) if call else max(strike - price, 0.0)
            total += payoff
            squares += payoff * payoff
    return total, squares


@jit
def _run_units(  # noqa: PLR0917 (numba: positional arguments only)
    sums: Array,
    squares: Array,
    start: int,
    count: int,
    first_unit: int,
    per_unit: int,
    total_paths: int,
    steps: int,
    consts: Array,
    key: Array,
    tables: Tables,
    words: Array,
) -> None:
    for local in range(start, start + count):
        unit = first_unit + local
        paths = min(per_unit, total_paths - unit * per_unit)
        sums[local], squares[local] = _unit_sums(unit, paths, steps, consts, key, tables, words)


class OptionMcRun:
    """One shard of an option_mc job: units in order, each unit's sums kept in memory; saved
    (checkpoint, result) as the exact terms of their totals (`exact_terms`), a few floats."""

    def __init__(self, params: BaseModel, shard: Shard, state: State | None = None) -> None:
        self.p = OptionMcParams.model_validate(params)
        self.shard = shard
        self.units_done = 0
        self._sums = np.zeros(shard.units)
        self._squares = np.zeros(shard.units)
        # The exact terms of the units a resumed run did before its checkpoint (their own
        # sums stay 0.0 in the arrays above).
        self._carried_sums = np.zeros(0)
        self._carried_squares = np.zeros(0)
        if state is not None and "sum" in state:  # a checkpoint from before exact terms
            shape = ((shard.units,), "float64")
            self.units_done = check_state(state, {"sum": shape, "sumsq": shape}, shard.units)
            if not (np.isfinite(state["sum"]).all() and np.isfinite(state["sumsq"]).all()):
                raise ValueError("saved state 'sum' or 'sumsq' holds a value that is not finite")
            self._sums[:] = state["sum"]
            self._squares[:] = state["sumsq"]
        elif state is not None:
            self.units_done = check_state(state, {}, shard.units)
            self._carried_sums = check_terms(state, "sum_terms")
            self._carried_squares = check_terms(state, "sumsq_terms")
        drift, vol_sqrt_dt, _ = gbm_constants(self.p)
        call = 1.0 if self.p.option == "call" else -1.0
        self._consts = np.array([drift, vol_sqrt_dt, self.p.strike, call])
        self._key = np.array(seed_key(self.p.seed), dtype=np.uint64)
        kt, wt, ft = ziggurat_tables()
        self._tables = (kt, wt, ft)
        per_path = (self.p.steps + 1) // 2
        self._words = np.empty(2 * max(WORDS_PER_BLOCK, per_path), dtype=np.uint64)

    def step(self, units: int) -> int:
        count = max(0, min(units, self.shard.units - self.units_done))
        if count:
            _run_units(
                self._sums,
                self._squares,
                self.units_done,
                count,
                self.shard.first_unit,
                paths_per_unit(self.p.steps),
                self.p.paths,
                self.p.steps,
                self._consts,
                self._key,
                self._tables,
                self._words,
            )
            self.units_done += count
        return count

    def _terms(self) -> tuple[np.ndarray[Any, Any], np.ndarray[Any, Any]]:
        done = self.units_done
        return (
            exact_terms(np.concatenate([self._carried_sums, self._sums[:done]])),
            exact_terms(np.concatenate([self._carried_squares, self._squares[:done]])),
        )

    def state(self) -> State:
        sums, squares = self._terms()
        return {
            "units_done": np.array(self.units_done, dtype=np.int64),
            "sum_terms": sums,
            "sumsq_terms": squares,
        }

    def partial(self) -> State:
        if self.units_done < self.shard.units:
            raise RuntimeError(f"shard {self.shard.index}: {self.units_done} units done")
        sums, squares = self._terms()
        return {
            "units": np.array(self.shard.units, dtype=np.int64),
            "sum_terms": sums,
            "sumsq_terms": squares,
        }
