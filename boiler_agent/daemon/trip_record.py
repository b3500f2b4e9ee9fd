"""The latched safety trips on disk, so that neither a restart nor a crash clears them.

`safety.json` in the state directory holds the trips only a reset clears. It is written when
the latched set changes (rarely: a trip or a reset), atomically (temporary file, fsync, rename,
fsync of the directory), on the loop's thread: a trip must be on disk before the agent can be
killed and restarted without it. A record that exists but cannot be read counts as a latched
trip of its own: safety before comfort.

It also carries the frozen-sensor count (a reading unchanged through so many seconds of
heating), in steps of `FROZEN_STEP_S`: a crash loop faster than the frozen check's 300 s would
otherwise restart the count at every start and never find a stuck sensor (systemd's default
start limit, 5 starts in 10 s, never stops a loop that waits RestartSec=5 between them). A run
that heats less than a step before it dies adds nothing, so the step is short; a write of the
count alone is not synced (what it guards against is a process dying, which loses nothing the
kernel holds, not a power cut), so the page cache takes the writes and the flash sees few.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from boiler_agent.control.safety import LATCHED, TripKind

log = logging.getLogger(__name__)

FILE_NAME = "safety.json"
FORMAT_VERSION = 1
FROZEN_STEP_S = 5.0  # the frozen count is written each time it passes a multiple of this


class TripRecord:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / FILE_NAME
        self.write_errors = 0
        self._saved: dict[TripKind, str] | None = None
        self._saved_frozen: tuple[float, float] | None = None
        self.frozen: tuple[float, float] | None = None  # (value, heating seconds) as loaded

    def load(self) -> dict[TripKind, str]:
        """The trips latched when the agent last ran; an unreadable record is itself a trip."""
        try:
            document = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            self._saved = {}
            return {}
        except (OSError, ValueError) as error:
            return self._unreadable(f"cannot read it: {error}")
        try:
            if document.get("version") != FORMAT_VERSION:
                return self._unreadable(f"unknown format version {document.get('version')!r}")
            latched = {TripKind(kind): str(why) for kind, why in document["latched"].items()}
        except (AttributeError, KeyError, TypeError, ValueError) as error:
            return self._unreadable(f"unexpected content: {error!r}")
        unknown = set(latched) - LATCHED
        if unknown:
            return self._unreadable(f"not latching kinds {sorted(unknown)}")
        frozen = document.get("frozen")
        if frozen is not None:
            try:
                self.frozen = (float(frozen["value"]), float(frozen["heated_s"]))
            except (KeyError, TypeError, ValueError) as error:
                return self._unreadable(f"unexpected frozen count: {error!r}")
            self._saved_frozen = self.frozen
        if latched:
            log.warning(
                "safety: trips latched before this start are still in force: %s",
                "; ".join(f"{kind.value}: {why}" for kind, why in latched.items()),
            )
        self._saved = dict(latched)
        return latched

    def save(self, latched: dict[TripKind, str], frozen: tuple[float, float] | None = None) -> None:
        """Write the latched trips and the frozen count (in steps) if either changed since the
        last write or load."""
        stepped = _stepped(frozen)
        durable = latched != self._saved  # a trip or a reset: synced before anything else
        if not durable and stepped == self._saved_frozen:
            return
        document: dict[str, object] = {
            "version": FORMAT_VERSION,
            "latched": {k.value: v for k, v in latched.items()},
        }
        if stepped is not None:
            document["frozen"] = {"value": stepped[0], "heated_s": stepped[1]}
        temporary = self.path.with_suffix(".tmp")
        try:
            with temporary.open("w", encoding="utf-8") as file:
                json.dump(document, file, indent=1, ensure_ascii=False)
                file.flush()
                if durable:
                    os.fsync(file.fileno())
            temporary.replace(self.path)
            if durable:
                directory = os.open(self.path.parent, os.O_RDONLY)
                try:
                    os.fsync(directory)
                finally:
                    os.close(directory)
        except OSError as error:
            # The trip holds in memory; it is the next restart that would not know of it.
            self.write_errors += 1
            log.error("safety: cannot record the latched trips in %s: %s", self.path, error)
            return
        self._saved = dict(latched)
        self._saved_frozen = stepped

    def _unreadable(self, why: str) -> dict[TripKind, str]:
        message = f"the trip record {self.path} is unreadable ({why}): reset when checked"
        log.error("safety: %s", message)
        self._saved = None  # rewrite it at the first chance
        return {TripKind.TRIP_RECORD: message[:300]}


def _stepped(frozen: tuple[float, float] | None) -> tuple[float, float] | None:
    """The count rounded down to its last whole step; under one step it is not worth a write."""
    if frozen is None or frozen[1] < FROZEN_STEP_S:
        return None
    return frozen[0], FROZEN_STEP_S * (frozen[1] // FROZEN_STEP_S)
