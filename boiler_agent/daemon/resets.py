"""Operators' and the fleet's resets of latched trips, handed from their threads to the loop."""

from __future__ import annotations

import queue
from concurrent.futures import Future
from dataclasses import dataclass

from boiler_agent.control.safety import TripKind
from boiler_agent.daemon.heater_side import HeaterSide
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

    def apply(
        self, now: float, regulation: Regulation, uplink: Uplink | None, heater: HeaterSide
    ) -> bool:
        """On the loop's thread: each reset, its events to the fleet, its answer to the asker.

        An MCU that still holds its own failsafe shutdown is restarted with the reset (the
        protocol's RESET clears it): the operator's reset is for the whole heater. True when
        such a restart was asked for: until the MCU is back, its old readings still say
        'shutdown', and they must not trip it again.
        """
        restarted = False
        while True:
            try:
                request = self._requests.get_nowait()
            except queue.Empty:
                return restarted
            events = regulation.reset(request.kinds, now, by=request.by, why=request.why)
            if uplink is not None:
                uplink.publish_safety_events(events)
            cleared = [event.kind.value for event in events]
            if TripKind.MCU_FAULT.value in cleared and heater.shutdown:
                heater.link.reset_mcu()
                restarted = True
            request.done.set_result(cleared)
