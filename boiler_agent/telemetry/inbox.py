"""A bounded hand-over from paho's network thread to the thread that does the work.

paho callbacks must only record and return; what arrives waits here until the owner drains it.
When the owner falls behind, new messages are refused and counted rather than buffered without
bound (a flood of commands or job offers must not grow the agent's memory). The bound is in
messages and in bytes: 256 offers of 4 MiB each are few messages but a gigabyte.
"""

from __future__ import annotations

import collections
import threading

from boiler_agent.telemetry.client import MAX_PACKET_BYTES, IncomingMessage

# Two of the largest messages the client takes: a job hand-off fits while another waits.
DEFAULT_MAX_BYTES = 2 * MAX_PACKET_BYTES


def message_bytes(message: IncomingMessage) -> int:
    """What a waiting message holds in memory, near enough: its payload and its topics."""
    return (
        len(message.payload)
        + len(message.topic)
        + len(message.response_topic or "")
        + len(message.correlation or b"")
    )


class Inbox:
    def __init__(self, limit: int, max_bytes: int = DEFAULT_MAX_BYTES) -> None:
        if limit < 1:
            raise ValueError(f"limit must be >= 1, got {limit}")
        if max_bytes < 1:
            raise ValueError(f"max_bytes must be >= 1, got {max_bytes}")
        self.limit = limit
        self.max_bytes = max_bytes
        self.overflow = 0  # messages refused because the inbox was full (in count or bytes)
        self.queued_bytes = 0
        self.largest_bytes = 0  # the largest message ever queued: what the network let in
        self._items: collections.deque[IncomingMessage] = collections.deque()
        self._lock = threading.Lock()

    def put(self, message: IncomingMessage) -> None:
        """From paho's thread: keep it, or count it as overflow."""
        size = message_bytes(message)
        with self._lock:
            if len(self._items) >= self.limit or self.queued_bytes + size > self.max_bytes:
                self.overflow += 1
                return
            self._items.append(message)
            self.queued_bytes += size
            self.largest_bytes = max(self.largest_bytes, size)

    def drain(self) -> list[IncomingMessage]:
        """Everything waiting, oldest first."""
        with self._lock:
            batch = list(self._items)
            self._items.clear()
            self.queued_bytes = 0
        return batch
