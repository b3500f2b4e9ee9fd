"""What the MCU's news does to the agent, each turn of the loop.

A newly accepted MCU readies the power stage for its rating and the control law and interlocks
for its limits (or is refused when the configured maximum does not fit its range), and gets a
birth message; the thermostat's setpoint and announced changes go to the setpoint arbiter; link
changes and MCU faults become events for the fleet.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from boiler_agent.daemon.assembly import Parts
from boiler_agent.daemon.clocks import Clocks
from boiler_agent.daemon.regulation import Regulation
from boiler_agent.telemetry.payloads import Birth
from firmware_bridge.events import HeaterIdentity
from firmware_bridge.protocol import Mode, SetpointSource

log = logging.getLogger(__name__)

MODE_NAMES = {Mode.OFF: "off", Mode.HEAT: "heat", Mode.ECO: "eco", Mode.BOOST: "boost"}
SOURCE_NAMES = {
    SetpointSource.SCHEDULE: "schedule",
    SetpointSource.KNOB: "knob",
    SetpointSource.REMOTE: "remote",
}


class HeaterEvents:
    def __init__(
        self,
        parts: Parts,
        regulation: Regulation,
        clocks: Clocks,
        birth_of: Callable[[HeaterIdentity], Birth],
    ) -> None:
        self.parts = parts
        self.regulation = regulation
        self.clocks = clocks
        self.birth_of = birth_of
        self._birth_sent_for: int | None = None  # the MCU boot the birth message was sent for

    def handle(self) -> None:
        heater = self.parts.heater
        uplink = self.parts.uplink
        news = heater.poll()
        if news.link_up is not None:
            if heater.accepted is not None:
                self._accepted(news.link_up.reason)
            elif uplink is not None and heater.mismatch:
                uplink.publish_event("fault", "wrong_heater", message=heater.mismatch)
        if uplink is not None:
            if news.link_down is not None:
                uplink.publish_event("link_lost", news.link_down.reason[:200])
            if news.refused is not None:
                uplink.publish_event("fault", "link_refused", message=news.refused[:200])
            for fault in news.faults:
                uplink.publish_event("fault", fault.code.name.lower(), message=fault.describe())
        if news.thermostat is not None:
            state = news.thermostat
            next_change = (
                (state.next_change_in_s, state.next_setpoint_c)
                if state.next_change_in_s is not None and state.next_setpoint_c is not None
                else None
            )
            cancelled = self.regulation.arbiter.thermostat(
                self.clocks.plant_now(),
                state.setpoint_c,
                SOURCE_NAMES.get(state.source, "schedule"),  # type: ignore[arg-type]
                MODE_NAMES.get(state.mode, "heat"),  # type: ignore[arg-type]
                next_change,
            )
            if cancelled and uplink is not None:
                uplink.publish_event(
                    "setpoint_change", "knob_cancelled_override", setpoint_c=state.setpoint_c
                )

    def _accepted(self, reason: str) -> None:
        heater = self.parts.heater
        uplink = self.parts.uplink
        identity = heater.accepted
        assert identity is not None
        power = self.parts.power
        new_rating = power.rebuild_for(
            self.parts.config.heater.rated_power_w or float(identity.rated_power_w)
        )
        try:
            self.regulation.accept_mcu(
                identity,
                max_power_w=power.max_power_w,
                new_rating=new_rating,
                plant_now_s=self.clocks.plant_now(),
                wall_now_s=self.clocks.wall(),
            )
        except ValueError as error:
            # The configured maximum is outside what this MCU can measure: refuse heat.
            log.error("heater refused: control.max_temp_c does not fit this MCU: %s", error)
            heater.refuse(f"control.max_temp_c does not fit this MCU: {error}")
            if uplink is not None:
                uplink.publish_event("fault", "bad_max_temp", message=str(error)[:200])
            return
        if uplink is not None:
            if self._birth_sent_for != identity.boot_id:
                self._birth_sent_for = identity.boot_id
                uplink.publish_birth(self.birth_of(identity))
            if heater.links_lost:
                uplink.publish_event("link_back", reason[:200])
