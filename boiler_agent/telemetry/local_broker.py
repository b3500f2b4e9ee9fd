"""A private Mosquitto on a free loopback port: for the tests, benchmarks and `simulate`.

The agent never depends on this in production (it connects to the fleet's broker); it exists so
that everything that talks MQTT is exercised against a real broker, never a fake one, and never
one somebody else started.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from boiler_agent.telemetry.config import BrokerUrl


class BrokerUnavailableError(RuntimeError):
    """Mosquitto is not installed, or did not start."""


def find_mosquitto() -> str | None:
    # Debian installs the broker in /usr/sbin, which is not on a normal user's PATH.
    return shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/usr/local/sbin")


def free_loopback_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class LocalBroker:
    """One Mosquitto process bound to 127.0.0.1 with its own config and working directory.

    `extra_config` lines are appended to the generated config (listeners, TLS, ACL files).
    `stop()` and `start()` may be called repeatedly: the port stays the same, so clients see an
    outage and a restart of "their" broker.
    """

    workdir: Path
    port: int = field(default_factory=free_loopback_port)
    extra_config: Sequence[str] = ()
    allow_anonymous: bool = True
    persistence: bool = False
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)

    @property
    def url(self) -> BrokerUrl:
        return BrokerUrl(f"mqtt://127.0.0.1:{self.port}")

    @property
    def config_path(self) -> Path:
        return self.workdir / "mosquitto.conf"

    @property
    def log_path(self) -> Path:
        return self.workdir / "mosquitto.log"

    def write_config(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        lines = [
            "per_listener_settings false",
            f"allow_anonymous {'true' if self.allow_anonymous else 'false'}",
            f"listener {self.port} 127.0.0.1",
            f"log_dest file {self.log_path}",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            # The outbox replays a day of telemetry: do not let the broker drop in-flight QoS 1.
            "max_queued_messages 0",
            "max_inflight_messages 0",
        ]
        if os.geteuid() == 0:
            # Started as root, mosquitto drops to the `mosquitto` user, which cannot write the
            # log and persistence files of this private, root-owned directory.
            lines.append("user root")
        if self.persistence:
            lines += ["persistence true", f"persistence_location {self.workdir}/"]
        lines += list(self.extra_config)
        self.config_path.write_text("\n".join(lines) + "\n", encoding="utf-8")

    def start(self, timeout_s: float = 10.0) -> None:
        if self.running:
            return
        binary = find_mosquitto()
        if binary is None:
            raise BrokerUnavailableError(
                "mosquitto is not installed (Debian: apt-get install mosquitto)"
            )
        self.write_config()
        self._process = subprocess.Popen(
            [binary, "-c", str(self.config_path)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            cwd=self.workdir,
        )
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                stderr = (
                    self._process.stderr.read().decode(errors="replace")
                    if self._process.stderr
                    else ""
                )
                raise BrokerUnavailableError(
                    f"mosquitto exited with {self._process.returncode} on port {self.port}: "
                    f"{stderr.strip() or self._log_tail()}"
                )
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.02)
        self.stop()
        raise BrokerUnavailableError(
            f"mosquitto did not listen on 127.0.0.1:{self.port} in {timeout_s} s"
        )

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs (for measuring its CPU)."""
        return self._process.pid if self.running and self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def stop(self) -> None:
        """Stop the broker (SIGTERM, then SIGKILL): clients see the connection drop."""
        process, self._process = self._process, None
        if process is None:
            return
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)
        if process.stderr is not None:
            process.stderr.close()

    def kill(self) -> None:
        """Kill the broker without a clean shutdown, as a crash or power cut would."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._process.wait(timeout=5)
        self.stop()

    def pause(self) -> None:
        """A partition: the broker stops answering (SIGSTOP) but keeps its connections."""
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.send_signal(signal.SIGCONT)

    def restart(self) -> None:
        self.stop()
        self.start()

    def _log_tail(self, lines: int = 5) -> str:
        try:
            return " | ".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "no log"
