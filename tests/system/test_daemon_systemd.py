"""`boiler-agent run` speaks systemd's notify protocol and answers `boiler-agent status`."""

from __future__ import annotations

import json
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from boiler_agent.paths import default_cache_dir
from firmware_bridge.simulator.server import HeaterSimulator
from tests.system.store_probe import query_store

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.slow, pytest.mark.timeout(180)]


def _datagrams(sock: socket.socket, until: str, timeout_s: float) -> list[str]:
    """Every notification until one contains `until`."""
    got: list[str] = []
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        sock.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            got.append(sock.recv(4096).decode())
        except TimeoutError:
            break
        if until in got[-1]:
            return got
    raise AssertionError(f"no {until!r} in {timeout_s} s; got {got[-5:]}")


# One shard of a hundred million sweeps: no test machine finishes it.
LONG_HEAT2D = {"nx": 128, "ny": 128, "iterations": 100_000_000, "alpha": 0.2}


def _checkpointed(store: Path, job_id: str) -> bool:
    """The store knows a checkpoint of the job."""
    sql = "SELECT 1 FROM shards WHERE job_id = ? AND checkpoint IS NOT NULL"
    return query_store(store, sql, (job_id,)) is not None


def test_ready_watchdog_status_reload_and_stop(tmp_path: Path) -> None:
    notify_path = tmp_path / "notify.sock"
    notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    notify.bind(str(notify_path))
    status_socket = tmp_path / "status.sock"
    config = tmp_path / "agent.toml"
    with HeaterSimulator("room", speed=144, start_day=20, link_path=tmp_path / "tty") as sim:
        config.write_text(
            f"""
state_dir = "{tmp_path / "state"}"
cache_dir = "{default_cache_dir()}"
[heater]
id = "h1"
[serial]
port = "{sim.port}"
[power]
max_workers = 1
[compute]
checkpoint_interval_s = 5
[mqtt]
enabled = false
[status]
socket = "{status_socket}"
""",
            encoding="utf-8",
        )
        agent = subprocess.Popen(
            [sys.executable, "-m", "boiler_agent.cli", "run", "--config", str(config)],
            cwd=ROOT,
            env={
                "NOTIFY_SOCKET": str(notify_path),
                "WATCHDOG_USEC": "30000000",
                "PATH": "/usr/bin:/bin",
                "HOME": str(tmp_path),
            },
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            ready = _datagrams(notify, "READY=1", 60)
            assert any("STATUS=" in d for d in ready[-1:])  # READY carries the first status
            later = _datagrams(notify, "WATCHDOG=1", 5)  # from the control loop, every period
            assert later

            shown = subprocess.run(
                [sys.executable, "-m", "boiler_agent.cli", "status", "--socket", str(status_socket),
                 "--json"],
                cwd=ROOT, capture_output=True, text=True, timeout=30, check=False,
            )  # fmt: skip
            assert shown.returncode == 0, shown.stderr
            status = json.loads(shown.stdout)
            assert status["heater_id"] == "h1" and status["state"] == "running"
            assert status["heater"]["kind"] == "room"
            assert status["temperatures_c"]["air"] is not None

            # Heat wanted, and a local job (run before the filler) of one shard far too long to
            # finish: SIGTERM will find it in flight. The filler's shards last half a second, and
            # one could end before the stop reached it. Submitted now, so that its first
            # checkpoint comes while the checks below run.
            submitted = subprocess.run(
                [sys.executable, "-m", "boiler_agent.cli", "job", "submit", "--kernel", "heat2d",
                 "--params", json.dumps(LONG_HEAT2D), "--job-id", "long-local",
                 "--state-dir", str(tmp_path / "state")],
                cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip
            assert submitted.returncode == 0, submitted.stderr
            sim.turn_knob(25.0)
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                now = json.loads(
                    subprocess.run(
                        [
                            sys.executable,
                            "-m",
                            "boiler_agent.cli",
                            "status",
                            "--socket",
                            str(status_socket),
                            "--json",
                        ],
                        cwd=ROOT,
                        capture_output=True,
                        text=True,
                        timeout=30,
                        check=False,
                    ).stdout
                )
                if now["workers_running"] >= 1:
                    break
                time.sleep(0.2)
            assert now["workers_running"] >= 1, now

            # One agent per state directory: a second one says who holds it and exits.
            second = subprocess.run(
                [sys.executable, "-m", "boiler_agent.cli", "run", "--config", str(config)],
                cwd=ROOT, capture_output=True, text=True, timeout=60, check=False,
            )  # fmt: skip
            assert second.returncode == 1
            assert f"another agent (pid {agent.pid}) is running" in second.stderr
            assert "Traceback" not in second.stderr

            # A reload applies what it can live and names what waits for a restart.
            config.write_text(
                config.read_text(encoding="utf-8").replace("max_workers = 1", "max_workers = 2")
                + '\n[log]\nlevel = "warning"\n',
                encoding="utf-8",
            )
            agent.send_signal(signal.SIGHUP)
            reload = _datagrams(notify, "RELOADING=1", 10)
            assert reload
            assert _datagrams(notify, "READY=1", 10)

            # SIGTERM while a worker is inside the local job's shard: the stop must checkpoint
            # it. Sent once the job has checkpointed: its worker is computing, past numba's
            # compile.
            store = tmp_path / "state" / "jobs.sqlite"
            deadline = time.monotonic() + 90
            while not _checkpointed(store, "long-local"):
                assert time.monotonic() < deadline, "the local job never checkpointed in 90 s"
                time.sleep(0.1)
            agent.send_signal(signal.SIGTERM)
            assert _datagrams(notify, "STOPPING=1", 10)
            assert agent.wait(30) == 0
        finally:
            if agent.poll() is None:
                agent.kill()
            stderr = agent.communicate()[1]
            notify.close()
    assert "Traceback" not in stderr, stderr[-3000:]
    assert "reloaded: log.level; at the next restart: power.max_workers" in stderr, stderr[-2000:]
    assert not status_socket.exists()  # removed at stop
    # SIGTERM stopped every worker at a chunk boundary and the store knows each checkpoint.
    with sqlite3.connect(tmp_path / "state" / "jobs.sqlite") as db:
        shards = db.execute("SELECT state, checkpoint FROM shards").fetchall()
    assert not [s for s in shards if s[0] == "running"], shards
    preempted = [checkpoint for state, checkpoint in shards if state == "preempted"]
    assert preempted and all(preempted), shards
    with sqlite3.connect(tmp_path / "state" / "jobs.sqlite") as db:
        ((state, units_done),) = db.execute(
            "SELECT state, units_done FROM shards WHERE job_id = 'long-local'"
        ).fetchall()
    assert state == "preempted" and units_done > 0, (state, units_done)
