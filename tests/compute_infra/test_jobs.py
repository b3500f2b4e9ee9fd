"""Job validation: every refusal names the field and the value; nothing runs as code."""

from __future__ import annotations

import pytest

from boiler_agent.compute.jobs import JobError, validate_job

GOOD = {
    "spot": 100.0,
    "strike": 100.0,
    "rate": 0.01,
    "volatility": 0.2,
    "maturity": 1.0,
    "paths": 100_000,
    "steps": 16,
    "seed": 1,
}


def test_a_good_job_is_planned() -> None:
    job = validate_job("option_mc", GOOD)
    assert job.kernel == "option_mc" and job.shards
    assert sum(s.units for s in job.shards) > 0
    assert job.params_json["spot"] == 100.0


def test_unknown_kernel_lists_the_known_ones() -> None:
    with pytest.raises(JobError) as refused:
        validate_job("bitcoin", GOOD)
    assert "bitcoin" in str(refused.value) and "option_mc" in str(refused.value)


@pytest.mark.parametrize(
    ("change", "names"),
    [
        ({"spot": -1.0}, ["params.spot", "-1"]),
        ({"paths": 0}, ["params.paths", "0"]),
        ({"volatility": float("nan")}, ["params.volatility", "nan"]),
        ({"shell": "rm -rf /"}, ["params.shell", "rm -rf /"]),
        ({"steps": "many"}, ["params.steps", "many"]),
        ({"shard_units": 0}, ["params.shard_units", "0"]),
        ({"shard_units": 2**20}, ["params.shard_units", str(2**20)]),
    ],
)
def test_bad_parameter_is_named_with_its_value(change: dict[str, object], names: list[str]) -> None:
    with pytest.raises(JobError) as refused:
        validate_job("option_mc", GOOD | change)
    for name in names:
        assert name in str(refused.value), str(refused.value)


def test_missing_parameter_is_named() -> None:
    params = dict(GOOD)
    del params["strike"]
    with pytest.raises(JobError, match=r"params\.strike"):
        validate_job("option_mc", params)


def test_params_that_are_not_json_are_refused() -> None:
    with pytest.raises(JobError, match="not JSON"):
        validate_job("option_mc", "{spot: 1")
    with pytest.raises(JobError, match="JSON object"):
        validate_job("option_mc", "[1, 2]")


def test_job_over_the_memory_budget_is_refused() -> None:
    with pytest.raises(JobError, match="memory budget"):
        validate_job(
            "heat2d",
            {"nx": 2000, "ny": 2000, "iterations": 10, "alpha": 0.2},
            memory_budget_bytes=1,
        )


@pytest.mark.parametrize("job_id", ["", "a/b", "x" * 65, "name with space", "../etc"])
def test_bad_job_ids_are_refused(job_id: str) -> None:
    with pytest.raises(JobError, match="job_id"):
        validate_job("option_mc", GOOD, job_id=job_id)


def test_the_default_split_is_not_in_the_stored_params() -> None:
    """A job's digest (its checkpoints', its handoff bundles') stays what it was before
    `shard_units` existed unless the job asks for another split."""
    default = validate_job("option_mc", GOOD)
    assert "shard_units" not in default.params_json
    assert default.digest == validate_job("option_mc", GOOD | {"shard_units": 512}).digest
    other = validate_job("option_mc", GOOD | {"shard_units": 4096})
    assert other.params_json["shard_units"] == 4096 and other.digest != default.digest
