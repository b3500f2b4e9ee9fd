"""sd_notify without libsystemd: the exact datagrams on a real socket, and the quiet failures."""

from __future__ import annotations

import logging
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from boiler_agent.runtime.sd_notify import Notifier


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[tuple[socket.socket, Path]]:
    """A datagram socket standing where PID 1's notification socket would be."""
    path = tmp_path / "notify"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(path))
    sock.settimeout(2.0)
    yield sock, path
    sock.close()


def received(sock: socket.socket) -> bytes:
    return sock.recv(4096)


def test_each_message_is_one_datagram_with_the_exact_assignments(
    manager: tuple[socket.socket, Path],
) -> None:
    sock, path = manager
    notifier = Notifier.from_env({"NOTIFY_SOCKET": str(path)})
    assert notifier.enabled

    notifier.ready()
    assert received(sock) == b"READY=1\n"
    notifier.ready(status="running")
    assert received(sock) == b"READY=1\nSTATUS=running\n"
    notifier.status("room 19.2°C → 19.0°C")
    assert received(sock) == "STATUS=room 19.2°C → 19.0°C\n".encode()
    notifier.watchdog()
    assert received(sock) == b"WATCHDOG=1\n"
    notifier.stopping()
    assert received(sock) == b"STOPPING=1\n"
    notifier.reloading()
    # systemd 252 knows RELOADING=1 alone; MONOTONIC_USEC= is 253's, for Type=notify-reload.
    assert received(sock) == b"RELOADING=1\n"
    notifier.close()


def test_status_text_is_made_one_line(manager: tuple[socket.socket, Path]) -> None:
    sock, path = manager
    notifier = Notifier.from_env({"NOTIFY_SOCKET": str(path)})
    notifier.status("link down\nREADY=1\r\n  retrying")
    assert received(sock) == b"STATUS=link down READY=1 retrying\n", (
        "a newline in STATUS= would smuggle in another assignment"
    )


def test_abstract_socket_name_gets_a_leading_nul() -> None:
    name = f"boiler-agent-test-{uuid.uuid4().hex}"
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind("\0" + name)
    sock.settimeout(2.0)
    try:
        notifier = Notifier.from_env({"NOTIFY_SOCKET": "@" + name})
        notifier.watchdog()
        assert received(sock) == b"WATCHDOG=1\n"
    finally:
        sock.close()


def test_watchdog_interval_is_half_of_watchdog_usec(manager: tuple[socket.socket, Path]) -> None:
    _, path = manager
    env = {"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": "30000000"}
    assert Notifier.from_env(env).watchdog_interval_s == 15.0
    mine = {**env, "WATCHDOG_PID": str(os.getpid())}
    assert Notifier.from_env(mine).watchdog_interval_s == 15.0


def test_watchdog_for_another_pid_is_not_ours(manager: tuple[socket.socket, Path]) -> None:
    _, path = manager
    env = {
        "NOTIFY_SOCKET": str(path),
        "WATCHDOG_USEC": "30000000",
        "WATCHDOG_PID": str(os.getpid() + 1),
    }
    assert Notifier.from_env(env).watchdog_interval_s is None


@pytest.mark.parametrize("usec", ["0", "-5", "soon", ""])
def test_unusable_watchdog_usec_means_no_watchdog(
    manager: tuple[socket.socket, Path], usec: str
) -> None:
    _, path = manager
    notifier = Notifier.from_env({"NOTIFY_SOCKET": str(path), "WATCHDOG_USEC": usec})
    assert notifier.watchdog_interval_s is None


def test_without_notify_socket_everything_is_a_no_op() -> None:
    notifier = Notifier.from_env({"WATCHDOG_USEC": "30000000"})
    assert not notifier.enabled
    assert notifier.watchdog_interval_s is None, "no manager, so nobody to ping"
    notifier.ready("x")
    notifier.status("x")
    notifier.watchdog()
    notifier.stopping()
    notifier.reloading()


def test_relative_notify_socket_is_ignored() -> None:
    assert not Notifier.from_env({"NOTIFY_SOCKET": "relative/notify"}).enabled


def test_vanished_socket_warns_once_and_never_raises(
    manager: tuple[socket.socket, Path], caplog: pytest.LogCaptureFixture
) -> None:
    sock, path = manager
    notifier = Notifier.from_env({"NOTIFY_SOCKET": str(path)})
    notifier.watchdog()
    assert received(sock) == b"WATCHDOG=1\n"
    sock.close()
    path.unlink()

    with caplog.at_level(logging.DEBUG, logger="boiler_agent.runtime.sd_notify"):
        for _ in range(5):
            notifier.watchdog()
            notifier.status("still heating")
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, f"expected one warning, got {[r.message for r in warnings]}"
    assert str(path) in warnings[0].getMessage()
