"""Job-store failures (disk full, I/O error) counted and logged once per outage, never raised."""

from __future__ import annotations

import logging
import sqlite3
import time
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, TypeVar

from boiler_agent.runtime.sqlite_open import storage_failure

log = logging.getLogger("boiler_agent.compute.scheduler")

STORE_OUTAGE_QUIET_S = 60.0  # an outage ends after this long without a failed store write

P = ParamSpec("P")
T = TypeVar("T")


class StoreGuard:
    """Runs the steps that write the store; a storage failure becomes a count and, once per
    outage, a log line. An outage ends after `STORE_OUTAGE_QUIET_S` without a failure (a full
    disk lets some writes through, so one success proves nothing)."""

    def __init__(self, path: Path, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.path = path
        self.errors = 0  # failed store steps, ever
        self.outage_started: float | None = None
        self._clock = clock
        self._last_error = 0.0

    @property
    def in_outage(self) -> bool:
        return self.outage_started is not None

    def run(self, call: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T | None:
        try:
            return call(*args, **kwargs)
        except sqlite3.Error as exc:
            if not storage_failure(exc):
                raise
            self._failed(exc)
            return None

    def outage_over(self) -> bool:
        """True once, when an outage has been quiet long enough (then put the books right)."""
        if self.outage_started is None or self._clock() - self._last_error < STORE_OUTAGE_QUIET_S:
            return False
        log.warning(
            "job store %s works again after %.0f s of failures (%d failed writes so far)",
            self.path,
            self._last_error - self.outage_started,
            self.errors,
        )
        self.outage_started = None
        return True

    def _failed(self, exc: sqlite3.Error) -> None:
        self.errors += 1
        self._last_error = self._clock()
        if self.outage_started is None:
            self.outage_started = self._last_error
            log.error(
                "job store %s: a write failed (%s); the workers keep heating, the store "
                "catches up when it works again",
                self.path,
                exc,
            )
