"""Worker-side building blocks: a typed njit, the Philox4x32-10 generator, a 64-bit mixer.

Random numbers come from Philox4x32-10 (Salmon et al., "Parallel random numbers: as easy as
1, 2, 3", SC 2011; also behind numpy's, JAX's and cuRAND's counter-based generators): a keyed
bijection of a 128-bit counter, so any draw is addressed directly by (seed, what it is for,
where it is) with no state to carry between chunks, and it passes TestU01's BigCrush. Ten rounds
of 32x32->64-bit multiplies vectorise well (AVX2/AVX-512 vpmuludq), and the Random123 known
answer vectors let the tests check this implementation bit for bit.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba
import numpy as np

F = TypeVar("F", bound=Callable[..., Any])

M32 = np.uint64(0xFFFFFFFF)
S11 = np.uint64(11)
S32 = np.uint64(32)
PHILOX_ROUNDS = 10
PHILOX_M0 = np.uint64(0xD2511F53)
PHILOX_M1 = np.uint64(0xCD9E8D57)
PHILOX_W0 = np.uint64(0x9E3779B9)  # key schedule: golden ratio and sqrt(3) - 1, 32 bits each
PHILOX_W1 = np.uint64(0xBB67AE85)
TO_UNIT = 2.0**-53  # 53 high bits of a 64-bit word -> a double in [0, 1)
MIX_A = np.uint64(0xBF58476D1CE4E5B9)  # splitmix64's finaliser (Stafford's "mix13")
MIX_B = np.uint64(0x94D049BB133111EB)
S27, S30, S31 = np.uint64(27), np.uint64(30), np.uint64(31)


def jit(function: F) -> F:
    """numba.njit with an on-disk cache, typed as the Python function it compiles."""
    return cast(F, numba.njit(cache=True)(function))


def jit_inline(function: F) -> F:
    """As `jit`, and inlined into its callers (small helpers in hot loops)."""
    return cast(F, numba.njit(cache=True, inline="always")(function))


def seed_key(seed: int) -> tuple[np.uint64, np.uint64]:
    """The Philox key (two 32-bit words) of a 63-bit seed."""
    return np.uint64(seed & 0xFFFFFFFF), np.uint64((seed >> 32) & 0xFFFFFFFF)


@jit_inline
def philox4x32(  # noqa: PLR0917 (numba: positional arguments only)
    c0: np.uint64, c1: np.uint64, c2: np.uint64, c3: np.uint64, k0: np.uint64, k1: np.uint64
) -> tuple[np.uint64, np.uint64, np.uint64, np.uint64]:
    """Philox4x32-10 of the counter (c0..c3) under the key (k0, k1); all words < 2**32."""
    for _ in range(PHILOX_ROUNDS):
        p0 = PHILOX_M0 * c0
        p1 = PHILOX_M1 * c2
        c0, c1, c2, c3 = (p1 >> S32) ^ c1 ^ k0, p1 & M32, (p0 >> S32) ^ c3 ^ k1, p0 & M32
        k0 = (k0 + PHILOX_W0) & M32
        k1 = (k1 + PHILOX_W1) & M32
    return c0, c1, c2, c3


@jit_inline
def philox_words(  # noqa: PLR0917 (numba: positional arguments only)
    c0: np.uint64, c1: np.uint64, c2: np.uint64, c3: np.uint64, k0: np.uint64, k1: np.uint64
) -> tuple[np.uint64, np.uint64]:
    """The 128 output bits of one Philox block as two 64-bit words."""
    x0, x1, x2, x3 = philox4x32(c0, c1, c2, c3, k0, k1)
    return (x0 << S32) | x1, (x2 << S32) | x3


@jit_inline
def unit_float(word: np.uint64) -> float:
    """A double uniform on [0, 1) from the 53 high bits of a word."""
    return float(np.float64(word >> S11) * TO_UNIT)


@jit_inline
def mix64(z: np.uint64) -> np.uint64:
    """A 64-bit bijection with full avalanche, for position-keyed checksums."""
    z = (z ^ (z >> S30)) * MIX_A
    z = (z ^ (z >> S27)) * MIX_B
    return z ^ (z >> S31)
