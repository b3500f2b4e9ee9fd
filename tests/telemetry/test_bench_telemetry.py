from __future__ import annotations

import json

import pytest

from boiler_agent.cli import main


@pytest.mark.slow
def test_bench_telemetry_prints_its_contract_keys_and_loses_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert (
        main(["bench", "telemetry", "--json", "--messages", "500", "--replay-messages", "2000"])
        == 0
    )
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for key in (
        "outbox_rate_ratio_vs_raw",
        "replay_messages",
        "replay_s",
        "replay_lost",
        "replay_out_of_order",
    ):
        assert key in result
    assert result["replay_messages"] == 2000
    assert result["replay_lost"] == 0
    assert result["replay_out_of_order"] == 0
    assert result["outbox_rate_ratio_vs_raw"] > 0
