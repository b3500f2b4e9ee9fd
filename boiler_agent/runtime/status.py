"""The running agent's status for operators: served on a Unix socket and kept in a state file.

The agent serves its status on a Unix stream socket (one JSON document per connection, then
close) and also writes it to a state file, which `boiler-agent status` reads when the socket
does not answer, e.g. after the agent died. The model and the views live beside this module and
are re-exported here, so callers import everything status-related from one place.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import socketserver
import stat
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import Any, cast

from boiler_agent.runtime.status_model import (
    AgentAlreadyRunningError,
    AgentStatus,
    HeaterInfo,
    StatusError,
    StatusUnavailableError,
    age_s,
    parse_status,
)
from boiler_agent.runtime.status_view import format_age, render_status, status_line
from boiler_agent.runtime.unix_service import UnixService

__all__ = [
    "DEFAULT_SOCKET_PATH",
    "STATUS_FILE_NAME",
    "AgentAlreadyRunningError",
    "AgentStatus",
    "HeaterInfo",
    "StatusError",
    "StatusFile",
    "StatusServer",
    "StatusUnavailableError",
    "age_s",
    "fetch_status",
    "format_age",
    "parse_status",
    "render_status",
    "status_line",
]

log = logging.getLogger(__name__)

DEFAULT_SOCKET_PATH = Path("/run/boiler-agent/status.sock")
STATUS_FILE_NAME = "status.json"
# Readable by the agent's group (operators added to it), never by everyone: the status names
# the broker and the heater. The unit's UMask=0027 would give a socket 0750, which the group
# cannot connect to (connect needs write permission), hence the explicit chmod.
SOCKET_MODE = 0o660
FILE_MODE = 0o640
# A client gets the document or nothing within this; the status is a few kB, which fits the
# socket's send buffer, so only a client that never reads a huge document ever hits it.
SEND_TIMEOUT_S = 1.0
# Connecting to an old socket file to see whether another agent still listens on it.
PROBE_TIMEOUT_S = 1.0
# Connections waiting while the server answers one; a client beyond it waits its turn (below).
BACKLOG = 16
# A Unix socket whose backlog is full refuses a connect with EAGAIN at once (a socket with a
# timeout is non-blocking underneath): the client tries again this often until its timeout.
BUSY_RETRY_S = 0.02
# Larger than any real status; a peer sending more is not an agent.
MAX_STATUS_BYTES = 1 << 20


class StatusFile:
    """The status on disk, replaced atomically so a reader never sees half of it."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def write(self, status: AgentStatus) -> None:
        data = status.model_dump_json(indent=2).encode() + b"\n"
        # Same directory, so the replace is a rename within one file system: atomic.
        fd, tmp = tempfile.mkstemp(
            dir=self.path.parent, prefix=f".{self.path.name}.", suffix=".tmp"
        )
        try:
            with os.fdopen(fd, "wb") as out:
                os.fchmod(out.fileno(), FILE_MODE)  # mkstemp makes 0600; the group reads it
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            Path(tmp).replace(self.path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        # No fsync of the directory: after a power cut either the old or the new status is
        # there, and either is a fine answer to "what was the agent doing".

    def read(self) -> AgentStatus:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            raise StatusError(f"{self.path} does not exist") from None
        except OSError as exc:
            raise StatusError(f"cannot read {self.path}: {exc.strerror or exc}") from None
        return parse_status(data, str(self.path))


class _Handler(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        server = cast(_UnixServer, self.server)
        self.request.settimeout(SEND_TIMEOUT_S)
        # Nothing is read from the client: one that sends nothing cannot make us wait.
        self.request.sendall(server.owner.render())


class _UnixServer(socketserver.UnixStreamServer):
    # One connection at a time on one thread: the work per connection is one provider call
    # and one small write bounded by SEND_TIMEOUT_S, so a flood of clients costs a queue, not
    # threads, and can never reach the control loop.
    request_queue_size = BACKLOG

    def __init__(self, path: Path, owner: StatusServer) -> None:
        super().__init__(str(path), _Handler, bind_and_activate=False)
        self.owner = owner

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that went away or never read is its own problem: no traceback on stderr.
        self.owner.clients_dropped += 1
        log.debug("status client dropped: %s", sys.exc_info()[1])


class StatusServer:
    """Serves `provider()` as one JSON document to each connection on a Unix socket."""

    def __init__(self, socket_path: Path, provider: Callable[[], AgentStatus]) -> None:
        self.socket_path = socket_path
        self._provider = provider
        self._service = UnixService(socket_path, SOCKET_MODE, "status")
        self._last_failure = ""
        self.clients_dropped = 0  # clients that went away or never read their status

    def start(self) -> None:
        """Bind and serve on a daemon thread; AgentAlreadyRunningError if another agent answers."""
        remove_stale_socket(self.socket_path)
        self._service.start(_UnixServer(self.socket_path, self))

    def stop(self) -> None:
        self._service.stop()

    def render(self) -> bytes:
        """The bytes one client gets: the status, or an error object if there is none."""
        try:
            return self._provider().model_dump_json().encode() + b"\n"
        except Exception as exc:
            # A broken snapshot must not kill the server thread; the client hears why. Warn once
            # per distinct failure: every client of a broken provider would repeat it.
            failure = f"status snapshot failed: {exc}"
            if failure != self._last_failure:
                log.warning("%s", failure)
                self._last_failure = failure
            return json.dumps({"error": failure}).encode() + b"\n"

    def __enter__(self) -> StatusServer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def remove_stale_socket(path: Path) -> None:
    """Remove a socket file nobody listens on; StatusError if it is not ours to remove."""
    try:
        mode = path.lstat().st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise StatusError(f"{path} exists and is not a socket: not touching it")
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    probe.settimeout(PROBE_TIMEOUT_S)
    try:
        probe.connect(str(path))
    except (ConnectionRefusedError, FileNotFoundError):
        # Left by an agent that died without stop(): nobody listens, so it is ours to replace.
        path.unlink(missing_ok=True)
        log.info("removed stale status socket %s", path)
        return
    except (TimeoutError, BlockingIOError):
        # A listener whose backlog is full is still a listener (EAGAIN on a Unix socket).
        pass
    except OSError as exc:
        raise StatusError(f"cannot check status socket {path}: {exc.strerror or exc}") from None
    finally:
        probe.close()
    raise AgentAlreadyRunningError(f"another agent is running (socket {path} answers)")


def fetch_status(socket_path: Path, timeout_s: float = 2.0) -> AgentStatus:
    """The status from a running agent's socket; StatusUnavailableError when nothing answers."""
    deadline = time.monotonic() + timeout_s
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout_s)
        try:
            _connect_when_not_busy(sock, socket_path, deadline)
            data = _read_all(sock, deadline)
        except FileNotFoundError:
            raise StatusUnavailableError(socket_path, "no such socket") from None
        except ConnectionRefusedError:
            raise StatusUnavailableError(socket_path, "connection refused: stale socket") from None
        except PermissionError:
            raise StatusUnavailableError(
                socket_path, "permission denied: run as root or in the agent's group"
            ) from None
        except TimeoutError:
            raise StatusUnavailableError(socket_path, f"no answer within {timeout_s:g} s") from None
        except OSError as exc:
            raise StatusUnavailableError(socket_path, exc.strerror or str(exc)) from None
    if not data:
        raise StatusUnavailableError(socket_path, "closed without a status")
    if data.startswith(b'{"error"'):
        raise StatusError(f"the agent on {socket_path} answered: {_error_text(data)}")
    return parse_status(data, f"the answer on {socket_path}")


def _connect_when_not_busy(sock: socket.socket, path: Path, deadline: float) -> None:
    """Connect, waiting while the agent's backlog is full (many clients at once): a busy
    agent is still there, and its answer comes within the client's timeout."""
    while True:
        try:
            sock.connect(str(path))
            return
        except BlockingIOError:
            if time.monotonic() + BUSY_RETRY_S >= deadline:
                raise TimeoutError from None
            time.sleep(BUSY_RETRY_S)


def _read_all(sock: socket.socket, deadline: float) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise TimeoutError
        sock.settimeout(remaining)  # the whole read is bounded, not each recv
        chunk = sock.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        size += len(chunk)
        if size > MAX_STATUS_BYTES:
            raise OSError(f"answer larger than {MAX_STATUS_BYTES} bytes")


def _error_text(data: bytes) -> str:
    try:
        return str(json.loads(data)["error"])
    except (ValueError, KeyError, TypeError):
        return data[:200].decode(errors="replace")
