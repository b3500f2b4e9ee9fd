"""SIGHUP in-process: the live keys apply everywhere they are used, Home Assistant included."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from boiler_agent.config import load_config
from boiler_agent.telemetry.local_broker import free_loopback_port
from tests.daemon.conftest import Rig


def _write_config(path: Path, tmp_path: Path, setpoint_max_c: float, port: int) -> None:
    path.write_text(
        f"""
state_dir = "{tmp_path / "state"}"
cache_dir = "{tmp_path / "cache"}"
[heater]
id = "h1"
fleet = "test"
[serial]
port = "/dev/fake-heater"
[mqtt]
url = "mqtt://127.0.0.1:{port}"
[control]
setpoint_max_c = {setpoint_max_c}
[status]
socket = "{tmp_path / "status.sock"}"
""",
        encoding="utf-8",
    )


def _climate_max_temp(rig: Rig) -> float:
    loop = rig.agent.loop
    assert loop is not None and loop.parts.uplink is not None
    rows = loop.parts.uplink.outbox.batch(10_000)
    climate = [row for row in rows if row.topic.startswith("homeassistant/climate/")]
    assert climate, "no Home Assistant climate discovery in the outbox"
    return float(json.loads(climate[-1].payload)["max_temp"])


def test_sighup_setpoint_range_reaches_the_command_gate_and_home_assistant(
    make_rig: Callable[..., Rig], tmp_path: Path
) -> None:
    path = tmp_path / "agent.toml"
    # Nothing listens on the port: everything stays in the outbox, where the test reads it.
    port = free_loopback_port()
    _write_config(path, tmp_path, 26.0, port)
    rig = make_rig(load_config(path), config_path=path)
    rig.heater.connect()
    rig.run_for(3.0)
    assert _climate_max_temp(rig) == 26.0
    _write_config(path, tmp_path, 24.0, port)
    rig.agent.request_reload()
    rig.run_for(2.0)
    loop = rig.agent.loop
    assert loop is not None and loop.parts.uplink is not None
    assert loop.parts.uplink.gate.setpoint_range_c == (5.0, 24.0)
    assert loop.regulation.arbiter.setpoint_max_c == 24.0
    assert _climate_max_temp(rig) == 24.0, "discovery kept the old setpoint range"


def test_a_reloaded_range_is_checked_against_the_max_temp_in_force(
    make_rig: Callable[..., Rig], tmp_path: Path
) -> None:
    path = tmp_path / "agent.toml"
    port = free_loopback_port()
    _write_config(path, tmp_path, 26.0, port)
    rig = make_rig(load_config(path), config_path=path)
    rig.heater.connect()
    rig.run_for(3.0)
    # A file that raises max_temp_c too would pass its own checks; but max_temp_c waits for a
    # restart, so a setpoint above the maximum in force (30 °C) must not apply now.
    text = path.read_text(encoding="utf-8").replace(
        "setpoint_max_c = 26.0", "setpoint_max_c = 40.0\nmax_temp_c = 45.0"
    )
    path.write_text(text, encoding="utf-8")
    rig.agent.request_reload()
    rig.run_for(2.0)
    loop = rig.agent.loop
    assert loop is not None and loop.parts.uplink is not None
    assert loop.regulation.arbiter.setpoint_max_c == 26.0
    assert loop.parts.uplink.gate.setpoint_range_c == (5.0, 26.0)
