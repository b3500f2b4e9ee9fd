"""Energy counters that survive restarts: all the heat made, and the share that was wanted.

Kept in a small JSON file, written atomically (temporary file, fsync, rename) at most once a
minute and at stop: a crash loses at most a minute of counting, never the file. The periodic
writes go to a background writer when one is given (`submit`), so the fsync never holds up the
control loop.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

SAVE_EVERY_S = 60.0


Submit = Callable[[str, Callable[[], None]], None]  # BackgroundWriter.submit


class EnergyCounter:
    def __init__(self, path: Path, submit: Submit | None = None) -> None:
        self.path = path
        self._submit = submit
        self.total_kwh = 0.0
        self.wanted_kwh = 0.0
        self._saved_at: float | None = None
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            self.total_kwh = max(0.0, float(document["total_kwh"]))
            self.wanted_kwh = min(self.total_kwh, max(0.0, float(document["wanted_kwh"])))
        except FileNotFoundError:
            pass
        except (OSError, ValueError, KeyError, TypeError) as error:
            log.warning("energy counters in %s unreadable (%s); counting from zero", path, error)

    def add(self, watts: float, seconds: float, wanted: bool, now_s: float) -> None:
        """`watts` for `seconds`; `wanted` when heat was asked for at the time."""
        if watts <= 0 or seconds <= 0:
            return
        kwh = watts * seconds / 3.6e6
        self.total_kwh += kwh
        if wanted:
            self.wanted_kwh += kwh
        if self._saved_at is None or now_s - self._saved_at >= SAVE_EVERY_S:
            self._saved_at = now_s
            if self._submit is None:
                self.save(now_s)
            else:
                values = {"total_kwh": self.total_kwh, "wanted_kwh": self.wanted_kwh}
                self._submit("energy", lambda: self._write(values))

    def save(self, now_s: float | None = None) -> None:
        """Write the counters now, on the caller's thread (at stop)."""
        self._write({"total_kwh": self.total_kwh, "wanted_kwh": self.wanted_kwh})
        self._saved_at = now_s

    def _write(self, values: dict[str, float]) -> None:
        temporary = self.path.with_suffix(".tmp")
        try:
            with temporary.open("w", encoding="utf-8") as file:
                json.dump(values, file)
                file.flush()
                os.fsync(file.fileno())
            temporary.replace(self.path)
        except OSError as error:
            log.warning("could not save the energy counters to %s: %s", self.path, error)
