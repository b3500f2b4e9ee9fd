"""The preemption benchmark runs end to end and reports every key (no timing assertions)."""

from __future__ import annotations

import pytest

from boiler_agent.benchmarks import preempt


@pytest.mark.slow
def test_preempt_benchmark_reports_every_key(numba_cache: str) -> None:
    result = preempt.run(stops=2, cache_dir=numba_cache, ready_runs=1)
    for key in (
        "stop_latency_p50_ms",
        "stop_latency_p99_ms",
        "pause_latency_ms",
        "ready_from_cache_s",
        "deterministic",
    ):
        assert key in result, key
    assert result["deterministic"] is True
    assert result["stops"] == 2
