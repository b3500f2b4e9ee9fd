"""`boiler-agent bench overhead`: a short run prints its contract keys with plausible figures."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from boiler_agent.cli import main


@pytest.mark.slow
@pytest.mark.timeout(300)  # an agent start, two phase changes of up to a control period each
def test_bench_overhead_prints_the_supervisors_cpu_and_memory_beside_bare_python(
    capsys: pytest.CaptureFixture[str],
) -> None:
    arguments = ["--json", "--window-s", "3", "--warmup-s", "1", "--settle-s", "0.5"]
    assert main(["bench", "overhead", *arguments]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in ("idle_cpu_pct_of_core", "control_cpu_pct_of_core", "rss_mb", "baseline_rss_mb"):
        value = result[key]
        assert isinstance(value, float) and value > 0, f"{key} should be a positive number: {value}"
    # The phases were what they claim: a worker ran while controlling, none was wanted idle.
    assert result["control_workers_running_min"] >= 1
    assert result["idle_heat_demand_w_max"] == 0
    # A bare interpreter is smaller than the supervisor, and the agent stopped cleanly.
    assert result["baseline_rss_mb"] < result["rss_mb"]
    assert result["agent_exit_code"] == 0
    # Disk writes are counted per process (a tmpfs would show none: no > 0 check); a sleeping
    # interpreter writes nothing.
    # None only where the kernel keeps no per-process I/O counts.
    counted = Path("/proc/self/io").exists()
    for key in ("control_disk_write_kb_per_h", "idle_disk_write_kb_per_h"):
        value = result[key]
        assert (isinstance(value, int) and value >= 0) if counted else value is None, (key, value)
    assert result["baseline_disk_write_kb_per_h"] == (0 if counted else None)
