"""A pseudo-terminal that stands where the heater's serial port would, with a stable path.

The host opens the pty's slave side like `/dev/ttyUSB0`; the simulator reads and writes the
master side. A pty gets a new `/dev/pts/N` each time it is created, so an optional symlink
gives the port a fixed name (as Klipper's host MCU does), which lets a test unplug the port
and plug it back in under the same name.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import select
import tty
from pathlib import Path

READ_CHUNK = 4096


class PtyPort:
    def __init__(self, link_path: Path | None = None) -> None:
        self.link_path = link_path
        self._master: int | None = None
        self._slave: int | None = None
        self.slave_name = ""

    @property
    def is_open(self) -> bool:
        return self._master is not None

    @property
    def path(self) -> str:
        """What the host should open."""
        return str(self.link_path) if self.link_path else self.slave_name

    def open(self) -> str:
        if self._master is not None:
            raise RuntimeError(f"pty {self.slave_name} is already open")
        master, slave = os.openpty()
        try:
            return self._set_up(master, slave)
        except BaseException:
            os.close(master)
            os.close(slave)
            raise

    def _set_up(self, master: int, slave: int) -> str:
        # Raw mode before anyone opens it: an echoing line discipline would bounce the MCU's
        # own frames back into it. Keeping the slave open ourselves also spares the master
        # the EIO it gets while no host has the port open.
        tty.setraw(slave)
        flags = fcntl.fcntl(master, fcntl.F_GETFL)
        fcntl.fcntl(master, fcntl.F_SETFL, flags | os.O_NONBLOCK)
        self._master, self._slave = master, slave
        self.slave_name = os.ttyname(slave)
        if self.link_path is not None:
            tmp = self.link_path.with_name(self.link_path.name + ".new")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(self.slave_name)
            tmp.replace(self.link_path)  # atomic: the name never points nowhere
        return self.path

    def close(self) -> None:
        """Unplug: the host's reads fail, and the symlink disappears."""
        if self.link_path is not None:
            with contextlib.suppress(FileNotFoundError):
                self.link_path.unlink()
        for fd in (self._master, self._slave):
            if fd is not None:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self._master = self._slave = None

    def read(self, timeout_s: float) -> bytes:
        if self._master is None:
            return b""
        ready, _, _ = select.select([self._master], [], [], timeout_s)
        if not ready:
            return b""
        try:
            return os.read(self._master, READ_CHUNK)
        except BlockingIOError:
            return b""
        except OSError as exc:
            if exc.errno == errno.EIO:
                return b""
            raise

    def write(self, data: bytes) -> int:
        """Write what fits; bytes nobody reads are lost, as on a UART with nothing attached."""
        if self._master is None or not data:
            return 0
        try:
            return os.write(self._master, data)
        except (BlockingIOError, OSError):
            return 0
