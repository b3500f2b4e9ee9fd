"""The operator's control channel: a Unix socket of its own for actions, apart from status.

The status socket only ever sends (nothing a client says is read); actions that change the
agent come here. One JSON request per connection, one JSON answer. The socket's mode (0660)
lets in only root and the agent's group; who asked is the peer's user from SO_PEERCRED (the
kernel's word, not the client's), and every action is recorded with it.

Requests: `{"action": "safety_reset", "reason": "...", "kinds": ["runaway", ...] | null}`.
"""

from __future__ import annotations

import json
import logging
import pwd
import socket
import socketserver
import struct
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, Literal, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from boiler_agent.runtime.status import remove_stale_socket
from boiler_agent.runtime.unix_service import UnixService

log = logging.getLogger(__name__)

DEFAULT_CONTROL_SOCKET_PATH = Path("/run/boiler-agent/control.sock")
SOCKET_MODE = 0o660  # root and the agent's group
MAX_REQUEST_BYTES = 4096
REQUEST_TIMEOUT_S = 2.0  # a client that sends nothing cannot hold the channel
ANSWER_TIMEOUT_S = 10.0  # the loop applies an action within a turn; this is its ceiling
Answer = dict[str, Any]


class ControlRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    action: Literal["safety_reset"]
    reason: str = Field(min_length=1, max_length=200, description="why, for the record")
    kinds: list[str] | None = Field(default=None, max_length=16, description="null: every trip")


class ControlUnavailableError(Exception):
    """Nothing answers on the control socket; the message says why, for the operator."""


def peer_user(connection: socket.socket) -> str:
    """The connecting process's user, as the kernel knows it (SO_PEERCRED)."""
    creds = connection.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    pid, uid, _gid = struct.unpack("3i", creds)
    try:
        name = pwd.getpwuid(uid).pw_name
    except KeyError:
        name = f"uid {uid}"
    return f"{name} (pid {pid})"


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        server = cast(_UnixServer, self.server)
        connection: socket.socket = self.request
        connection.settimeout(REQUEST_TIMEOUT_S)
        answer = server.owner.answer(_read_line(connection), peer_user(connection))
        connection.sendall(json.dumps(answer).encode() + b"\n")


class _UnixServer(socketserver.UnixStreamServer):
    request_queue_size = 4

    def __init__(self, path: Path, owner: ControlServer) -> None:
        super().__init__(str(path), _Handler, bind_and_activate=False)
        self.owner = owner

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.debug("control client dropped: %s", sys.exc_info()[1])


class ControlServer:
    """Validates each request and hands it with its user to `handler`, which answers it."""

    def __init__(self, socket_path: Path, handler: Callable[[ControlRequest, str], Answer]) -> None:
        self.socket_path = socket_path
        self._handler = handler
        self._service = UnixService(socket_path, SOCKET_MODE, "control")

    def start(self) -> None:
        remove_stale_socket(self.socket_path)
        self._service.start(_UnixServer(self.socket_path, self))

    def stop(self) -> None:
        self._service.stop()

    def answer(self, raw: bytes, user: str) -> Answer:
        """Bad input is answered with its reason, never raised into the agent."""
        try:
            request = ControlRequest.model_validate_json(raw)
        except ValidationError as error:
            first = error.errors()[0]
            where = ".".join(str(part) for part in first["loc"]) or "request"
            log.warning("control request from %s refused: %s: %s", user, where, first["msg"])
            return {"ok": False, "error": f"{where}: {first['msg']}"}
        try:
            return self._handler(request, user)
        except Exception as exc:  # an action that failed is answered, not a dead channel
            log.exception("control action %s failed", request.action)
            return {"ok": False, "error": f"{type(exc).__name__}: {exc}"}


def _read_line(connection: socket.socket) -> bytes:
    data = b""
    deadline = time.monotonic() + REQUEST_TIMEOUT_S
    while b"\n" not in data and len(data) <= MAX_REQUEST_BYTES:
        connection.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = connection.recv(MAX_REQUEST_BYTES + 1)
        except TimeoutError:
            break
        if not chunk:
            break
        data += chunk
    return data[: MAX_REQUEST_BYTES + 1].split(b"\n", 1)[0]


def send_control_request(
    socket_path: Path, request: dict[str, Any], timeout_s: float = ANSWER_TIMEOUT_S
) -> Answer:
    """Send one request to a running agent; ControlUnavailableError when nothing answers."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        try:
            sock.connect(str(socket_path))
            sock.sendall(json.dumps(request).encode() + b"\n")
            data = b""
            while not data.endswith(b"\n"):
                chunk = sock.recv(65536)
                if not chunk:
                    break
                data += chunk
        except FileNotFoundError:
            raise ControlUnavailableError(
                f"{socket_path}: no such socket (is the agent running?)"
            ) from None
        except PermissionError:
            raise ControlUnavailableError(
                f"{socket_path}: permission denied: run as root or in the agent's group"
            ) from None
        except (ConnectionRefusedError, TimeoutError, OSError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise ControlUnavailableError(f"{socket_path}: {reason}") from None
    try:
        answer = json.loads(data)
    except ValueError:
        raise ControlUnavailableError(f"{socket_path}: answered {data[:200]!r}") from None
    if not isinstance(answer, dict):
        raise ControlUnavailableError(f"{socket_path}: answered {data[:200]!r}")
    return answer
