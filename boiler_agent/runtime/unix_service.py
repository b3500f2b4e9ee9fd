"""A socketserver on a Unix socket, served on a thread of its own: the status and control sockets.

The socket gets its mode before listen(), so nobody ever connects under the umask's mode; at
stop, the file is removed only if it is still ours, not one a newer agent has bound since.
"""

from __future__ import annotations

import contextlib
import logging
import socketserver
import threading
from pathlib import Path

from boiler_agent.runtime.status_model import StatusError

log = logging.getLogger(__name__)

POLL_INTERVAL_S = 0.2


class UnixService:
    def __init__(self, path: Path, mode: int, what: str) -> None:
        self.path = path
        self.mode = mode
        self.what = what  # "status", "control": for the messages
        self._server: socketserver.UnixStreamServer | None = None
        self._thread: threading.Thread | None = None
        self._inode: int | None = None

    def start(self, server: socketserver.UnixStreamServer) -> None:
        """Bind `server` (made with bind_and_activate=False) and serve it; StatusError if not."""
        try:
            server.server_bind()
            self.path.chmod(self.mode)
            self._inode = self.path.stat().st_ino
            server.server_activate()
        except OSError as exc:
            server.server_close()
            reason = exc.strerror or str(exc)
            raise StatusError(f"cannot serve {self.what} on {self.path}: {reason}") from None
        self._server = server
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": POLL_INTERVAL_S},
            name=f"{self.what}-server",
            daemon=True,  # never holds up the agent's exit
        )
        self._thread.start()
        log.info("%s served on %s", self.what, self.path)

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if self._thread is not None:
            self._thread.join()
        with contextlib.suppress(OSError):
            if self.path.stat().st_ino == self._inode:
                self.path.unlink()
