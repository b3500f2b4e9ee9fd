"""The latched safety trips on disk, so that neither a restart nor a crash clears them.

`safety.json` in the state directory holds the trips only a reset clears. It is written when
the latched set changes (rarely: a trip or a reset), atomically (temporary file, fsync, rename,
fsync of the directory), on the loop's thread: a trip must be on disk before the agent can be
killed and restarted without it. A record that exists but cannot be read counts as a latched
trip of its own: safety before comfort.
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


class TripRecord:
    def __init__(self, state_dir: Path) -> None:
        self.path = state_dir / FILE_NAME
        self.write_errors = 0
        self._saved: dict[TripKind, str] | None = None

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
        if latched:
            log.warning(
                "safety: trips latched before this start are still in force: %s",
                "; ".join(f"{kind.value}: {why}" for kind, why in latched.items()),
            )
        self._saved = dict(latched)
        return latched

    def save(self, latched: dict[TripKind, str]) -> None:
        """Write the latched trips if they changed since the last write or load."""
        if latched == self._saved:
            return
        document = {"version": FORMAT_VERSION, "latched": {k.value: v for k, v in latched.items()}}
        temporary = self.path.with_suffix(".tmp")
        try:
            with temporary.open("w", encoding="utf-8") as file:
                json.dump(document, file, indent=1, ensure_ascii=False)
                file.flush()
                os.fsync(file.fileno())
            temporary.replace(self.path)
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

    def _unreadable(self, why: str) -> dict[TripKind, str]:
        message = f"the trip record {self.path} is unreadable ({why}): reset when checked"
        log.error("safety: %s", message)
        self._saved = None  # rewrite it at the first chance
        return {TripKind.TRIP_RECORD: message[:300]}
