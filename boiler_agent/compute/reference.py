"""Plain NumPy and plain-Python versions of every kernel, the yardsticks of tests and benchmarks.

No numba here. Each `<kernel>_numpy(params)` and `<kernel>_python(params)` returns the same
result keys as the kernel. They draw the same random numbers (Philox4x32-10, written again
below) and evaluate the same expressions in the same order, so where libm is used throughout
(plain Python) results agree bit for bit; NumPy's own SIMD exp and pairwise sums may differ in
the last bits, and its LAPACK solve differs from the kernel's blocked one to rounding.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import numpy as np

from boiler_agent.compute.kernel_api import JsonValue
from boiler_agent.compute.specs import get_spec
from boiler_agent.compute.specs.heat2d import Heat2dParams
from boiler_agent.compute.specs.linsolve import LinsolveParams
from boiler_agent.compute.specs.mandelbrot import MandelbrotParams, pixel_geometry
from boiler_agent.compute.specs.option_mc import (
    ZIGGURAT_R,
    OptionMcParams,
    gbm_constants,
    paths_per_unit,
    unit_count,
    ziggurat_tables,
)

Array = np.ndarray[Any, Any]
Result = dict[str, JsonValue]
M32 = 0xFFFFFFFF
PHILOX_M = (0xD2511F53, 0xCD9E8D57)
PHILOX_W = (0x9E3779B9, 0xBB67AE85)
U64 = np.uint64
MATRIX_DOMAIN, RHS_DOMAIN, HEAT_DOMAIN = 1, 2, 3
HOT_SPOT_FRACTION = 16


def philox(c: tuple[Any, Any, Any, Any], k0: Any, k1: Any) -> tuple[Any, Any]:
    """Philox4x32-10 as two 64-bit words; works on Python ints and on uint64 arrays alike."""
    c0, c1, c2, c3 = c
    mask, shift = (M32, 32) if isinstance(c0, int) else (U64(M32), U64(32))
    m0, m1, w0, w1 = (v if isinstance(c0, int) else U64(v) for v in (*PHILOX_M, *PHILOX_W))
    for _ in range(10):
        p0, p1 = m0 * c0, m1 * c2  # below 2**64: 32 x 32 bits
        c0, c1, c2, c3 = (p1 >> shift) ^ c1 ^ k0, p1 & mask, (p0 >> shift) ^ c3 ^ k1, p0 & mask
        k0, k1 = (k0 + w0) & mask, (k1 + w1) & mask
    return (c0 << shift) | c1, (c2 << shift) | c3


def unit(word: Any) -> Any:
    """Uniform [0, 1) from the 53 high bits (ints -> float, uint64 arrays -> float64 arrays)."""
    if isinstance(word, int):
        return (word >> 11) * 2.0**-53
    return (word >> U64(11)).astype(np.float64) * 2.0**-53


def _key(seed: int, arrays: bool = False) -> tuple[Any, Any]:
    k0, k1 = seed & M32, (seed >> 32) & M32
    return (U64(k0), U64(k1)) if arrays else (k0, k1)


# ---------------------------------------------------------------- option_mc
def _normal(word: int, q: int, parity: int, u: int, key: tuple[int, int]) -> float:
    """One ziggurat normal, as the kernel draws it (fast path, wedge, tail)."""
    kt, wt, ft = (t.tolist() for t in ziggurat_tables())
    attempt = 0
    while True:
        layer, sign, j = word & 0xFF, -1.0 if (word >> 8) & 1 else 1.0, word >> 12
        x: float = float(j) * wt[layer]
        if j < kt[layer]:
            return sign * x
        attempt += 1
        counter = (q, 2 * attempt + parity, u & M32, u >> 32)
        e0, e1 = philox(counter, *key)
        if layer == 0:
            while True:
                xx = -math.log(1.0 - unit(e0)) / ZIGGURAT_R
                yy = -math.log(1.0 - unit(e1))
                if yy + yy > xx * xx:
                    return sign * (ZIGGURAT_R + xx)
                attempt += 1
                e0, e1 = philox((q, 2 * attempt + parity, u & M32, u >> 32), *key)
        if ft[layer] + unit(e0) * (ft[layer + 1] - ft[layer]) < math.exp(-0.5 * x * x):
            return sign * x
        word = e1


def _option_result(p: OptionMcParams, sums: list[float], squares: list[float]) -> Result:
    partial = {"sum": np.array(sums), "sumsq": np.array(squares)}
    return get_spec("option_mc").combine(p, [partial])


def option_mc_python(params: dict[str, Any]) -> Result:
    p = OptionMcParams.model_validate(params)
    drift, vol_sqrt_dt, _ = gbm_constants(p)
    per_unit, per_path, key = paths_per_unit(p.steps), (p.steps + 1) // 2, _key(p.seed)
    sums, squares = [], []
    for u in range(unit_count(p)):
        total = square = 0.0
        for i in range(min(per_unit, p.paths - u * per_unit)):
            acc = 0.0
            for s in range(p.steps):
                q = i * per_path + s // 2
                word = philox((q, 0, u & M32, u >> 32), *key)[s % 2]
                acc += _normal(word, q, s % 2, u, key)
            price = math.exp(drift + vol_sqrt_dt * acc)
            payoff = (
                max(price - p.strike, 0.0) if p.option == "call" else max(p.strike - price, 0.0)
            )
            total += payoff
            square += payoff * payoff
        sums.append(total)
        squares.append(square)
    return _option_result(p, sums, squares)


def unit_normals(seed: int, u: int, paths: int, steps: int) -> Array:
    """The (paths, steps) normals of unit u as the kernel draws them (slow draws in Python)."""
    per_path, key = (steps + 1) // 2, _key(seed, True)
    kt, wt, _ = ziggurat_tables()
    q = np.arange(paths * per_path, dtype=U64)
    w0, w1 = philox((q, U64(0), U64(u & M32), U64(u >> 32)), *key)
    words = np.stack([w0, w1], axis=1).reshape(paths, 2 * per_path)[:, :steps]
    layer, j = (words & U64(0xFF)).astype(np.intp), words >> U64(12)
    z: Array = np.where((words >> U64(8)) & U64(1), -1.0, 1.0) * (j.astype(np.float64) * wt[layer])
    for i, s in zip(*np.nonzero(j >= kt[layer]), strict=True):  # the ~1 % slow draws
        q_is = int(i) * per_path + int(s) // 2
        z[i, s] = _normal(int(words[i, s]), q_is, int(s) % 2, u, _key(seed))
    return z


def option_mc_numpy(params: dict[str, Any]) -> Result:
    p = OptionMcParams.model_validate(params)
    drift, vol_sqrt_dt, _ = gbm_constants(p)
    per_unit = paths_per_unit(p.steps)
    sums, squares = [], []
    for u in range(unit_count(p)):
        z = unit_normals(p.seed, u, min(per_unit, p.paths - u * per_unit), p.steps)
        acc = np.zeros(z.shape[0])
        for s in range(p.steps):  # step by step, as each path sums its normals
            acc += z[:, s]
        price = np.exp(drift + vol_sqrt_dt * acc)
        payoff = np.maximum(price - p.strike if p.option == "call" else p.strike - price, 0.0)
        sums.append(float(payoff.sum()))
        squares.append(float((payoff * payoff).sum()))
    return _option_result(p, sums, squares)


def option_mc_numpy_generator(params: dict[str, Any], block: int = 2**18) -> float:
    """Price with NumPy's own Philox and ziggurat: the idiomatic NumPy way (other draws)."""
    p = OptionMcParams.model_validate(params)
    drift, vol_sqrt_dt, discount = gbm_constants(p)
    rng = np.random.Generator(np.random.Philox(p.seed))
    total, per_block = 0.0, max(1, block // p.steps)
    for first in range(0, p.paths, per_block):
        acc = rng.standard_normal((min(per_block, p.paths - first), p.steps)).sum(axis=1)
        price = np.exp(drift + vol_sqrt_dt * acc)
        total += float(
            np.maximum(price - p.strike if p.option == "call" else p.strike - price, 0).sum()
        )
    return discount * total / p.paths


# ---------------------------------------------------------------- heat2d
def heat2d_initial(p: Heat2dParams) -> Array:
    u = np.zeros((p.nx, p.ny))
    if p.initial == "sine":
        sx = [0.0, *(math.sin(math.pi * i / (p.nx - 1)) for i in range(1, p.nx - 1)), 0.0]
        sy = [0.0, *(math.sin(math.pi * j / (p.ny - 1)) for j in range(1, p.ny - 1)), 0.0]
        u[:] = np.outer(sx, sy)
    elif p.initial == "hot_spot":
        h, ci, cj = max(1, min(p.nx, p.ny) // HOT_SPOT_FRACTION), p.nx // 2, p.ny // 2
        u[
            max(1, ci - h) : min(p.nx - 1, ci + h + 1), max(1, cj - h) : min(p.ny - 1, cj + h + 1)
        ] = 1
    else:
        q = np.arange(p.nx * p.ny, dtype=U64)
        words, _ = philox((q, U64(0), U64(0), U64(HEAT_DOMAIN)), *_key(p.seed, True))
        u[1:-1, 1:-1] = unit(words).reshape(p.nx, p.ny)[1:-1, 1:-1]
    return u


def _heat_result(p: Heat2dParams, u: Array, residual: float) -> Result:
    grid = np.ascontiguousarray(u, dtype="<f8")
    stats = {"mean": math.fsum(grid.ravel().tolist()) / grid.size, "max": float(grid.max())}
    stats |= {"min": float(grid.min()), "residual": residual}
    checksum = hashlib.sha256(grid.tobytes()).hexdigest()
    return {"checksum": checksum, **stats, "iterations": p.iterations, "nx": p.nx, "ny": p.ny}


def heat2d_numpy(params: dict[str, Any]) -> Result:
    p = Heat2dParams.model_validate(params)
    u = heat2d_initial(p)
    v = u.copy()

    def update(u: Array) -> Array:
        c = u[1:-1, 1:-1]
        return c + p.alpha * (
            (((u[:-2, 1:-1] + u[2:, 1:-1]) + u[1:-1, :-2]) + u[1:-1, 2:]) - 4.0 * c
        )

    for _ in range(p.iterations):
        v[1:-1, 1:-1] = update(u)
        u, v = v, u
    return _heat_result(p, u, float(np.abs(update(u) - u[1:-1, 1:-1]).max()))


def heat2d_python(params: dict[str, Any]) -> Result:
    p = Heat2dParams.model_validate(params)
    u = heat2d_initial(p).tolist()
    v = [row[:] for row in u]
    a = p.alpha
    for _ in range(p.iterations + 1):  # the extra sweep only measures the residual
        residual = 0.0
        for i in range(1, p.nx - 1):
            up, row, down, out = u[i - 1], u[i], u[i + 1], v[i]
            for j in range(1, p.ny - 1):
                c = row[j]
                out[j] = c + a * ((((up[j] + down[j]) + row[j - 1]) + row[j + 1]) - 4.0 * c)
                residual = max(residual, abs(out[j] - c))
        u, v = v, u
    return _heat_result(p, np.array(v), residual)


# ---------------------------------------------------------------- mandelbrot
def _mandelbrot_result(p: MandelbrotParams, counts: Array) -> Result:
    counts = np.ascontiguousarray(counts, dtype="<u4").ravel()
    return {
        "checksum": hashlib.sha256(counts.tobytes()).hexdigest(),
        "total_iterations": int(counts.sum(dtype=np.uint64)),
        "inside_fraction": float(np.count_nonzero(counts == p.max_iter) / counts.size),
        "width": p.width,
        "height": p.height,
        "max_iter": p.max_iter,
    }


def mandelbrot_numpy(params: dict[str, Any]) -> Result:
    p = MandelbrotParams.model_validate(params)
    scale, half_w, half_h = pixel_geometry(p)
    cr = np.broadcast_to(p.center_re + (np.arange(p.width) - half_w) * scale, (p.height, p.width))
    ci = p.center_im + (half_h - np.arange(p.height)) * scale
    cr, ci = cr.ravel(), np.repeat(ci, p.width)
    counts = np.zeros(cr.size, dtype=np.uint32)
    live = np.arange(cr.size)  # pixels still iterating
    zr, zi = np.zeros(cr.size), np.zeros(cr.size)
    for _ in range(p.max_iter):
        zr2, zi2 = zr * zr, zi * zi
        stay = ~(zr2 + zi2 > 4.0)
        live, zr, zi, zr2, zi2 = live[stay], zr[stay], zi[stay], zr2[stay], zi2[stay]
        if live.size == 0:
            break
        zi = 2.0 * zr * zi + ci[live]
        zr = zr2 - zi2 + cr[live]
        counts[live] += 1
    return _mandelbrot_result(p, counts)


def mandelbrot_python(params: dict[str, Any]) -> Result:
    p = MandelbrotParams.model_validate(params)
    scale, half_w, half_h = pixel_geometry(p)
    counts = []
    for y in range(p.height):
        ci = p.center_im + (half_h - y) * scale
        for x in range(p.width):
            cr = p.center_re + (x - half_w) * scale
            zr = zi = 0.0
            n = 0
            while n < p.max_iter:
                zr2, zi2 = zr * zr, zi * zi
                if zr2 + zi2 > 4.0:
                    break
                zi = 2.0 * zr * zi + ci
                zr = zr2 - zi2 + cr
                n += 1
            counts.append(n)
    return _mandelbrot_result(p, np.array(counts))


# ---------------------------------------------------------------- linsolve
def linsolve_system(n: int, rhs: int, seed: int) -> tuple[Array, Array]:
    """(A, B) as the kernel builds them, from the same Philox blocks."""
    key = _key(seed, True)

    def columns(count: int, domain: int) -> Array:
        col, pair = np.meshgrid(np.arange(count, dtype=U64), np.arange((n + 1) // 2, dtype=U64))
        w0, w1 = philox((col, pair, U64(0), U64(domain)), *key)
        return np.stack([unit(w0), unit(w1)], axis=1).reshape(-1, count)[:n]

    a = columns(n, MATRIX_DOMAIN) - 0.5
    a[np.diag_indices(n)] += n / 2 + 1.0
    return a, columns(rhs, RHS_DOMAIN) * 2.0 - 1.0


def _position_hash(x: Array) -> int:
    """The kernel's checksum of X: sum of mix64(bits ^ mix64(column * n + row)) mod 2**64."""

    def mix(z: Array) -> Array:
        z = (z ^ (z >> U64(30))) * U64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> U64(27))) * U64(0x94D049BB133111EB)
        mixed: Array = z ^ (z >> U64(31))
        return mixed

    bits = np.asfortranarray(x).ravel(order="F").view(U64)
    return int(mix(bits ^ mix(np.arange(bits.size, dtype=U64))).sum(dtype=U64))


def _linsolve_result(p: LinsolveParams, a: Array, b: Array, x: Array) -> Result:
    r, a_norm, x_norm, b_norm = (float(np.linalg.norm(m)) for m in (a @ x - b, a, x, b))
    return {
        "residual_norm": r,
        "relative_residual": r / (a_norm * x_norm + b_norm),
        "solution_norm": x_norm,
        "rhs_norm": b_norm,
        "matrix_norm": a_norm,
        "solution_checksum": f"{_position_hash(x):016x}",
        "n": p.n,
        "rhs": p.rhs,
    }


def linsolve_numpy(params: dict[str, Any]) -> Result:
    p = LinsolveParams.model_validate(params)
    a, b = linsolve_system(p.n, p.rhs, p.seed)
    return _linsolve_result(p, a, b, np.linalg.solve(a, b))


def linsolve_python(params: dict[str, Any]) -> Result:
    """Gaussian elimination with partial pivoting on lists of floats."""
    p = LinsolveParams.model_validate(params)
    a, b = linsolve_system(p.n, p.rhs, p.seed)
    n = p.n
    m = [row_a + row_b for row_a, row_b in zip(a.tolist(), b.tolist(), strict=True)]
    for k in range(n):
        pivot = max(range(k, n), key=lambda i: abs(m[i][k]))
        m[k], m[pivot] = m[pivot], m[k]
        for i in range(k + 1, n):
            f = m[i][k] / m[k][k]
            row_i, row_k = m[i], m[k]
            for j in range(k, n + p.rhs):
                row_i[j] -= f * row_k[j]
    x = [[0.0] * p.rhs for _ in range(n)]
    for i in reversed(range(n)):
        for c in range(p.rhs):
            s = m[i][n + c] - sum(m[i][j] * x[j][c] for j in range(i + 1, n))
            x[i][c] = s / m[i][i]
    return _linsolve_result(p, a, b, np.array(x))


NUMPY = {"option_mc": option_mc_numpy, "heat2d": heat2d_numpy}
NUMPY |= {"mandelbrot": mandelbrot_numpy, "linsolve": linsolve_numpy}
PYTHON = {"option_mc": option_mc_python, "heat2d": heat2d_python}
PYTHON |= {"mandelbrot": mandelbrot_python, "linsolve": linsolve_python}
