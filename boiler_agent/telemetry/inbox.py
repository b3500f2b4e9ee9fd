"""A bounded hand-over from paho's network thread to the thread that does the work.

paho callbacks must only record and return; what arrives waits here until the owner drains it.
When the owner falls behind, new messages are refused and counted rather than buffered without
bound (a flood of commands or job offers must not grow the agent's memory).
"""

from __future__ import annotations

import collections
import threading

from boiler_agent.telemetry.client import IncomingMessage


class Inbox:
    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        self.limit = limit
        self.overflow = 0  # messages refused because the inbox was full
        self._items: collections.deque[IncomingMessage] = collections.deque()
        self._lock = threading.Lock()

    def put(self, message: IncomingMessage) -> None:
        """From paho's thread: keep it, or count it as overflow."""
        with self._lock:
            if len(self._items) >= self.limit:
                self.overflow += 1
                return
            self._items.append(message)

    def drain(self) -> list[IncomingMessage]:
        """Everything waiting, oldest first."""
        with self._lock:
            batch = list(self._items)
            self._items.clear()
        return batch
