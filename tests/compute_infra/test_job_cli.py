"""`boiler-agent job ...` and `warm-cache` as scripts and fleet tools call them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from boiler_agent.cli import main

CLI = [sys.executable, "-m", "boiler_agent.cli"]
PARAMS = {
    "spot": 100.0,
    "strike": 100.0,
    "rate": 0.0,
    "volatility": 0.2,
    "maturity": 1.0,
    "paths": 20_000,
    "steps": 4,
    "seed": 2,
}


def test_kernels_lists_every_kernel_with_a_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["job", "kernels", "--json"]) == 0
    schemas = json.loads(capsys.readouterr().out)
    assert set(schemas) >= {"option_mc", "heat2d", "mandelbrot", "linsolve"}
    option = schemas["option_mc"]["params"]["properties"]
    assert {"spot", "strike", "rate", "volatility", "maturity", "paths", "steps", "seed"} <= set(
        option
    )


def test_submit_list_show_on_the_local_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = ["--state-dir", str(tmp_path)]
    params = json.dumps(PARAMS)
    args = ["job", "submit", "--kernel", "option_mc", "--params", params, "--job-id", "s1"]
    assert main([*args, *store]) == 0
    submitted = json.loads(capsys.readouterr().out)
    assert submitted["job_id"] == "s1" and submitted["accepted"] is True
    assert main([*args, *store]) == 0
    assert json.loads(capsys.readouterr().out)["accepted"] is False, "same id: not added twice"
    assert main(["job", "list", "--json", *store]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(j["id"], j["state"]) for j in listed] == [("s1", "queued")]
    assert main(["job", "show", "s1", *store]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["kernel"] == "option_mc" and shown["shards"][0]["state"] == "queued"
    assert main(["job", "show", "nope", *store]) == 2
    assert "no job 'nope'" in capsys.readouterr().err


def test_bad_job_is_refused_with_the_field_and_value(capsys: pytest.CaptureFixture[str]) -> None:
    bad = json.dumps(PARAMS | {"volatility": -0.5})
    assert main(["job", "run", "--kernel", "option_mc", "--params", bad, "--workers", "1"]) == 2
    err = capsys.readouterr().err
    assert "params.volatility" in err and "-0.5" in err


def test_job_run_prints_the_result_as_one_json_line() -> None:
    command = ["job", "run", "--kernel", "option_mc", "--params", json.dumps(PARAMS)]
    result = subprocess.run(
        [*CLI, *command, "--workers", "1"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert len(lines) == 1
    answer = json.loads(lines[0])
    assert answer["price"] > 0 and answer["stderr"] > 0


@pytest.mark.slow
def test_warm_cache_fills_the_cache_directory(tmp_path: Path) -> None:
    result = subprocess.run(
        [*CLI, "warm-cache", "--cache-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "compiled 4 kernels" in result.stdout
    assert list((tmp_path / "numba").rglob("*.nbi")), "numba index files in the cache"
