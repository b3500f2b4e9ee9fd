"""Tell systemd how the agent is doing (sd_notify(3)) without depending on python-systemd.

The protocol is one AF_UNIX datagram per message, newline-separated `KEY=VALUE` lines, sent to
the socket named by NOTIFY_SOCKET. Outside systemd (run by hand, in tests) the variable is
unset and every method does nothing, so callers never need to check.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
from collections.abc import Mapping

log = logging.getLogger(__name__)

# A blocked send must not stall the control loop that pings the watchdog; PID 1 normally reads
# its notification socket at once, so a send that takes longer than this is already lost.
SEND_TIMEOUT_S = 0.5
# `systemctl status` shows STATUS= on one line: more than this helps nobody reading it.
MAX_STATUS_CHARS = 512


class Notifier:
    """Sends sd_notify messages to NOTIFY_SOCKET; a no-op when there is none."""

    def __init__(self, address: str | None, watchdog_usec: int | None = None) -> None:
        # address: a file system path, or an abstract name starting with a NUL byte.
        self._address = address
        self._watchdog_usec = watchdog_usec
        self._sock: socket.socket | None = None
        self._lock = threading.Lock()  # the control loop and other threads may send at once
        self._warned = False

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> Notifier:
        """Read NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID the way libsystemd does."""
        return cls(_notify_address(env.get("NOTIFY_SOCKET")), _watchdog_usec(env))

    @property
    def enabled(self) -> bool:
        """True when there is a service manager to notify."""
        return self._address is not None

    @property
    def watchdog_interval_s(self) -> float | None:
        """How often to send WATCHDOG=1: half of WatchdogSec=, as sd_watchdog_enabled(3)
        recommends; None when the service manager expects no pings."""
        if self._address is None or self._watchdog_usec is None:
            return None
        return self._watchdog_usec / 2 / 1_000_000

    def ready(self, status: str | None = None) -> None:
        """Start-up (or a reload) is complete; `systemctl start` returns now."""
        self._send(["READY=1", *_status_lines(status)])

    def status(self, text: str) -> None:
        """The one line `systemctl status` shows under the unit."""
        self._send(_status_lines(text))

    def watchdog(self) -> None:
        """The control loop is alive; systemd restarts the agent when these stop coming."""
        self._send(["WATCHDOG=1"])

    def stopping(self, status: str | None = None) -> None:
        """Shutdown has begun (checkpoints, outbox flush)."""
        self._send(["STOPPING=1", *_status_lines(status)])

    def reloading(self, status: str | None = None) -> None:
        """A reload (SIGHUP) has begun; call ready() when it is done, or systemctl waits.

        MONOTONIC_USEC= is deliberately left out: sd_notify(3) documents it from systemd 253 on,
        for Type=notify-reload, which 252 (our target, Debian 12) does not have; our unit is
        Type=notify with ExecReload=, where RELOADING=1 alone is the documented message
        (since systemd 217) and even newer managers do not look at the timestamp.
        """
        self._send(["RELOADING=1", *_status_lines(status)])

    def close(self) -> None:
        with self._lock:
            if self._sock is not None:
                self._sock.close()
                self._sock = None

    def _send(self, lines: list[str]) -> None:
        if self._address is None or not lines:
            return
        message = ("\n".join(lines) + "\n").encode()
        with self._lock:
            try:
                if self._sock is None:
                    # One unconnected socket reused for every message: sendto() resolves the
                    # address each time, so a manager that re-creates its socket still gets them.
                    self._sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
                    self._sock.settimeout(SEND_TIMEOUT_S)
                self._sock.sendto(message, self._address)
            except OSError as exc:
                # Losing a notification must never take the heater down; one warning is enough
                # for the operator, the rest (one per watchdog ping) would flood the journal.
                level = logging.DEBUG if self._warned else logging.WARNING
                self._warned = True
                log.log(level, "sd_notify to %s failed: %s", _printable(self._address), exc)


def _notify_address(value: str | None) -> str | None:
    if not value:
        return None
    if value.startswith("@"):
        # Abstract namespace: the name on the wire starts with a NUL byte instead of "@".
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    # libsystemd 252 accepts only these two forms (vsock: addresses came later); anything
    # else would be sent nowhere, so say so once instead of failing on every message.
    log.warning("NOTIFY_SOCKET=%r is neither an absolute path nor @abstract: ignored", value)
    return None


def _watchdog_usec(env: Mapping[str, str]) -> int | None:
    # As sd_watchdog_enabled(3): the pings are for the process named in WATCHDOG_PID, when set
    # (a child that inherited the variables must not ping on its parent's behalf).
    pid = env.get("WATCHDOG_PID")
    if pid:
        try:
            if int(pid) != os.getpid():
                return None
        except ValueError:
            log.warning("WATCHDOG_PID=%r is not a process id: watchdog ignored", pid)
            return None
    value = env.get("WATCHDOG_USEC")
    if not value:
        return None
    try:
        usec = int(value)
    except ValueError:
        log.warning("WATCHDOG_USEC=%r is not a number: watchdog ignored", value)
        return None
    return usec if usec > 0 else None


def _status_lines(text: str | None) -> list[str]:
    if text is None:
        return []
    # STATUS= is one line: a newline would end it and start a bogus assignment.
    one_line = " ".join(text.split())[:MAX_STATUS_CHARS]
    return [f"STATUS={one_line}"]


def _printable(address: str) -> str:
    return "@" + address[1:] if address.startswith("\0") else address
