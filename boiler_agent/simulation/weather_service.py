"""The fleet's weather service, for `simulate`: the simulated weather published as a fleet
publishes real weather for its heaters (retained on `<root>/<fleet>/weather`, every hour), so a
simulated room heater, which has no outdoor sensor, gets the outdoor temperature a real one
would get from its fleet."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from boiler_agent.durations import HOUR_S
from boiler_agent.fleet.subscriber import FleetSubscriber
from boiler_agent.telemetry.payloads import Weather, dump


class SimulatedWeatherService:
    def __init__(
        self,
        broker_url: str,
        topic: str,
        outdoor_c: Callable[[], float],
        plant_now: Callable[[], float],
        *,
        every_s: float = HOUR_S,
    ) -> None:
        self.topic = topic
        self.published = 0
        self._outdoor_c = outdoor_c
        self._plant_now = plant_now
        self._every_s = every_s
        self._next_s = float("-inf")
        # Subscribed to its own topic only: it reads nothing, it publishes.
        self._client = FleetSubscriber(broker_url, topic_filter=[topic])

    def start(self) -> SimulatedWeatherService:
        self._client.start()
        self.tick()
        return self

    def tick(self) -> None:
        """Publish when a simulated hour has passed since the last report."""
        now = self._plant_now()
        if now < self._next_s:
            return
        self._next_s = now + self._every_s
        report = Weather(outdoor_c=round(self._outdoor_c(), 1), observed_at=datetime.now(UTC))
        self._client.publish(self.topic, dump(report), retain=True)
        self.published += 1

    def stop(self) -> None:
        self._client.stop()
