"""What a fleet-side subscriber receives, parsed from its topic and JSON body.

A consumer must outlive the heaters it watches: a heater running a newer agent may add keys, so
messages are read as plain JSON objects and only the keys a tool uses are looked at; a message
that is not JSON, or whose topic is not in the tree (`telemetry.topics.Topics`), is counted and
skipped, never fatal.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from boiler_agent.telemetry.topics import DEFAULT_ROOT

HEATER_KINDS = frozenset({"availability", "birth", "state", "telemetry", "events"})
JOB_KINDS = frozenset({"status", "result"})
FLEET_KINDS = {"jobs": "offer", "weather": "weather"}  # fleet-wide topics: level -> kind
SEQUENCED = frozenset({"telemetry", "events"})


@dataclass(frozen=True)
class FleetMessage:
    topic: str
    fleet: str
    heater: str | None  # None for the fleet-wide job queue and weather (its zones too)
    kind: str  # availability, birth, state, telemetry, events, job_status, job_result, offer,
    # weather
    job_id: str | None
    body: dict[str, Any]  # the JSON object; availability's text goes under "value"
    retained: bool = False

    @property
    def sequenced(self) -> bool:
        return self.kind in SEQUENCED and "seq" in self.body and "boot_id" in self.body


def subscription(fleet: str | None, root: str = DEFAULT_ROOT) -> str:
    """The topic filter for one fleet, or every fleet under the root."""
    return f"{root}/{fleet or '+'}/#"


def parse(
    topic: str, payload: bytes, *, retained: bool = False, root: str = DEFAULT_ROOT
) -> FleetMessage | None:
    """The message, or None when the topic or the body is not one a consumer reads."""
    prefix = f"{root}/"
    if not topic.startswith(prefix):
        return None
    levels = topic[len(prefix) :].split("/")
    if len(levels) == 2 and levels[1] in FLEET_KINDS:
        kind, heater, job_id = FLEET_KINDS[levels[1]], None, None
    elif len(levels) == 3 and levels[2] in HEATER_KINDS:
        kind, heater, job_id = levels[2], levels[1], None
    elif len(levels) == 3 and levels[1] == "weather":  # one weather zone's report
        kind, heater, job_id = "weather", None, None
    elif len(levels) == 5 and levels[2] == "jobs" and levels[4] in JOB_KINDS:
        kind, heater, job_id = f"job_{levels[4]}", levels[1], levels[3]
    else:
        return None  # commands, replies, discovery: not the fleet's business here
    if kind == "availability":
        if not payload:
            return None  # a retained message being cleared
        body: dict[str, Any] = {"value": payload.decode("utf-8", "replace")[:32]}
    else:
        try:
            document = json.loads(payload)
        except (ValueError, UnicodeDecodeError):
            return None
        if not isinstance(document, dict):
            return None
        body = document
    return FleetMessage(topic, levels[0], heater, kind, job_id, body, retained)
