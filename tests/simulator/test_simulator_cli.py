"""`python -m firmware_bridge.simulator`: prints the port, obeys stdin commands, stops cleanly."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

from firmware_bridge.events import ThermostatState
from firmware_bridge.link import HeaterLink
from firmware_bridge.protocol import SetpointSource
from tests.firmware_bridge.conftest import wait_for


def test_simulator_prints_its_port_and_follows_the_knob(tmp_path: Path) -> None:
    link_path = tmp_path / "tty"
    process = subprocess.Popen(
        [sys.executable, "-m", "firmware_bridge.simulator", "--link", str(link_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None and process.stdin is not None
        port = process.stdout.readline().strip()
        assert port == str(link_path) and link_path.is_symlink()
        with HeaterLink(port) as link:
            link.wait_until_up(5.0)
            process.stdin.write("knob 23.5\n")
            process.stdin.flush()
            state, _ = wait_for(link, ThermostatState, 3.0, lambda s: s.setpoint_c == 23.5)
            assert state.source is SetpointSource.KNOB
    finally:
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=5)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    assert not link_path.exists(), "the port's symlink goes away with the simulator"


def test_unknown_preset_is_a_clear_error() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "firmware_bridge.simulator", "--preset", "sauna"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 2
    assert "sauna" in result.stderr and "room" in result.stderr
