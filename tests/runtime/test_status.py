"""The status socket, the state file and `boiler-agent status`, on real sockets and files."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import stat
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from boiler_agent.cli import main
from boiler_agent.runtime import status as status_module
from boiler_agent.runtime.status import (
    AgentAlreadyRunningError,
    AgentStatus,
    HeaterInfo,
    StatusError,
    StatusFile,
    StatusServer,
    StatusUnavailableError,
    fetch_status,
    remove_stale_socket,
    render_status,
    status_line,
)

UPDATED = datetime(2025, 1, 15, 7, 30, tzinfo=UTC)


def sample(**changes: Any) -> AgentStatus:
    fields: dict[str, Any] = {
        "agent_version": "0.1.0",
        "heater_id": "heater-7",
        "pid": 4242,
        "started_at": UPDATED - timedelta(hours=3),
        "updated_at": UPDATED,
        "state": "running",
        "heater": HeaterInfo(kind="room", serial="SN-[01]", firmware="1.4.2", rated_power_w=500),
        "temperatures_c": {"air": 19.2, "cpu_package": 61.0, "water": None},
        "outdoor_c": -3.5,
        "setpoint_c": 19.0,
        "setpoint_source": "schedule",
        "mode": "heat",
        "heat_demand_w": 310.0,
        "power_w": 305.0,
        "power_estimated": False,
        "workers_running": 3,
        "workers_max": 4,
        "duty": 0.75,
        "jobs": {"running": 2, "queued": 1, "done": 17, "failed": 0},
        "link": {
            "state": "up",
            "frames_rx": 1234,
            "frames_bad": 1,
            "reconnects": 0,
            "last_reading_age_s": 2.0,
        },
        "broker": {
            "url": "mqtt://127.0.0.1:1883",
            "connected": True,
            "outbox_queued": 0,
            "outbox_dropped": 0,
            "last_error": None,
        },
        "safety_trips": [],
        "energy_kwh": 1.234,
    }
    fields.update(changes)
    return AgentStatus(**fields)


@pytest.fixture
def sock_path(tmp_path: Path) -> Path:
    return tmp_path / "status.sock"  # short: AF_UNIX paths stop at 108 bytes


@pytest.fixture
def server(sock_path: Path) -> Iterator[StatusServer]:
    with StatusServer(sock_path, sample) as running:
        yield running


# --- the socket -------------------------------------------------------------------------------


def test_round_trip_calls_the_provider_per_connection(sock_path: Path) -> None:
    calls: list[int] = []

    def provider() -> AgentStatus:
        calls.append(1)
        return sample(workers_running=len(calls))

    with StatusServer(sock_path, provider):
        assert fetch_status(sock_path) == sample(workers_running=1)
        assert fetch_status(sock_path).workers_running == 2, "a fresh snapshot each time"
    assert not sock_path.exists(), "stop() removes the socket file"


def test_socket_file_is_group_accessible_despite_the_units_umask(sock_path: Path) -> None:
    old = os.umask(0o027)  # the unit's UMask=: alone it would give the socket 0750
    try:
        with StatusServer(sock_path, sample):
            mode = sock_path.stat().st_mode
    finally:
        os.umask(old)
    assert stat.S_ISSOCK(mode)
    assert stat.S_IMODE(mode) == 0o660, f"expected 0660, got {stat.S_IMODE(mode):o}"


def test_stale_socket_file_of_a_dead_agent_is_replaced(sock_path: Path) -> None:
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(sock_path))
    dead.close()  # the file stays, nobody listens: what a kill -9 leaves behind
    assert sock_path.exists()
    with StatusServer(sock_path, sample):
        assert fetch_status(sock_path).heater_id == "heater-7"


def test_second_server_on_a_live_socket_is_refused(server: StatusServer, sock_path: Path) -> None:
    with pytest.raises(AgentAlreadyRunningError) as refused:
        StatusServer(sock_path, sample).start()
    assert str(refused.value) == f"another agent is running (socket {sock_path} answers)"
    assert fetch_status(sock_path).pid == 4242, "the first agent's socket is left alone"


def test_a_file_that_is_not_a_socket_is_not_removed(sock_path: Path) -> None:
    sock_path.write_text("precious")
    with pytest.raises(StatusError, match="exists and is not a socket"):
        StatusServer(sock_path, sample).start()
    assert sock_path.read_text() == "precious"


def test_a_failing_provider_is_reported_and_the_server_keeps_serving(sock_path: Path) -> None:
    failing = [True]

    def provider() -> AgentStatus:
        if failing[0]:
            raise RuntimeError("lock timeout")
        return sample()

    with StatusServer(sock_path, provider):
        with pytest.raises(StatusError, match="status snapshot failed: lock timeout"):
            fetch_status(sock_path)
        failing[0] = False
        assert fetch_status(sock_path).heater_id == "heater-7"


def test_fetch_from_nothing_says_why(sock_path: Path) -> None:
    with pytest.raises(StatusUnavailableError) as missing:
        fetch_status(sock_path)
    assert str(missing.value) == f"{sock_path} does not answer (no such socket)"


def test_silent_clients_do_not_block_others(server: StatusServer, sock_path: Path) -> None:
    # Clients that connect and then neither send nor read nor close.
    idle = [socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) for _ in range(5)]
    try:
        for client in idle:
            client.connect(str(sock_path))
        started = time.monotonic()
        assert fetch_status(sock_path, timeout_s=2.0).heater_id == "heater-7"
        assert time.monotonic() - started < 1.0
    finally:
        for client in idle:
            client.close()


@pytest.mark.timeout(20)
def test_a_client_that_never_reads_a_large_status_is_cut_off(
    sock_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(status_module, "SEND_TIMEOUT_S", 0.3)
    # Far beyond the socket buffer, so the send to the non-reader really blocks.
    big = sample(temperatures_c={f"probe_{i:05d}": 20.0 for i in range(30000)})
    with StatusServer(sock_path, lambda: big) as server:
        hostile = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        hostile.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        # Connected first, so served first: the server accepts in the order of the backlog.
        hostile.connect(str(sock_path))
        try:
            started = time.monotonic()
            assert len(fetch_status(sock_path, timeout_s=5.0).temperatures_c) == 30000
            assert time.monotonic() - started < 3.0, "waited for the non-reader too long"
            # The path this test is about was taken: the non-reader was cut off.
            assert server.clients_dropped == 1
        finally:
            hostile.close()


def test_concurrent_clients_all_get_the_status(server: StatusServer, sock_path: Path) -> None:
    results: list[str] = []

    def fetch() -> None:
        results.append(fetch_status(sock_path).heater_id)

    threads = [threading.Thread(target=fetch) for _ in range(20)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(5)
    assert results == ["heater-7"] * 20


@contextlib.contextmanager
def _full_backlog(sock_path: Path) -> Iterator[threading.Event]:
    """A status server inside one slow answer, its backlog full; set the event to let it go."""
    answering = threading.Event()
    release = threading.Event()

    def slow() -> AgentStatus:
        answering.set()
        release.wait(10)
        return sample()

    waiting: list[socket.socket] = []
    with StatusServer(sock_path, slow):
        try:
            first = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            waiting.append(first)
            first.connect(str(sock_path))
            assert answering.wait(10)  # the server is inside the first answer
            full = False
            for _ in range(10 * status_module.BACKLOG):
                queued = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                waiting.append(queued)
                queued.setblocking(False)
                try:
                    queued.connect(str(sock_path))
                except BlockingIOError:
                    full = True
                    break
            assert full, "the backlog never filled"
            yield release
        finally:
            release.set()
            for queued in waiting:
                queued.close()


def test_a_client_waits_its_turn_when_the_backlog_is_full(
    sock_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A full backlog refuses a connect with EAGAIN at once; the client waits, not fails."""
    busy_seen = threading.Event()
    real_sleep = time.sleep

    def sleep_noting_busy(seconds: float) -> None:
        busy_seen.set()
        real_sleep(seconds)

    monkeypatch.setattr("boiler_agent.runtime.status.time.sleep", sleep_noting_busy)
    got: list[str] = []
    with _full_backlog(sock_path) as release:
        client = threading.Thread(target=lambda: got.append(fetch_status(sock_path, 10).heater_id))
        client.start()
        assert busy_seen.wait(10), "the client never met the full backlog"
        release.set()
        client.join(15)
    assert got == ["heater-7"]


def test_a_busy_agent_is_not_taken_for_a_stale_socket(sock_path: Path) -> None:
    with _full_backlog(sock_path), pytest.raises(AgentAlreadyRunningError):
        remove_stale_socket(sock_path)
    assert not sock_path.exists()  # removed by its own server at stop, not by the probe


# --- the state file ---------------------------------------------------------------------------


def test_state_file_write_is_atomic_and_group_readable(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    state = StatusFile(path)
    state.write(sample(power_w=100.0))
    state.write(sample(power_w=200.0))
    assert state.read() == sample(power_w=200.0)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"], "no temporary files left"


def test_corrupt_or_missing_state_file_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "status.json"
    with pytest.raises(StatusError, match=f"^{path} does not exist$"):
        StatusFile(path).read()
    path.write_text('{"agent_version": "0.1.0", "heater_')
    with pytest.raises(StatusError, match=f"^{path} is not a valid agent status: "):
        StatusFile(path).read()
    path.write_text(json.dumps({**json.loads(sample().model_dump_json()), "pid": "many"}))
    with pytest.raises(StatusError, match="pid: "):
        StatusFile(path).read()


# --- the views --------------------------------------------------------------------------------


def test_status_line_is_one_line_with_the_main_figures() -> None:
    assert status_line(sample()) == (
        "room 19.2°C → 19.0°C, demand 310 W, power 305 W, 3/4 workers, 2 jobs, broker ok"
    )


def test_status_line_puts_trips_first_and_names_trouble() -> None:
    line = status_line(
        sample(
            state="starting",
            safety_trips=["over_temperature: air 31.0 °C > 30.0 °C"],
            link={"state": "handshaking"},
            broker={"connected": False, "outbox_queued": 12},
        )
    )
    assert line.startswith("starting: TRIP over_temperature: air 31.0 °C > 30.0 °C, room ")
    assert "link handshaking" in line
    assert line.endswith("broker down (12 queued)")
    assert "\n" not in line


def rendered(status: AgentStatus, now: datetime) -> str:
    console = Console(record=True, width=120)
    console.print(render_status(status, now=now))
    return console.export_text()


def test_table_shows_the_ages_of_the_snapshot_and_the_reading() -> None:
    fresh = rendered(sample(), now=UPDATED)
    assert "reading 2 s ago" in fresh
    assert "heat demand" in fresh
    assert "310 W" in fresh
    assert "serial SN-[01]" in fresh, "brackets in values are text, not markup"
    assert "stale" not in fresh
    old = rendered(sample(), now=UPDATED + timedelta(minutes=10))
    assert "reading 10 min ago" in old
    assert "10 min ago: stale, the agent may have stopped" in old


# --- the command ------------------------------------------------------------------------------


def test_cli_prints_the_live_status_as_one_json_line(
    server: StatusServer, sock_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(
        ["status", "--socket", str(sock_path), "--state-file", str(tmp_path / "x"), "--json"]
    )
    out = capsys.readouterr().out
    assert code == 0
    assert out.count("\n") == 1
    assert AgentStatus.model_validate_json(out) == sample()


def test_cli_prints_the_table(
    server: StatusServer, sock_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["status", "--socket", str(sock_path)]) == 0
    out = capsys.readouterr().out
    assert "heater-7" in out
    assert "3 of 4 running" in out


def test_cli_falls_back_to_the_state_file_and_says_how_old(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("BOILER_AGENT_STATE_DIR", str(tmp_path))
    written = sample(updated_at=datetime.now(UTC) - timedelta(minutes=5))
    StatusFile(tmp_path / "status.json").write(written)
    missing_socket = tmp_path / "none.sock"
    code = main(["status", "--socket", str(missing_socket), "--json"])
    captured = capsys.readouterr()
    assert code == 0
    assert AgentStatus.model_validate_json(captured.out) == written
    assert f"showing {tmp_path / 'status.json'}, written 5 min ago" in captured.err


def test_cli_exits_3_when_nothing_answers(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    sock, state = tmp_path / "none.sock", tmp_path / "status.json"
    code = main(["status", "--socket", str(sock), "--state-file", str(state)])
    captured = capsys.readouterr()
    assert code == 3
    assert captured.out == ""
    assert captured.err == (
        f"no running agent: {sock} does not answer (no such socket) and {state} does not exist\n"
    )
