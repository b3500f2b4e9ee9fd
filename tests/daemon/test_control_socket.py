"""`boiler-agent safety reset` through the agent's own control socket, recorded with its user."""

from __future__ import annotations

import json
import socket
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from boiler_agent.cli import main
from tests.daemon.conftest import Rig


def _reset_while_running(rig: Rig, argv: list[str], capsys: pytest.CaptureFixture[str]) -> int:
    """The CLI waits for the loop's answer: the loop turns here while it asks."""
    result: list[int] = []
    asking = threading.Thread(target=lambda: result.append(main(argv)))
    asking.start()
    while asking.is_alive():
        rig.run_for(0.5)
        asking.join(0.01)
    return result[0]


def test_an_operator_resets_a_latched_trip_on_the_control_socket(
    make_rig: Callable[..., Rig], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rig = make_rig(serve_status=True)
    rig.heater.connect()
    rig.heater.knob(21.0)
    rig.run_for(30.0)
    rig.heater.frozen_reading_c = rig.heater.room.temp_c
    rig.run_for(360.0)
    assert "frozen_sensor" in rig.last().trips
    rig.heater.frozen_reading_c = None
    control = str(tmp_path / "control.sock")
    argv = ["safety", "reset", "--reason", "sensor reseated", "--socket", control, "--json"]
    assert _reset_while_running(rig, argv, capsys) == 0
    answer = json.loads(capsys.readouterr().out)
    assert answer["ok"] is True and answer["cleared"] == ["frozen_sensor"]
    rig.run_for(30.0)
    assert not rig.last().trips and rig.last().lease_s == 3.0


def test_bad_requests_are_answered_not_obeyed(make_rig: Callable[..., Rig], tmp_path: Path) -> None:
    make_rig(serve_status=True)
    for raw in (b"not json\n", b'{"action": "rm -rf /", "reason": "x"}\n', b"\n"):
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as client:
            client.settimeout(5.0)
            client.connect(str(tmp_path / "control.sock"))
            client.sendall(raw)
            answer = json.loads(client.makefile("rb").readline())
        assert answer["ok"] is False and answer["error"]


def test_without_an_agent_the_command_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["safety", "reset", "--reason", "x", "--socket", str(tmp_path / "none.sock")])
    assert code == 3
    assert "no running agent" in capsys.readouterr().err
