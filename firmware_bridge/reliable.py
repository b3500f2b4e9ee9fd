"""Acknowledged delivery as pure state machines: retries, duplicates, sequence numbers.

Both ends of the link use these (the host's `link.py` and the simulated MCU), so they follow
PROTOCOL.md sections 4 and 5 the same way. No I/O and no clock reads: time is passed in.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass, field

from firmware_bridge.protocol import Message, encode

INITIAL_TIMEOUT_S = 0.025
MAX_TIMEOUT_S = 5.0
MAX_TRIES = 10
# Longer than a sender's whole retry span (25 ms doubling to 5 s, 10 tries: about 16.4 s).
DUPLICATE_WINDOW_S = 20.0


class Outcome(enum.Enum):
    ACKED = "acked"
    NACKED = "nacked"
    GAVE_UP = "gave_up"
    REPLACED = "replaced"  # a newer message of the same type superseded it


@dataclass
class Pending:
    """One reliable message on its way: the frame, its tries and, once settled, its outcome."""

    message: Message
    frame: bytes
    first_sent_s: float
    next_try_s: float
    timeout_s: float
    tries: int = 1
    outcome: Outcome | None = None
    settled_s: float | None = None
    nak_reason: int | None = None

    @property
    def round_trip_s(self) -> float | None:
        if self.settled_s is None:
            return None
        return self.settled_s - self.first_sent_s


class SeqCounter:
    """The sender's 8-bit frame counter (PROTOCOL.md section 2).

    Without a start it begins at a random value, so a restarted sender does not repeat the
    seqs of its previous life that a receiver may still remember.
    """

    def __init__(self, start: int | None = None) -> None:
        self._next = (random.randrange(0x100) if start is None else start) & 0xFF

    def take(self) -> int:
        value = self._next
        self._next = (value + 1) & 0xFF
        return value


@dataclass
class ReliableSender:
    """Retransmits reliable messages until answered, with timeouts doubling from 25 ms to 5 s."""

    version: int
    initial_timeout_s: float = INITIAL_TIMEOUT_S
    max_timeout_s: float = MAX_TIMEOUT_S
    max_tries: int = MAX_TRIES
    retransmissions: int = 0
    _pending: dict[tuple[int, int], Pending] = field(default_factory=dict)  # (type, seq)

    def submit(self, message: Message, now_s: float) -> tuple[Pending, Pending | None]:
        """Start sending; returns the new entry and the older one it superseded, if any.

        State messages (SET, THERMOSTAT) supersede an unanswered one of their type: only the
        latest state matters. Events (FAULT, RESET) each go through on their own.
        """
        frame = encode(message, version=self.version)
        entry = Pending(
            message=message,
            frame=frame,
            first_sent_s=now_s,
            next_try_s=now_s + self.initial_timeout_s,
            timeout_s=self.initial_timeout_s,
        )
        replaced = None
        if message.SUPERSEDES:
            for key in [key for key in self._pending if key[0] == message.TYPE]:
                replaced = self._pending.pop(key)
                replaced.outcome, replaced.settled_s = Outcome.REPLACED, now_s
        self._pending[(message.TYPE, message.seq)] = entry
        return entry, replaced

    def settle(
        self, msg_type: int, seq: int, now_s: float, nak_reason: int | None = None
    ) -> Pending | None:
        """An ACK (nak_reason None) or NAK arrived; returns the entry it settles, if any."""
        # None: a late answer to a retransmission already settled, or a stray.
        entry = self._pending.pop((msg_type, seq), None)
        if entry is None:
            return None
        entry.outcome = Outcome.ACKED if nak_reason is None else Outcome.NACKED
        entry.nak_reason = nak_reason
        entry.settled_s = now_s
        return entry

    def settle_all_of_type(self, msg_type: int, now_s: float) -> list[Pending]:
        """Settle every pending message of a type as acknowledged, when the effect is seen
        without its ACK (a RESET whose ACK was lost, then a new boot_id)."""
        keys = [key for key in self._pending if key[0] == msg_type]
        return [entry for key in keys if (entry := self.settle(*key, now_s)) is not None]

    def due(self, now_s: float) -> tuple[list[bytes], list[Pending]]:
        """Frames to retransmit now, and entries that ran out of tries."""
        resend: list[bytes] = []
        gave_up: list[Pending] = []
        for key, entry in list(self._pending.items()):
            if now_s < entry.next_try_s:
                continue
            if entry.tries >= self.max_tries:
                del self._pending[key]
                entry.outcome, entry.settled_s = Outcome.GAVE_UP, now_s
                gave_up.append(entry)
                continue
            entry.tries += 1
            entry.timeout_s = min(entry.timeout_s * 2, self.max_timeout_s)
            entry.next_try_s = now_s + entry.timeout_s
            self.retransmissions += 1
            resend.append(entry.frame)
        return resend, gave_up

    def clear(self, now_s: float) -> list[Pending]:
        """Abandon everything (the link went down): returns the entries given up."""
        dropped = list(self._pending.values())
        for entry in dropped:
            entry.outcome, entry.settled_s = Outcome.GAVE_UP, now_s
        self._pending.clear()
        return dropped

    def next_deadline(self) -> float | None:
        return min((entry.next_try_s for entry in self._pending.values()), default=None)

    def __len__(self) -> int:
        return len(self._pending)


@dataclass
class DuplicateFilter:
    """Recognises retransmissions: a reliable message whose (type, seq) was applied lately.

    "Lately" is the retry span (PROTOCOL.md section 4): a sender stops retrying after about
    16 s, so an older (type, seq) is a new message whose seq merely came round again.
    """

    window_s: float = DUPLICATE_WINDOW_S
    _seen: dict[tuple[int, int], float] = field(default_factory=dict)  # (type, seq) -> when

    def is_new(self, message: Message, now_s: float) -> bool:
        for key in [key for key, at in self._seen.items() if now_s - at > self.window_s]:
            del self._seen[key]
        key = (message.TYPE, message.seq)
        if key in self._seen:
            return False
        self._seen[key] = now_s
        return True

    def clear(self) -> None:
        self._seen.clear()
