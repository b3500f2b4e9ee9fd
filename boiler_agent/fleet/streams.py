"""Sequenced streams as a Sparkplug host application keeps them: duplicates out, gaps found.

Telemetry and events each carry a `seq` (persisted by the heater, so it continues across
restarts), a `boot_id` and a unique `msg_id`. Brokers redeliver (QoS 1) and outboxes replay, so
a consumer de-duplicates by `msg_id`, then tracks the seqs of each (heater, stream, boot): a seq
skipped is a gap; if it arrives later it was late (an outbox replay after an outage, marked
`historical`), if it never does it was lost, unless the heater reported it dropped
(`outbox_dropped` events say how many).
"""

from __future__ import annotations

import collections
from dataclasses import dataclass, field
from typing import Literal

REMEMBERED_IDS = 200_000  # msg_ids kept for de-duplication: days of a large fleet
MAX_MISSING = 10_000  # seqs remembered as missing per stream; beyond, counted only

Verdict = Literal["new", "duplicate", "late"]


@dataclass
class StreamStats:
    first_seq: int
    last_seq: int
    received: int = 0
    late: int = 0
    historical: int = 0
    missing: set[int] = field(default_factory=set)
    missing_overflow: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "received": self.received,
            "late": self.late,
            "historical": self.historical,
            "missing": len(self.missing) + self.missing_overflow,
        }


StreamKey = tuple[str, str, str]  # (heater, stream, boot_id)


class StreamTracker:
    def __init__(self, remembered_ids: int = REMEMBERED_IDS) -> None:
        self.streams: dict[StreamKey, StreamStats] = {}
        self.duplicates = 0
        self._seen: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._remembered = remembered_ids

    def observe(
        self, heater: str, stream: str, boot_id: str, seq: int, *, msg_id: str, historical: bool
    ) -> Verdict:
        """File one message; "duplicate" ones are to be ignored by the caller."""
        if msg_id in self._seen:
            self.duplicates += 1
            return "duplicate"
        self._seen[msg_id] = None
        if len(self._seen) > self._remembered:
            self._seen.popitem(last=False)
        key = (heater, stream, boot_id)
        stats = self.streams.get(key)
        verdict: Verdict = "new"
        if stats is None:
            stats = self.streams[key] = StreamStats(seq, seq)
        elif seq > stats.last_seq:
            skipped = range(stats.last_seq + 1, seq)
            room = MAX_MISSING - len(stats.missing)
            stats.missing.update(skipped[: max(0, room)])
            stats.missing_overflow += max(0, len(skipped) - max(0, room))
            stats.last_seq = seq
        elif seq in stats.missing:
            stats.missing.discard(seq)
            stats.late += 1
            verdict = "late"
        elif seq < stats.first_seq:  # older than the first we saw: a replay from before
            stats.first_seq = seq
            stats.late += 1
            verdict = "late"
        else:
            # The same seq under another msg_id: the heater numbered two messages alike.
            self.duplicates += 1
            return "duplicate"
        stats.received += 1
        if historical:
            stats.historical += 1
        return verdict

    def missing(self) -> int:
        return sum(len(s.missing) + s.missing_overflow for s in self.streams.values())

    def late(self) -> int:
        return sum(s.late for s in self.streams.values())

    def by_heater(self, heater: str) -> dict[str, int]:
        """Totals over every stream and boot of one heater."""
        mine = [s for (h, _, _), s in self.streams.items() if h == heater]
        return {
            "received": sum(s.received for s in mine),
            "missing": sum(len(s.missing) + s.missing_overflow for s in mine),
            "late": sum(s.late for s in mine),
            "historical": sum(s.historical for s in mine),
            "boots": len({boot for (h, _, boot) in self.streams if h == heater}),
        }
