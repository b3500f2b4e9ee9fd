"""Ports by URL: the same link over a TCP serial server (socket://), as with ser2net."""

from __future__ import annotations

import os
import select
import socket
import threading
from collections.abc import Iterator

import pytest

from firmware_bridge.events import Readings
from firmware_bridge.link import HeaterLink
from firmware_bridge.simulator.server import HeaterSimulator

from .conftest import wait_for


class TcpSerialBridge:
    """A tiny ser2net: one TCP client on 127.0.0.1 bridged to a serial device file."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)

    def __enter__(self) -> TcpSerialBridge:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        self.server.close()

    def _serve(self) -> None:
        self.server.settimeout(0.1)
        while not self._stop.is_set():
            try:
                client, _ = self.server.accept()
            except TimeoutError:
                continue
            fd = os.open(self.device, os.O_RDWR | os.O_NOCTTY)
            try:
                self._pump(client, fd)
            finally:
                os.close(fd)
                client.close()

    def _pump(self, client: socket.socket, fd: int) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([client, fd], [], [], 0.05)
            if client in ready:
                data = client.recv(4096)
                if not data:
                    return
                os.write(fd, data)
            if fd in ready:
                client.sendall(os.read(fd, 4096))


@pytest.fixture
def bridge(simulator: HeaterSimulator) -> Iterator[TcpSerialBridge]:
    with TcpSerialBridge(simulator.pty.slave_name) as tcp:
        yield tcp


def test_link_works_over_socket_url(simulator: HeaterSimulator, bridge: TcpSerialBridge) -> None:
    with HeaterLink(f"socket://127.0.0.1:{bridge.port}") as link:
        identity = link.wait_until_up(5.0)
        assert identity.boot_id == simulator.mcu.boot_id
        granted, _ = wait_for(
            link, Readings, 3.0, lambda r: r.lease_active, every=lambda: link.heartbeat(200.0)
        )
        assert granted.heater_power_w == 200, "the lease travels over TCP too"


def test_unreachable_url_keeps_retrying_without_raising() -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        free_port = probe.getsockname()[1]
    with HeaterLink(f"socket://127.0.0.1:{free_port}") as link:
        with pytest.raises(TimeoutError) as waited:
            link.wait_until_up(0.5)
        assert "no handshake" in str(waited.value)
        assert link.heartbeat(100.0) is False
