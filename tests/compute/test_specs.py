"""Kernel specs: the registry, strict parameters, plans, memory estimates, no numba."""

from __future__ import annotations

import itertools
import math
import subprocess
import sys
from typing import Any

import pytest
from pydantic import ValidationError

from boiler_agent.compute.kernel_api import Shard
from boiler_agent.compute.specs import EXAMPLES, KERNELS, UnknownKernelError, get_spec

NAMES = ["option_mc", "heat2d", "mandelbrot", "linsolve"]
OUT_OF_RANGE: dict[str, list[tuple[str, Any]]] = {
    "option_mc": [("spot", 0.0), ("volatility", -0.1), ("paths", 1), ("steps", 10_001)],
    "heat2d": [("nx", 2), ("alpha", 0.26), ("iterations", 0), ("initial", "cold")],
    "mandelbrot": [("width", 0), ("max_iter", 2**21), ("zoom", 1e14), ("center_re", 5.0)],
    "linsolve": [("n", 1), ("n", 4096), ("rhs", 0), ("seed", -1)],
}


def test_registry_has_the_four_kernels_by_their_contract_names() -> None:
    assert list(KERNELS) == NAMES, f"expected kernels {NAMES}, got {list(KERNELS)}"
    assert set(EXAMPLES) == set(NAMES), f"expected an example per kernel, got {sorted(EXAMPLES)}"
    for name, spec in KERNELS.items():
        assert spec.name == name and get_spec(name) is spec
        assert spec.run_class.startswith(f"boiler_agent.compute.kernels.{name}:")


def test_unknown_kernel_names_the_known_ones() -> None:
    with pytest.raises(UnknownKernelError, match="known kernels: heat2d, linsolve") as info:
        get_spec("bitcoin")
    assert isinstance(info.value, ValueError), "UnknownKernelError must be a ValueError"


def test_option_mc_parameter_names_are_the_contract() -> None:
    fields = set(KERNELS["option_mc"].params_model.model_fields)
    contract = {"spot", "strike", "rate", "volatility", "maturity", "paths", "steps", "seed"}
    assert contract <= fields, f"option_mc lacks {contract - fields}"


@pytest.mark.parametrize("name", NAMES)
def test_examples_validate_and_extra_fields_are_refused(name: str) -> None:
    model = KERNELS[name].params_model
    model.model_validate(EXAMPLES[name])
    with pytest.raises(ValidationError, match="bogus"):
        model.model_validate({**EXAMPLES[name], "bogus": 1})


@pytest.mark.parametrize(
    ("name", "field", "value"),
    [(name, field, value) for name, cases in OUT_OF_RANGE.items() for field, value in cases],
)
def test_out_of_range_values_are_refused_naming_the_field(
    name: str, field: str, value: Any
) -> None:
    with pytest.raises(ValidationError) as info:
        KERNELS[name].params_model.model_validate({**EXAMPLES[name], field: value})
    fields = [error["loc"][0] for error in info.value.errors()]
    assert fields == [field], f"expected the error on {field!r}, got {fields}"


@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf, "100", True])
def test_nan_inf_and_non_numbers_are_refused(value: Any) -> None:
    with pytest.raises(ValidationError, match="spot"):
        KERNELS["option_mc"].params_model.model_validate({**EXAMPLES["option_mc"], "spot": value})


def test_too_much_work_is_refused_with_the_product() -> None:
    params = {**EXAMPLES["option_mc"], "paths": 10**10, "steps": 1000}
    with pytest.raises(ValidationError, match="paths x steps"):
        KERNELS["option_mc"].params_model.model_validate(params)
    with pytest.raises(ValidationError, match="nx x ny"):
        KERNELS["heat2d"].params_model.model_validate(
            {**EXAMPLES["heat2d"], "nx": 4096, "ny": 4096}
        )


@pytest.mark.parametrize("name", NAMES)
def test_plans_cover_every_unit_once_in_order(name: str) -> None:
    spec = KERNELS[name]
    shards = spec.plan(spec.params_model.model_validate(EXAMPLES[name]))
    assert shards[0].first_unit == 0 and all(shard.units >= 1 for shard in shards)
    for index, (before, after) in enumerate(itertools.pairwise(shards)):
        assert after == Shard(index + 1, before.first_unit + before.units, after.units)


def test_plans_depend_on_parameters_only_and_split_big_jobs() -> None:
    spec = KERNELS["option_mc"]
    params = spec.params_model.model_validate(
        {**EXAMPLES["option_mc"], "paths": 10**8, "steps": 64}
    )
    shards = spec.plan(params)
    assert shards == spec.plan(params) and len(shards) > 1, f"expected shards, got {len(shards)}"
    total = sum(shard.units for shard in shards)
    assert total * (2**18 // 64) >= 10**8, "the units must hold every path"


@pytest.mark.parametrize(
    ("name", "params", "low", "high"),
    [
        ("heat2d", {"nx": 1000, "ny": 1000}, 16e6, 40e6),  # two or three 8 MB grids
        ("mandelbrot", {"width": 4096, "height": 4096}, 0.5e6, 4e6),  # one shard's counts
        ("linsolve", {"n": 2000, "rhs": 100}, 64e6, 100e6),  # A and its LU: 2 x 32 MB
        ("option_mc", {"paths": 10**8}, 1e3, 1e6),  # per-unit sums of a shard
    ],
)
def test_memory_estimates_are_sane(
    name: str, params: dict[str, Any], low: float, high: float
) -> None:
    spec = KERNELS[name]
    estimate = spec.memory_bytes(spec.params_model.model_validate({**EXAMPLES[name], **params}))
    assert low <= estimate <= high, f"{name} {params}: {estimate} bytes, expected {low}..{high}"


def test_supervisor_modules_do_not_import_numba() -> None:
    code = (
        "import sys, boiler_agent.compute.specs, boiler_agent.compute.kernel_api; "
        "assert 'numba' not in sys.modules, 'numba was imported'"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, f"importing the specs imported numba:\n{result.stderr}"
