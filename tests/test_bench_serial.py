"""The serial link benchmark runs, decodes every frame and reports its numbers (no timings)."""

from __future__ import annotations

import json

import pytest

from boiler_agent.benchmarks import serial_link

KEYS = {
    "decode_frames_per_s",
    "cpu_us_per_frame",
    "raw_read_mb_per_s",
    "ratio_vs_raw_read",
    "frames",
    "bytes",
}


def test_run_reports_every_metric_and_decodes_every_frame() -> None:
    result = serial_link.run(frames=2000)
    assert result.keys() >= KEYS, f"expected the keys {sorted(KEYS)}, got {sorted(result)}"
    assert result["frames"] == 2000, f"expected 2000 frames in the stream, got {result['frames']}"
    assert result["decoded_frames"] == 2000, f"expected every frame decoded: {result}"
    assert result["decode_errors"] == 0, f"expected no decode error: {result}"
    assert result["bytes"] > 2000 * 8, f"expected frames of 8+ bytes, {result['bytes']} in all"
    for key in ("decode_frames_per_s", "cpu_us_per_frame", "raw_read_mb_per_s"):
        assert result[key] >= 0, f"expected {key} >= 0, got {result[key]}"


def test_main_json_prints_one_parseable_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert serial_link.main(["--json", "--frames", "1000"]) == 0, "expected exit code 0"
    out = capsys.readouterr().out
    lines = out.splitlines()
    assert len(lines) == 1, f"expected exactly one line on stdout with --json, got {out!r}"
    result = json.loads(lines[0])
    assert result.keys() >= KEYS, f"expected the keys {sorted(KEYS)} in {result}"
    assert result["frames"] == result["decoded_frames"] == 1000, f"all 1000 decoded: {result}"


def test_main_without_json_prints_a_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert serial_link.main(["--frames", "200", "--chunk-bytes", "7"]) == 0
    out = capsys.readouterr().out
    assert "decode_frames_per_s" in out, f"expected a table naming the metrics, got {out!r}"


def test_main_fails_with_a_message_when_frames_are_lost(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    real_run = serial_link.run

    def lossy_run(**kwargs: int) -> dict[str, float | int]:
        return {**real_run(**kwargs), "decoded_frames": 99}

    monkeypatch.setattr(serial_link, "run", lossy_run)
    assert serial_link.main(["--json", "--frames", "100"]) == 1, "expected exit code 1"
    err = capsys.readouterr().err
    assert "decoded 99 of 100" in err, f"expected the loss explained on stderr, got {err!r}"


def test_main_refuses_zero_frames(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        serial_link.main(["--frames", "0"])
    assert exit_info.value.code == 2, "expected argparse's usage error"
    assert "at least 1" in capsys.readouterr().err
