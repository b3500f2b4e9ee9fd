"""`boiler-agent fleet ...` on bad input: one line naming what is wrong, exit 2, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CLI = [sys.executable, "-m", "boiler_agent.cli", "fleet"]
BROKER = ["--broker", "mqtt://127.0.0.1:1", "--fleet", "north"]


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], capture_output=True, text=True, check=False, timeout=60)


def test_submit_names_the_bad_parameter_and_offers_nothing(tmp_path: Path) -> None:
    jobs = str(tmp_path / "jobs.sqlite")
    result = _run(
        "submit", *BROKER, "--kernel", "linsolve", "--params", '{"n": -3}', "--jobs-file", jobs
    )
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert "--params n" in result.stderr and "-3" in result.stderr
    assert not Path(jobs).exists()


def test_submit_names_an_unknown_kernel(tmp_path: Path) -> None:
    result = _run("submit", *BROKER, "--kernel", "bitcoin", "--params", "{}")
    assert result.returncode == 2 and "unknown kernel 'bitcoin'" in result.stderr


def test_cancel_of_an_unknown_job_says_so(tmp_path: Path) -> None:
    from boiler_agent.fleet.job_file import JobFile

    path = tmp_path / "jobs.sqlite"
    JobFile(path).close()
    result = _run("cancel", "nope", "--jobs-file", str(path))
    assert result.returncode == 2 and "no job 'nope'" in result.stderr
