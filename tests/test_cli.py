"""The `boiler-agent` command line: help, decode, watch and simulate, as an operator runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from boiler_agent.cli import main
from boiler_agent.durations import parse_duration
from firmware_bridge.protocol import Heartbeat, McuStatus, SensorReading, Sensors, encode
from firmware_bridge.recording import RX, TX, ByteRecorder
from firmware_bridge.simulator.server import HeaterSimulator
from heater_physics.weather import WeatherSeries

CLI = [sys.executable, "-m", "boiler_agent.cli"]


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    out = capsys.readouterr().out
    for command in ("simulate", "serial", "bench"):
        assert command in out


def test_decode_prints_every_frame_and_why_dropped(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    recording = tmp_path / "line.bal"
    recorder = ByteRecorder(recording)
    recorder.write(TX, encode(Heartbeat(seq=1, applied_power_w=250, lease_ms=3000)))
    sensors = encode(
        Sensors(
            seq=9,
            boot_id=1,
            uptime_ms=10,
            heater_power_w=250,
            status=McuStatus.LEASE_ACTIVE,
            readings=(SensorReading(2012),),
        )
    )
    corrupted = bytearray(sensors)
    corrupted[-3] ^= 0x40
    recorder.write(RX, sensors[:5])  # a frame split across reads is still one frame
    recorder.write(RX, sensors[5:] + bytes(corrupted))
    recorder.close()
    assert main(["serial", "decode", str(recording)]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 3, lines
    assert "host>mcu" in lines[0] and '"HEARTBEAT"' in lines[0]
    assert "mcu>host" in lines[1] and '"SENSORS"' in lines[1] and "2012" in lines[1]
    assert "DROPPED (bad_crc" in lines[2]


def test_decode_json_and_raw_capture(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    raw = tmp_path / "capture.bin"
    raw.write_bytes(b"\x01\x02\x00" + encode(Heartbeat(seq=2, applied_power_w=1, lease_ms=0)))
    assert main(["serial", "decode", "--json", str(raw)]) == 0
    frames = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [f["error"] is None for f in frames] == [False, True]
    assert frames[1]["message"]["type"] == "HEARTBEAT"


def test_decode_of_a_missing_file_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serial", "decode", str(tmp_path / "nope.bal")]) == 2
    assert "no such recording" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90.0), ("90s", 90.0), ("30m", 1800.0), ("1h30m", 5400.0)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text) == seconds


def test_bad_duration_names_the_value() -> None:
    result = subprocess.run(
        [*CLI, "simulate", "--duration", "soon"], capture_output=True, text=True, check=False
    )
    assert result.returncode == 2
    assert "'soon'" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.slow
def test_simulate_runs_the_agent_end_to_end_and_prints_a_json_summary(tmp_path: Path) -> None:
    plot = tmp_path / "day.png"
    result = subprocess.run(
        [
            *CLI,
            "simulate",
            "--duration",
            "2h",
            "--speed",
            # x1200 starved the idle-priority workers on a loaded machine (0.1 kWh not made).
            "600",
            "--start-hour",
            "6.5",
            "--json",
            "--plot",
            str(plot),
        ],
        capture_output=True,
        text=True,
        check=False,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    for key in ("telemetry_sent", "final_temp_c", "setpoint_c", "energy_kwh", "jobs_done"):
        assert key in summary
    assert summary["simulated_hours"] >= 2.0
    assert summary["telemetry_sent"] > 0
    assert summary["broker"].startswith("mqtt://127.0.0.1:")  # a private Mosquitto
    assert summary["energy_kwh"] > 0.1, "the workers' heat reached the simulated room"
    # The room preset's 07:00 rise falls in a run started at 06:30: it is scored.
    assert len(summary["rise_late_min"]) == 1
    for key in ("tracking_rms_k", "discomfort_kh", "overshoot_k", "demand_reversals"):
        assert summary[key] >= 0, key
    assert 0.0 < summary["valorisation"] <= 1.0
    assert plot.read_bytes().startswith(b"\x89PNG")


def test_serial_watch_shows_readings_and_grants_no_heat(tmp_path: Path) -> None:
    sim = HeaterSimulator("room", weather=WeatherSeries.constant(0.0), link_path=tmp_path / "tty")
    with sim:
        result = subprocess.run(
            [*CLI, "serial", "watch", sim.port, "--seconds", "3", "--json"],
            capture_output=True,
            text=True,
            check=False,
            timeout=30,
        )
        assert sim.snapshot().counters.leases_granted == 0
    assert result.returncode == 0, result.stderr
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert any("room_air" in row for row in rows), rows[-1]
    assert rows[-1]["link"].startswith("up")


def test_a_command_loads_its_own_module_only_and_help_lists_them_all() -> None:
    probe = (
        "import sys\n"
        "from boiler_agent.cli import build_parser\n"
        "build_parser({argv})\n"
        "print(sorted(m for m in sys.modules if m.startswith('boiler_agent.cli.')))\n"
        "print('boiler_agent.benchmarks' in sys.modules)\n"
    )

    def loaded(argv: list[str]) -> list[str]:
        result = subprocess.run(
            [sys.executable, "-c", probe.format(argv=argv)],
            capture_output=True,
            text=True,
            check=True,
        )
        return result.stdout.splitlines()

    # `boiler-agent -v status`: the status command's module, not the benchmarks.
    assert loaded(["-v", "status", "--json"]) == ["['boiler_agent.cli.status_cmd']", "False"]
    # No command (or one not known): every command, so --help and the error list them all.
    for argv in ([], ["--help"], ["stauts"]):
        modules, benchmarks = loaded(argv)
        assert "boiler_agent.cli.fleet_cmd" in modules and benchmarks == "True", argv
    usage = subprocess.run([*CLI, "--help"], capture_output=True, text=True, check=True).stdout
    for command in ("run", "simulate", "serial", "job", "warm-cache", "bench", "schema"):
        assert f"    {command} " in usage, command
    for command in ("config", "status", "safety", "fleet"):
        assert f"    {command} " in usage, command
