"""An outage of something the agent writes to (a full disk, a failing database): said once, counted.

A full disk fails every write until someone makes room, so a log line per failed write would
bury everything else; one line when it starts (with the real error) and one when it ends is
what an operator needs, with the count of what was lost in between.
"""

from __future__ import annotations

import logging


class Outage:
    """Failures of one resource: `failed()` per failure, `recovered()` after a success."""

    def __init__(self, what: str, log: logging.Logger) -> None:
        self.what = what  # e.g. "outbox /var/lib/boiler-agent/outbox.sqlite"
        self.log = log
        self.failures = 0  # in the current outage
        self.total = 0  # over this run
        self.last_error: str | None = None

    @property
    def ongoing(self) -> bool:
        return self.failures > 0

    def failed(self, error: BaseException, consequence: str) -> None:
        """One failure; the first of an outage is logged with the error, the rest only counted."""
        self.failures += 1
        self.total += 1
        text = f"{type(error).__name__}: {error}"
        if self.failures == 1 or text != self.last_error:
            # A new outage, or a different error within one (a full disk turning into I/O errors).
            self.log.error("%s: %s; %s until it works again", self.what, text, consequence)
        self.last_error = text

    def recovered(self) -> int:
        """A success: ends the outage (said once); returns how many failures it had."""
        failures = self.failures
        if failures:
            self.log.info("%s works again after %d failures", self.what, failures)
        self.failures = 0
        self.last_error = None
        return failures
