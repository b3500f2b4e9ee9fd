"""Writes that fsync, done on a thread of their own so that the control loop never waits on disk.

Each write has a key; a newer write of the same key replaces one not done yet (the status file
and the energy counters only ever need their latest value). A failing write is the writer's
own business (the functions log their errors): the thread carries on.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class BackgroundWriter:
    def __init__(self) -> None:
        self._pending: dict[str, Callable[[], None]] = {}
        self._wake = threading.Condition()
        self._closing = False
        self._busy = False
        self._thread = threading.Thread(target=self._run, name="state-writer", daemon=True)
        self._thread.start()

    def submit(self, key: str, write: Callable[[], None]) -> None:
        with self._wake:
            if self._closing:
                return
            self._pending[key] = write
            self._wake.notify()

    def flush(self, timeout_s: float) -> bool:
        """Wait until every submitted write is done; False when time ran out first."""
        with self._wake:
            return self._wake.wait_for(lambda: not self._pending and not self._busy, timeout_s)

    def close(self, timeout_s: float) -> bool:
        done = self.flush(timeout_s)
        with self._wake:
            self._closing = True
            self._wake.notify_all()
        return done

    def abandon(self) -> None:
        """Drop what is pending, as a killed process would; the thread ends."""
        with self._wake:
            self._pending.clear()
            self._closing = True
            self._wake.notify_all()

    def _run(self) -> None:
        while True:
            with self._wake:
                self._wake.wait_for(lambda: bool(self._pending) or self._closing)
                if not self._pending:
                    return  # closing, nothing left
                key, write = next(iter(self._pending.items()))
                del self._pending[key]
                self._busy = True
            try:
                write()
            except Exception:  # a write's failure must not end the thread that does the rest
                log.exception("background write %r failed", key)
            finally:
                with self._wake:
                    self._busy = False
                    self._wake.notify_all()
