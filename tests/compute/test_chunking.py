"""Results do not depend on chunk sizes, on stop and resume, or on how shards are spread."""

from __future__ import annotations

import io
from typing import Any

import numpy as np
import pytest

from boiler_agent.compute.kernel_api import JsonValue, KernelRun, Shard, State
from boiler_agent.compute.kernels import load_run_class, run_job
from boiler_agent.compute.specs import EXAMPLES, KERNELS

# Several units each, so chunks, stops and custom shards fall inside the work.
JOBS: dict[str, dict[str, Any]] = {
    "option_mc": {**EXAMPLES["option_mc"], "paths": 3001, "steps": 199},  # 3 units, odd steps
    "heat2d": {**EXAMPLES["heat2d"], "iterations": 37},
    "mandelbrot": {**EXAMPLES["mandelbrot"], "max_iter": 2**14},  # 64 pixels a unit: 24 units
    "linsolve": {"n": 64, "rhs": 9000, "seed": 3},  # 4096 columns a unit: 3 units
}


def _units(name: str) -> int:
    spec = KERNELS[name]
    return sum(shard.units for shard in spec.plan(spec.params_model.model_validate(JOBS[name])))


def _checkpoint_roundtrip(state: State) -> State:
    """What a checkpoint gives back: the arrays through an .npz file."""
    buffer = io.BytesIO()
    np.savez(buffer, **state)  # type: ignore[arg-type]
    buffer.seek(0)
    with np.load(buffer, allow_pickle=False) as archive:
        return {key: archive[key] for key in archive.files}


def _run(name: str, shards: list[Shard], chunks: list[int], stop_at: int | None = None) -> Any:
    """Run the shards in the given (execution) order with these chunk sizes; combine in order."""
    spec = KERNELS[name]
    params = spec.params_model.model_validate(JOBS[name])
    factory = load_run_class(spec)
    partials: dict[int, State] = {}
    for shard in shards:
        run: KernelRun = factory(params, shard)
        sizes = iter(chunks * (shard.units + 1))
        while run.units_done < shard.units:
            done = run.step(next(sizes))
            assert done >= 1, f"{name}: step made no progress at {run.units_done}"
            if stop_at is not None and run.units_done >= stop_at:
                stop_at = None  # stop once: checkpoint, drop the run, resume from the file
                run = factory(params, shard, _checkpoint_roundtrip(run.state()))
        assert run.step(5) == 0, f"{name}: a finished shard must not do more units"
        partials[shard.index] = run.partial()
    return spec.combine(params, [partials[index] for index in sorted(partials)])


@pytest.fixture(scope="module")
def whole() -> dict[str, dict[str, JsonValue]]:
    """(a) every kernel's job, each shard in one step."""
    results = {}
    for name, params in JOBS.items():
        spec = KERNELS[name]
        shards = spec.plan(spec.params_model.model_validate(params))
        results[name] = _run(name, shards, [10**9])
    return results


@pytest.mark.parametrize("name", list(JOBS))
def test_plan_has_several_units(name: str) -> None:
    assert _units(name) >= 3, f"{name}: expected a job of several units for these tests"


@pytest.mark.parametrize("name", list(JOBS))
def test_run_job_equals_one_step_per_shard(name: str, whole: dict[str, Any]) -> None:
    assert run_job(name, JOBS[name]) == whole[name]


@pytest.mark.parametrize("name", list(JOBS))
@pytest.mark.parametrize("chunks", [[1], [2, 1, 3]], ids=["one-unit", "mixed"])
def test_small_chunks_give_identical_results(
    name: str, chunks: list[int], whole: dict[str, Any]
) -> None:
    shards = [Shard(0, 0, _units(name))]
    assert _run(name, shards, chunks) == whole[name], f"{name}: chunks {chunks} changed the result"


@pytest.mark.parametrize("name", list(JOBS))
def test_stop_checkpoint_and_resume_is_bit_identical(name: str, whole: dict[str, Any]) -> None:
    shards = [Shard(0, 0, _units(name))]
    assert _run(name, shards, [1], stop_at=_units(name) // 2) == whole[name]


@pytest.mark.parametrize("name", ["option_mc", "mandelbrot", "linsolve"])
def test_shards_run_in_any_order_combine_identically(name: str, whole: dict[str, Any]) -> None:
    units = _units(name)
    cut = units // 2
    shards = [Shard(0, 0, 1), Shard(1, 1, cut - 1), Shard(2, cut, units - cut)]
    result = _run(name, list(reversed(shards)), [2])  # as if three workers finished backwards
    assert result == whole[name], f"{name}: shards {shards} changed the result"


def test_heat2d_is_one_sequential_shard() -> None:
    spec = KERNELS["heat2d"]
    shards = spec.plan(spec.params_model.model_validate(JOBS["heat2d"]))
    assert shards == [Shard(0, 0, JOBS["heat2d"]["iterations"])]


@pytest.mark.parametrize("name", list(JOBS))
def test_a_state_that_does_not_fit_is_refused(name: str) -> None:
    spec = KERNELS[name]
    params = spec.params_model.model_validate(JOBS[name])
    shard = Shard(0, 0, _units(name))
    run = load_run_class(spec)(params, shard)
    state = run.state()
    key = next(key for key in state if key != "units_done")
    with pytest.raises(ValueError, match=key):
        # An array no kernel keeps: three dimensions of bytes.
        load_run_class(spec)(params, shard, {**state, key: np.zeros((2, 3, 5), dtype=np.int8)})
    with pytest.raises(ValueError, match="units_done"):
        load_run_class(spec)(params, shard, {**state, "units_done": np.array(10**6)})


def test_option_mc_shard_units_split_the_job_not_its_result(whole: dict[str, Any]) -> None:
    """A job may ask for other shards (the agent's filler asks for long ones): same result."""
    params = {**JOBS["option_mc"], "shard_units": 1}
    spec = KERNELS["option_mc"]
    assert len(spec.plan(spec.params_model.model_validate(params))) == _units("option_mc")
    assert run_job("option_mc", params) == whole["option_mc"]
