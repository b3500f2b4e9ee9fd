"""Dense solve A X = B: numba builds A and B and reduces the results, LAPACK does the algebra.

The algebra is one LU of A per shard (getrf) and, per unit, triangular solves of a block of
columns (getrs) and the residual A X - B (dgemm), all through SciPy's and NumPy's BLAS. numba
cannot reach getrs (its np.linalg.solve refactors A on every call, ~15 % more flops here), and
BLAS calls of milliseconds gain nothing from being made inside njit, so they are made from
Python. A and B come from Philox, one block per pair of rows of a column, so any column of B is
built alone, and each unit reduces its blocks to sums of squares and a position-keyed hash.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.linalg  # type: ignore[import-untyped]
from pydantic import BaseModel

from boiler_agent.compute.kernel_api import Shard, State
from boiler_agent.compute.kernels._common import jit, mix64, philox_words, seed_key, unit_float
from boiler_agent.compute.specs._common import check_state
from boiler_agent.compute.specs.linsolve import LinsolveParams, columns_per_unit

Array = np.ndarray[Any, Any]
MATRIX_DOMAIN = np.uint64(1)  # Philox counter word 3: which use of the seed this is
RHS_DOMAIN = np.uint64(2)
UNIT_STATS = ("resid_sq", "x_sq", "b_sq")


@jit
def _fill_columns(columns: Array, first: int, domain: np.uint64, key: Array) -> None:
    """Uniform [0, 1) values; row pair r of column first + c is Philox(c0=column, c1=r)."""
    count, n = columns.shape
    for c in range(count):
        col = np.uint64(first + c)
        for r in range(0, n, 2):
            w0, w1 = philox_words(col, np.uint64(r // 2), np.uint64(0), domain, key[0], key[1])
            columns[c, r] = unit_float(w0)
            if r + 1 < n:
                columns[c, r + 1] = unit_float(w1)


def seeded_matrix(n: int, seed: int) -> Array:
    """A = U - 1/2 + (n/2 + 1) I, U uniform [0, 1): strictly diagonally dominant, so regular."""
    a = np.empty((n, n), order="F")
    _fill_columns(a.T, 0, MATRIX_DOMAIN, np.array(seed_key(seed), dtype=np.uint64))
    a -= 0.5
    a[np.diag_indices(n)] += n / 2 + 1.0
    return a


def seeded_rhs(n: int, first: int, count: int, seed: int) -> Array:
    """Columns first .. first+count-1 of B, uniform on [-1, 1)."""
    b = np.empty((n, count), order="F")
    _fill_columns(b.T, first, RHS_DOMAIN, np.array(seed_key(seed), dtype=np.uint64))
    b *= 2.0
    b -= 1.0
    return b


@jit
def _block_stats(x: Array, bits: Array, b: Array, r: Array, first: int) -> tuple[Any, ...]:
    """(|R|^2, |X|^2, |B|^2, hash of X) of a block given as (columns, n) arrays.

    The hash adds mix64(bits ^ mix64(position)) over the entries, modulo 2**64: any split of
    the columns into units gives the same total.
    """
    count, n = x.shape
    resid = 0.0
    x_sq = 0.0
    b_sq = 0.0
    digest = np.uint64(0)
    for c in range(count):
        for i in range(n):
            resid += r[c, i] * r[c, i]
            x_sq += x[c, i] * x[c, i]
            b_sq += b[c, i] * b[c, i]
            digest += mix64(bits[c, i] ^ mix64(np.uint64((first + c) * n + i)))
    return resid, x_sq, b_sq, digest


@jit
def _sum_squares(a: Array) -> float:
    total = 0.0  # one fixed order, so every host gets the same bits
    for row in a:
        for value in row:
            total += value * value
    return total


def solve_block(  # noqa: PLR0917 (numba: positional arguments only)
    lu: tuple[Array, Array], a: Array, n: int, first: int, count: int, seed: int
) -> Any:
    """(X, B, A X - B) for columns first .. first+count-1 (F-ordered n x count arrays)."""
    b = seeded_rhs(n, first, count, seed)
    x = np.asfortranarray(scipy.linalg.lu_solve(lu, b, check_finite=False))
    r = np.matmul(a, x, out=np.empty((n, count), order="F"))
    r -= b
    return x, b, r


class LinsolveRun:
    """One shard of a linsolve job: LU once, then blocks of right-hand sides unit by unit."""

    def __init__(self, params: BaseModel, shard: Shard, state: State | None = None) -> None:
        self.p = LinsolveParams.model_validate(params)
        self.shard = shard
        self.units_done = 0
        units = shard.units
        self._stats = np.zeros((len(UNIT_STATS), units))
        self._hashes = np.zeros(units, dtype=np.uint64)
        if state is not None:
            shape = ((units,), "float64")
            expected = {key: shape for key in UNIT_STATS} | {"x_hash": ((units,), "uint64")}
            self.units_done = check_state(state, expected, units)
            for row, key in enumerate(UNIT_STATS):
                self._stats[row] = state[key]
            self._hashes[:] = state["x_hash"]
        self._a = seeded_matrix(self.p.n, self.p.seed)
        self._a_norm = float(np.sqrt(_sum_squares(self._a.T)))
        self._lu = scipy.linalg.lu_factor(self._a, check_finite=False)

    def step(self, units: int) -> int:
        count = max(0, min(units, self.shard.units - self.units_done))
        per_unit = columns_per_unit(self.p.n)
        for local in range(self.units_done, self.units_done + count):
            first = (self.shard.first_unit + local) * per_unit
            columns = min(per_unit, self.p.rhs - first)
            x, b, r = solve_block(self._lu, self._a, self.p.n, first, columns, self.p.seed)
            resid, x_sq, b_sq, digest = _block_stats(x.T, x.T.view(np.uint64), b.T, r.T, first)
            self._stats[:, local] = resid, x_sq, b_sq
            self._hashes[local] = digest
        self.units_done += count
        return count

    def _arrays(self) -> State:
        arrays = {key: self._stats[row].copy() for row, key in enumerate(UNIT_STATS)}
        return arrays | {"x_hash": self._hashes.copy()}

    def state(self) -> State:
        return {"units_done": np.array(self.units_done, dtype=np.int64)} | self._arrays()

    def partial(self) -> State:
        if self.units_done < self.shard.units:
            raise RuntimeError(f"shard {self.shard.index}: {self.units_done} units done")
        return self._arrays() | {"a_norm": np.array([self._a_norm])}
