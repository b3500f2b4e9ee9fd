"""I7 on what the network may put into the agent, checked while it runs.

No message larger than the MQTT packet bound the agent announces reaches one of its inboxes
(the broker is told the bound, and what a broker sends anyway is dropped in the network
callback), and the fleet jobs a heater holds never pass the room it offers: an offer beyond it
is answered `no_room`, not queued. Looked at once a minute of plant time: the job count is a
query of the job store.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from boiler_agent.daemon.assembly import Parts
from boiler_agent.faults.invariants import Violation
from boiler_agent.telemetry.client import MAX_PACKET_BYTES
from boiler_agent.telemetry.job_feed import PENDING_PER_WORKER

EVERY_S = 60.0


@dataclass
class InputBounds:
    workers: int
    checked: int = 0
    violations: list[Violation] = field(default_factory=list)
    _next_s: float = 0.0
    _seen: set[str] = field(default_factory=set)  # each kind of violation is reported once

    def observe(self, at_s: float, parts: Parts) -> None:
        if at_s < self._next_s:
            return
        self._next_s = at_s + EVERY_S
        inboxes = []
        if parts.uplink is not None:
            inboxes.append(("commands", parts.uplink.commands))
        if parts.feed is not None:
            inboxes.append(("job offers", parts.feed.incoming))
        for name, inbox in inboxes:
            self.checked += 1
            if inbox.largest_bytes > MAX_PACKET_BYTES:
                self._found(
                    at_s,
                    f"inbox:{name}",
                    f"a {inbox.largest_bytes}-byte message reached the {name} inbox "
                    f"(bound {MAX_PACKET_BYTES} bytes)",
                )
        if parts.feed is not None:
            self.checked += 1
            held = parts.scheduler.store.remote_jobs_pending()
            room = PENDING_PER_WORKER * self.workers
            if held > room:
                self._found(at_s, "room", f"{held} fleet jobs held, room for {room}")

    def _found(self, at_s: float, key: str, detail: str) -> None:
        if key not in self._seen:
            self._seen.add(key)
            self.violations.append(Violation(at_s, "I7", detail, None))
