"""Operators' and the fleet's resets of latched trips, handed from their threads to the loop."""

from __future__ import annotations

import queue
from concurrent.futures import Future
from dataclasses import dataclass

from boiler_agent.control.safety import TripKind
from boiler_agent.daemon.regulation import Regulation
from boiler_agent.daemon.uplink import Uplink


@dataclass(frozen=True)
class ResetRequest:
    kinds: set[TripKind] | None  # None: every latched trip
    by: str
    why: str
    done: Future[list[str]]


class ResetQueue:
    def __init__(self) -> None:
        self._requests: queue.SimpleQueue[ResetRequest] = queue.SimpleQueue()

    def request(self, kinds: set[TripKind] | None, by: str, why: str) -> Future[list[str]]:
        """From any thread; the future holds the kinds the loop cleared."""
        request = ResetRequest(kinds, by, why, Future())
        self._requests.put(request)
        return request.done

    def apply(self, now: float, regulation: Regulation, uplink: Uplink | None) -> None:
        """On the loop's thread: each reset, its events to the fleet, its answer to the asker."""
        while True:
            try:
                request = self._requests.get_nowait()
            except queue.Empty:
                return
            events = regulation.reset(request.kinds, now, by=request.by, why=request.why)
            if uplink is not None:
                uplink.publish_safety_events(events)
            request.done.set_result([event.kind.value for event in events])
