"""One agent per state directory: two would share the job store and the outbox."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path
from typing import TextIO


class AgentStartError(RuntimeError):
    """The agent cannot start; the message is one line for the operator."""


def ensure_writable(directory: Path) -> None:
    """Create `directory` and prove a file can be written there; AgentStartError if not."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        probe = directory / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as error:
        raise AgentStartError(f"cannot write to {directory}: {error.strerror or error}") from None


class StateDirLock:
    """An exclusive flock on `<state_dir>/agent.lock` holding the owner's pid."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file: TextIO | None = None

    def acquire(self) -> None:
        file = self.path.open("a+")
        try:
            fcntl.flock(file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            file.seek(0)
            holder = file.read().strip() or "unknown"
            file.close()
            raise AgentStartError(
                f"another agent (pid {holder}) is running with state directory {self.path.parent}"
            ) from None
        file.seek(0)
        file.truncate()
        file.write(f"{os.getpid()}\n")
        file.flush()
        self._file = file

    def release(self) -> None:
        """Closing the file releases the flock for the next agent."""
        if self._file is not None:
            self._file.close()
            self._file = None
