"""The registry of kernels a job may name; supervisor side, so nothing here imports numba."""

from __future__ import annotations

from typing import Any

from boiler_agent.compute.kernel_api import KernelSpec
from boiler_agent.compute.specs.heat2d import Heat2dSpec
from boiler_agent.compute.specs.linsolve import LinsolveSpec
from boiler_agent.compute.specs.mandelbrot import MandelbrotSpec
from boiler_agent.compute.specs.option_mc import OptionMcSpec

KERNELS: dict[str, KernelSpec] = {
    spec.name: spec for spec in (OptionMcSpec(), Heat2dSpec(), MandelbrotSpec(), LinsolveSpec())
}

# Small valid parameters per kernel: to warm the numba cache, for tests and for examples.
EXAMPLES: dict[str, dict[str, Any]] = {
    "option_mc": {
        "spot": 100.0,
        "strike": 105.0,
        "rate": 0.02,
        "volatility": 0.25,
        "maturity": 1.0,
        "paths": 4000,
        "steps": 8,
        "seed": 1,
    },
    "heat2d": {"nx": 17, "ny": 13, "iterations": 20, "alpha": 0.2, "initial": "random", "seed": 1},
    "mandelbrot": {
        "width": 48,
        "height": 32,
        "max_iter": 64,
        "center_re": -0.5,
        "center_im": 0.0,
        "zoom": 1.0,
    },
    "linsolve": {"n": 16, "rhs": 40, "seed": 1},
}


class UnknownKernelError(ValueError):
    """A job named a kernel that is not in the registry."""


def get_spec(name: str) -> KernelSpec:
    """The spec registered under `name`; UnknownKernelError lists the known names."""
    try:
        return KERNELS[name]
    except (KeyError, TypeError):
        raise UnknownKernelError(
            f"unknown kernel {name!r}; known kernels: {', '.join(sorted(KERNELS))}"
        ) from None
