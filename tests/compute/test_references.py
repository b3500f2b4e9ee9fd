"""Every kernel against its references: Black-Scholes, plain NumPy, plain Python, analytics."""

from __future__ import annotations

import math
from statistics import NormalDist
from typing import Any

import numpy as np
import pytest

from boiler_agent.compute import reference
from boiler_agent.compute.kernel_api import Shard
from boiler_agent.compute.kernels import run_job
from boiler_agent.compute.kernels._common import philox4x32
from boiler_agent.compute.kernels.heat2d import Heat2dRun
from boiler_agent.compute.kernels.linsolve import seeded_matrix, solve_block
from boiler_agent.compute.specs import EXAMPLES
from boiler_agent.compute.specs.heat2d import Heat2dParams, sine_decay
from boiler_agent.compute.specs.option_mc import ZIGGURAT_R, ZIGGURAT_V, ziggurat_tables

# Random123's known-answer vectors for Philox4x32-10: (counter, key, output).
PHILOX_KAT = [
    ((0, 0, 0, 0), (0, 0), (0x6627E8D5, 0xE169C58D, 0xBC57AC4C, 0x9B00DBD8)),
    ((0xFFFFFFFF,) * 4, (0xFFFFFFFF,) * 2, (0x408F276D, 0x41C83B0E, 0xA20BC7C6, 0x6D5451FD)),
    (
        (0x243F6A88, 0x85A308D3, 0x13198A2E, 0x03707344),
        (0xA4093822, 0x299F31D0),
        (0xD16CFE09, 0x94FDCCEB, 0x5001E420, 0x24126EA1),
    ),
]
OPTION = {"spot": 100.0, "strike": 105.0, "rate": 0.02, "volatility": 0.25, "maturity": 1.0}
# The kernel's price for EXAMPLES["option_mc"] (seed 1), stored when the kernel was written.
STORED_PRICE = 8.54492338883302
STORED_STDERR = 0.25287195673094714


def black_scholes(p: dict[str, Any]) -> float:
    s, k, r, v, t = p["spot"], p["strike"], p["rate"], p["volatility"], p["maturity"]
    d1 = (math.log(s / k) + (r + v * v / 2) * t) / (v * math.sqrt(t))
    d2 = d1 - v * math.sqrt(t)
    n = NormalDist().cdf
    call = s * n(d1) - k * math.exp(-r * t) * n(d2)
    return call if p.get("option", "call") == "call" else call - s + k * math.exp(-r * t)


@pytest.mark.parametrize(("counter", "key", "expected"), PHILOX_KAT)
def test_philox_matches_random123_known_answers(
    counter: tuple[int, ...], key: tuple[int, int], expected: tuple[int, ...]
) -> None:
    words = [np.uint64(v) for v in (*counter, *key)]
    assert tuple(int(v) for v in philox4x32(*words)) == expected, "numba Philox"
    w0, w1 = reference.philox(counter, *key)  # type: ignore[arg-type]
    assert (w0 >> 32, w0 & 0xFFFFFFFF, w1 >> 32, w1 & 0xFFFFFFFF) == expected, "reference"


def test_ziggurat_layers_close_and_normals_are_normal() -> None:
    _k, w, f = ziggurat_tables()
    x = w * 2.0**52
    top_area = x[255] * (1.0 - f[255])
    assert top_area == pytest.approx(ZIGGURAT_V, rel=1e-6), "the 256 layers must close at x=0"
    z = reference.unit_normals(seed=11, u=0, paths=250_000, steps=4).ravel()
    assert abs(z.mean()) < 4 / math.sqrt(z.size) and abs(z.var() - 1) < 4 * math.sqrt(2 / z.size)
    z.sort()
    cdf = np.array([NormalDist().cdf(v) for v in z[:: z.size // 2000]])
    ks = np.abs(cdf - np.arange(0, z.size, z.size // 2000) / z.size).max()
    assert ks < 1.63 / math.sqrt(2000) + 1e-3, f"Kolmogorov-Smirnov distance {ks} too large"
    tail, expected = (
        np.count_nonzero(np.abs(z) > ZIGGURAT_R),
        2 * (1 - NormalDist().cdf(ZIGGURAT_R)),
    )
    assert abs(tail - expected * z.size) < 5 * math.sqrt(expected * z.size), "tail draws"


@pytest.mark.parametrize(
    "params",
    [
        {**OPTION, "paths": 200_000, "steps": 1, "seed": 2},
        {**OPTION, "paths": 100_000, "steps": 3, "seed": 3, "option": "put"},
        {**OPTION, "strike": 160.0, "paths": 200_000, "steps": 2, "seed": 4},  # far from the money
        {**OPTION, "strike": 60.0, "volatility": 0.6, "paths": 20_000, "steps": 50, "seed": 5},
    ],
)
def test_option_price_agrees_with_black_scholes(params: dict[str, Any]) -> None:
    result = run_job("option_mc", params)
    price, stderr = result["price"], result["stderr"]
    assert isinstance(price, float) and isinstance(stderr, float)
    z = (price - black_scholes(params)) / stderr
    assert abs(z) < 4, f"price {price} +- {stderr} is {z:.1f} stderr from {black_scholes(params)}"


def test_option_price_for_a_fixed_seed_is_the_stored_one() -> None:
    result = run_job("option_mc", EXAMPLES["option_mc"])
    assert result["price"] == pytest.approx(STORED_PRICE, rel=1e-12)
    assert result["stderr"] == pytest.approx(STORED_STDERR, rel=1e-12)


@pytest.mark.parametrize("name", ["option_mc", "heat2d", "mandelbrot"])
def test_plain_python_reference_gives_the_same_bits(name: str) -> None:
    params = {**EXAMPLES[name], **({"paths": 300, "steps": 5} if name == "option_mc" else {})}
    assert run_job(name, params) == reference.PYTHON[name](params)


@pytest.mark.parametrize(
    "params",
    [
        EXAMPLES["heat2d"],
        {**EXAMPLES["heat2d"], "initial": "hot_spot", "nx": 40, "ny": 33, "iterations": 50},
        {**EXAMPLES["heat2d"], "initial": "sine", "alpha": 0.25},
    ],
)
def test_heat2d_equals_numpy_bit_for_bit(params: dict[str, Any]) -> None:
    assert run_job("heat2d", params) == reference.heat2d_numpy(params)


def test_heat2d_sine_mode_decays_by_the_discrete_factor() -> None:
    params = Heat2dParams(nx=33, ny=21, iterations=200, alpha=0.2, initial="sine")
    run = Heat2dRun(params, Shard(0, 0, params.iterations))
    start = run.grid.copy()
    run.step(params.iterations)
    expected = sine_decay(params) ** params.iterations * start
    assert np.abs(run.grid - expected).max() < 1e-13, "the sine mode must only shrink"
    result = run_job("heat2d", params)
    assert result["max"] == pytest.approx(sine_decay(params) ** 200 * start.max(), rel=1e-12)


@pytest.mark.parametrize(
    "overrides",
    [{}, {"center_re": -0.745, "center_im": 0.11, "zoom": 200.0, "max_iter": 500, "width": 37}],
)
def test_mandelbrot_equals_numpy_and_python_exactly(overrides: dict[str, Any]) -> None:
    params = {**EXAMPLES["mandelbrot"], **overrides}
    result = run_job("mandelbrot", params)
    assert result == reference.mandelbrot_numpy(params) == reference.mandelbrot_python(params)
    assert 0 < result["inside_fraction"] < 1  # type: ignore[operator]


def test_option_mc_numpy_reference_agrees_to_rounding() -> None:
    params = {**EXAMPLES["option_mc"], "paths": 5000, "steps": 7}
    kernel, numpy_result = run_job("option_mc", params), reference.option_mc_numpy(params)
    for key in ("price", "stderr"):
        assert kernel[key] == pytest.approx(numpy_result[key], rel=1e-12), key


@pytest.mark.parametrize(
    "params", [{"n": 64, "rhs": 9000, "seed": 3}, {"n": 300, "rhs": 7, "seed": 4}]
)
def test_linsolve_agrees_with_numpy_solve(params: dict[str, Any]) -> None:
    n, rhs, seed = params["n"], params["rhs"], params["seed"]
    a, b = reference.linsolve_system(n, rhs, seed)
    assert np.array_equal(a, seeded_matrix(n, seed)), "A must be built the same way"
    x_numpy = np.linalg.solve(a, b)
    lu = __import__("scipy.linalg").linalg.lu_factor(a)
    x, b_block, _ = solve_block(lu, a, n, 0, rhs, seed)
    assert np.array_equal(b_block, b), "B must be built the same way"
    assert np.abs(x - x_numpy).max() <= 1e-13 * np.abs(x_numpy).max()
    kernel, numpy_result = run_job("linsolve", params), reference.linsolve_numpy(params)
    for key in ("solution_norm", "rhs_norm", "matrix_norm"):
        assert kernel[key] == pytest.approx(numpy_result[key], rel=1e-13), key
    assert kernel["relative_residual"] < 1e-15, f"backward error {kernel['relative_residual']}"  # type: ignore[operator]


def test_linsolve_python_reference_agrees() -> None:
    params = {"n": 12, "rhs": 5, "seed": 9}
    kernel, python = run_job("linsolve", params), reference.linsolve_python(params)
    assert kernel["solution_norm"] == pytest.approx(python["solution_norm"], rel=1e-13)
