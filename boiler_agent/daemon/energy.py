"""Energy counters that survive restarts: all the heat made, and the share that was wanted.

Kept in a small JSON file, written atomically (temporary file, fsync, rename) every
SAVE_EVERY_S of the plant's clock and at stop: a crash loses at most that much counting, never
the file. The periodic writes go to a background writer when one is given (`submit`), so the
fsync never holds up the control loop.

What is published (telemetry, status, Home Assistant's `total_increasing` meters) is the last
value on disk (`durable()`), never the live count: a counter read back after a kill -9 or a
power cut is then never below one already published, so the published series never goes down.
It lags the live count by at most one save.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from pathlib import Path

log = logging.getLogger(__name__)

SAVE_EVERY_S = 30.0  # of the clock given to add(): the plant's


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
        # (total, wanted) as last written to disk: one tuple, replaced whole by the writer.
        self._durable = (self.total_kwh, self.wanted_kwh)

    def durable(self) -> tuple[float, float]:
        """(total, wanted) kWh as on disk: the values to publish."""
        return self._durable

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
            self._durable = (values["total_kwh"], values["wanted_kwh"])
        except OSError as error:
            log.warning("could not save the energy counters to %s: %s", self.path, error)
