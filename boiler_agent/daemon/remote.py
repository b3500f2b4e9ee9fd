"""Commands from the fleet and Home Assistant, applied within the agent's own limits.

The uplink has already validated each command and refused the bad ones; here an accepted
command changes the setpoint arbitration, is recorded as an event, and is answered with what
was applied (after the setpoint clamp), through the MQTT v5 response topic.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from boiler_agent.control.safety import TripKind
from boiler_agent.control.setpoint import SetpointArbiter
from boiler_agent.daemon.clocks import Clocks
from boiler_agent.daemon.uplink import ReceivedCommand, Uplink
from boiler_agent.telemetry.payloads import (
    Birth,
    HaMode,
    HaSetpoint,
    RequestBirth,
    SafetyReset,
    SetMode,
    SetpointOverride,
)

Applied = dict[str, str | float | int | bool | None]


class RemoteCommands:
    def __init__(
        self,
        arbiter: SetpointArbiter,
        uplink: Uplink,
        clocks: Clocks,
        birth: Callable[[], Birth | None],
        reset: Callable[[set[TripKind] | None, str, str], object],
    ) -> None:
        self.arbiter = arbiter
        self.uplink = uplink
        self.clocks = clocks
        self.birth = birth  # None while no MCU is accepted
        self.reset = reset  # queues a reset of latched trips for the loop

    def apply(self, received: ReceivedCommand) -> None:
        command = received.command
        plant_now = self.clocks.plant_now()
        applied: Applied = {}
        if isinstance(command, SetpointOverride):
            until = self._plant_until(command.expires_at, command.duration_s, plant_now)
            self.arbiter.override(command.setpoint_c, until)
            applied = self._setpoint_applied(command.setpoint_c, plant_now)
            self.uplink.publish_event("setpoint_change", "remote_override", **_defined(applied))
        elif isinstance(command, SetMode):
            until = self._plant_until(command.expires_at, None, plant_now)
            self.arbiter.set_mode(command.mode, until)
            applied = {"mode": command.mode}
            self.uplink.publish_event("mode_change", "remote", mode=command.mode)
        elif isinstance(command, HaSetpoint):
            self.arbiter.override(command.setpoint_c, None)
            applied = self._setpoint_applied(command.setpoint_c, plant_now)
            self.uplink.publish_event("setpoint_change", "home_assistant", **_defined(applied))
        elif isinstance(command, HaMode):
            self.arbiter.set_mode(command.mode, None)
            applied = {"mode": command.mode}
            self.uplink.publish_event("mode_change", "home_assistant", mode=command.mode)
        elif isinstance(command, SafetyReset):
            kinds = {TripKind(kind) for kind in command.kinds} if command.kinds else None
            self.reset(kinds, f"{command.by} (fleet command {command.cmd_id})", command.reason)
            asked = ",".join(sorted(command.kinds)) if command.kinds else "all"
            applied = {"safety_reset": asked}
        elif isinstance(command, RequestBirth):
            birth = self.birth()
            if birth is not None:
                self.uplink.publish_birth(birth)
            applied = {"birth": birth is not None}
        reply = received.reply.model_copy(update={"applied": applied})
        self.uplink.answer(received.response_topic, received.correlation, reply)

    def _setpoint_applied(self, asked_c: float, plant_now: float) -> Applied:
        """The setpoint in force after the clamp, which is what the fleet must be told."""
        target = self.arbiter.target(plant_now)
        return {"setpoint_c": target.base_setpoint_c if target else asked_c}

    def _plant_until(
        self, expires_at: datetime | None, duration_s: float | None, plant_now: float
    ) -> float | None:
        """An end time on the plant clock (a duration counts in the heater's own time)."""
        if duration_s is not None:
            return plant_now + duration_s
        if expires_at is not None:
            return plant_now + max(0.0, expires_at.timestamp() - self.clocks.wall())
        return None


def _defined(values: dict[str, Any]) -> dict[str, str | float | int | bool]:
    return {key: value for key, value in values.items() if value is not None}
