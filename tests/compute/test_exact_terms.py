"""A shard's sums kept as the exact terms of their total: fsum over any grouping, the same bits."""

from __future__ import annotations

import math

import numpy as np
import pytest

from boiler_agent.compute.kernel_api import Shard
from boiler_agent.compute.kernels import load_run_class
from boiler_agent.compute.specs import EXAMPLES, KERNELS
from boiler_agent.compute.specs._common import MAX_EXACT_TERMS, exact_terms


@pytest.mark.parametrize("seed", range(20))
def test_fsum_of_every_groups_terms_is_fsum_of_every_value(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 4000))
    # Magnitudes spread over ~40 decades, both signs: cancellation everywhere.
    values = rng.standard_normal(n) * 10.0 ** int(rng.integers(-200, 200))
    values *= np.exp(rng.standard_normal(n) * 5)
    groups = np.array_split(values, int(rng.integers(1, 9)))
    terms = [exact_terms(group) for group in groups]
    assert all(t.dtype == np.float64 and t.size <= MAX_EXACT_TERMS for t in terms)
    assert math.fsum(np.concatenate(terms).tolist()) == math.fsum(values.tolist())


def test_terms_keep_what_a_float_sum_loses() -> None:
    values = np.array([1e100, 1.0, -1e100, 3.0])  # a float sum gives 0.0 or 3.0; the truth is 4
    assert math.fsum(exact_terms(values).tolist()) == 4.0
    assert exact_terms(np.array([0.0, -0.0])).size == 0


@pytest.mark.parametrize("bad", [math.inf, -math.inf, math.nan])
def test_a_value_that_is_not_finite_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="exact sum"):
        exact_terms(np.array([1.0, bad]))


def test_an_option_mc_checkpoint_is_a_few_floats_whatever_the_shard() -> None:
    """A long shard's checkpoint used to hold two arrays of one float per unit (512 kB for the
    agent's filler shards): now a few terms, whatever the shard's length."""
    spec = KERNELS["option_mc"]
    params = spec.params_model.model_validate(EXAMPLES["option_mc"] | {"paths": 10**9})
    run = load_run_class(spec)(params, Shard(0, 0, 50_000))
    run.step(3)
    state = run.state()
    assert int(state["units_done"]) == 3
    assert sum(np.asarray(v).nbytes for v in state.values()) <= 2 * MAX_EXACT_TERMS * 8 + 8


def test_a_checkpoint_and_a_result_from_before_exact_terms_still_serve() -> None:
    """After an upgrade, a checkpoint and a partial written with one sum per unit (the format
    before) resume and combine to the same bits as the new format."""
    spec = KERNELS["option_mc"]
    job = EXAMPLES["option_mc"] | {"paths": 6000, "steps": 199}  # 5 units
    params = spec.params_model.model_validate(job)
    shards = spec.plan(params)
    assert len(shards) == 1 and shards[0].units >= 4
    shard = shards[0]
    factory = load_run_class(spec)

    new = factory(params, shard)
    new.step(shard.units)
    expected = spec.combine(params, [new.partial()])

    # The old checkpoint: per-unit sums of the first half, zeros after, as it was written.
    half = factory(params, shard)
    half.step(shard.units // 2)
    full = factory(params, shard)
    full.step(shard.units)
    per_unit = [full._sums.copy(), full._squares.copy()]  # what the old format held
    per_unit[0][shard.units // 2 :] = 0.0
    per_unit[1][shard.units // 2 :] = 0.0
    old_state = {
        "units_done": np.array(shard.units // 2, dtype=np.int64),
        "sum": per_unit[0],
        "sumsq": per_unit[1],
    }
    resumed = factory(params, shard, old_state)
    resumed.step(shard.units)
    assert spec.combine(params, [resumed.partial()]) == expected

    old_partial = {"sum": full._sums.copy(), "sumsq": full._squares.copy()}
    assert spec.combine(params, [old_partial]) == expected


def test_hostile_checkpoints_and_results_are_refused_with_a_value_error() -> None:
    spec = KERNELS["option_mc"]
    job = EXAMPLES["option_mc"] | {"paths": 6000, "steps": 199}
    params = spec.params_model.model_validate(job)
    shard = spec.plan(params)[0]
    factory = load_run_class(spec)
    bad_old = np.zeros(shard.units)
    bad_old[0] = math.nan
    with pytest.raises(ValueError, match="not finite"):
        factory(params, shard, {"units_done": np.array(1), "sum": bad_old, "sumsq": bad_old})
    huge = np.array([1.7e308, 1.7e308])  # each finite, their sum beyond float64
    with pytest.raises(ValueError, match="beyond float64"):
        factory(params, shard, {"units_done": np.array(1), "sum_terms": huge, "sumsq_terms": huge})
    good = factory(params, shard)
    good.step(shard.units)
    partial = good.partial()
    with pytest.raises(ValueError, match="units"):
        spec.combine(params, [{**partial, "units": np.array([1, 2])}])
    with pytest.raises(ValueError, match="units"):
        spec.combine(params, [{**partial, "units": np.array(-5)}])
    with pytest.raises(ValueError, match="beyond float64"):
        spec.combine(params, [{**partial, "sum_terms": huge}])
    with pytest.raises(ValueError, match="not finite"):  # a result in the per-unit format
        spec.combine(params, [{"sum": bad_old, "sumsq": np.zeros(shard.units)}])
