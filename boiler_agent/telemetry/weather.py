"""The fleet's outdoor temperature, for heaters that have no outdoor sensor.

A room heater's control law subtracts what the room loses to the outdoors; without a reading
it assumes 10 °C, and on a frosty morning it then under-heats after the warm-up (the room fell
0.4 K in `simulate`). The fleet knows the weather where its heaters are and publishes it
retained on `<root>/<fleet>/weather`; each heater takes the latest while it is fresh enough.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from pydantic import ValidationError

from boiler_agent.telemetry.command_gate import describe, printable
from boiler_agent.telemetry.inbox import Inbox
from boiler_agent.telemetry.payloads import Weather

log = logging.getLogger(__name__)

QUEUE_LIMIT = 4  # one retained message per connect, and the fleet's updates: hourly or so
MAX_BYTES = 4096  # a Weather is about 100 bytes
# A report stamped this far ahead of the heater's clock is the fleet's clock or a forecast
# gone wrong, not a reading for now.
FUTURE_TOLERANCE_S = 600.0


class WeatherFeed:
    """The latest valid weather report; messages arrive on paho's thread (`inbox.put`) and are
    read on the loop's (`poll`)."""

    def __init__(self, wall_clock: Callable[[], float]) -> None:
        self.inbox = Inbox(QUEUE_LIMIT, max_bytes=MAX_BYTES)
        self.latest: Weather | None = None
        self.rejected = 0
        self._wall = wall_clock

    def poll(self) -> list[str]:
        """Take what arrived; returns one error line per message refused."""
        errors: list[str] = []
        for message in self.inbox.drain():
            if not message.payload:
                self.latest = None  # the fleet cleared its retained report
                continue
            try:
                self.latest = Weather.model_validate_json(message.payload)
            except ValidationError as error:
                self.rejected += 1
                # The field and the value (CommandGate's wording); a message that is not JSON
                # has no field: the payload is named.
                line = printable(describe(error))
                errors.append(line if error.errors()[0]["loc"] else f"payload: {line}")
                log.warning("weather message on %s refused: %s", message.topic, errors[-1])
        return errors

    def outdoor_c(self, max_age_s: float) -> float | None:
        """The latest outdoor temperature if it is at most `max_age_s` old, else None."""
        report = self.latest
        if report is None or max_age_s <= 0:
            return None
        age_s = self._wall() - report.observed_at.timestamp()
        if age_s > max_age_s or age_s < -FUTURE_TOLERANCE_S:
            return None
        return report.outdoor_c
