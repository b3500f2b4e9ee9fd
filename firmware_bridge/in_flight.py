"""Reliable commands in flight, with the futures their callers hold.

`ReliableSender` (pure, in `reliable.py`) decides what to retransmit and when; this adds the
caller's side: a future per command, settled with a `CommandResult`. Results are collected
while the link's lock is held and set afterwards (`resolve()`), because a future's
done-callbacks run in the thread that sets it and may call back into the link.
"""

from __future__ import annotations

import logging
import threading
from concurrent.futures import Future
from dataclasses import dataclass

from firmware_bridge.protocol import Message, NakReason
from firmware_bridge.reliable import Outcome, Pending, ReliableSender

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class CommandResult:
    outcome: Outcome
    round_trip_s: float | None
    nak_reason: NakReason | None = None

    @property
    def ok(self) -> bool:
        return self.outcome is Outcome.ACKED


class CommandTracker:
    def __init__(self, version: int) -> None:
        self.sender = ReliableSender(version=version)
        self.failed = 0
        self._futures: dict[int, Future[CommandResult]] = {}  # id(Pending) -> future
        self._resolved: list[tuple[Future[CommandResult], CommandResult]] = []
        self._resolved_lock = threading.Lock()

    def submit(self, message: Message, now_s: float) -> tuple[bytes, Future[CommandResult]]:
        """Start a command (`message` carries its seq); returns the frame to send and the future."""
        future = self._new_future()
        entry, replaced = self.sender.submit(message, now_s)
        if replaced is not None:
            self._settle(replaced)
        self._futures[id(entry)] = future
        return entry.frame, future

    def refuse(self) -> Future[CommandResult]:
        """A command that cannot be sent (the link is not up)."""
        future = self._new_future()
        self._finish(future, CommandResult(Outcome.GAVE_UP, None))
        return future

    def answered(self, msg_type: int, seq: int, now_s: float, nak: NakReason | None) -> None:
        entry = self.sender.settle(msg_type, seq, now_s, nak)
        if entry is not None:
            self._settle(entry)

    def done_without_answer(self, msg_type: int, now_s: float) -> None:
        """The effect was seen though the ACK was not (a RESET, then a new boot_id)."""
        for entry in self.sender.settle_all_of_type(msg_type, now_s):
            self._settle(entry)

    def due(self, now_s: float) -> list[bytes]:
        """Frames to retransmit now; commands out of tries are settled as given up."""
        resend, gave_up = self.sender.due(now_s)
        for entry in gave_up:
            self._settle(entry)
        return resend

    def abandon_all(self, now_s: float) -> None:
        for entry in self.sender.clear(now_s):
            self._settle(entry)

    def resolve(self) -> None:
        """Set the results collected so far. Call it without holding the link's lock."""
        with self._resolved_lock:
            resolved, self._resolved = self._resolved, []
        for future, result in resolved:
            future.set_result(result)

    @property
    def in_flight(self) -> bool:
        """Commands sent and not yet settled: their retries are due."""
        return len(self.sender) > 0

    @property
    def retransmissions(self) -> int:
        return self.sender.retransmissions

    def _new_future(self) -> Future[CommandResult]:
        future: Future[CommandResult] = Future()
        future.set_running_or_notify_cancel()  # not cancellable: the frame is on its way
        return future

    def _settle(self, entry: Pending) -> None:
        future = self._futures.pop(id(entry), None)
        if entry.outcome is Outcome.GAVE_UP:
            self.failed += 1
            log.warning("%s not acknowledged after %d tries", entry.message.TYPE.name, entry.tries)
        if future is not None:
            assert entry.outcome is not None
            reason = NakReason(entry.nak_reason) if entry.nak_reason is not None else None
            self._finish(future, CommandResult(entry.outcome, entry.round_trip_s, reason))

    def _finish(self, future: Future[CommandResult], result: CommandResult) -> None:
        with self._resolved_lock:
            self._resolved.append((future, result))
