"""From the heater's readings to the heat allowed: setpoint arbitration, control law, interlocks.

The control law and the safety guard are pure (time passed in); this keeps them for the MCU in
force: a new controller (and its learnt model) only for a heater of another rating, a new guard
only for other limits. The guard has the last word: the controller cannot override it.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from boiler_agent.config import AgentConfig
from boiler_agent.control.controllers import Controller, build_controller
from boiler_agent.control.inputs import ControlInput
from boiler_agent.control.safety import SafetyEvent, SafetyGuard, TripKind
from boiler_agent.control.setpoint import SetpointArbiter, Target
from firmware_bridge.events import HeaterIdentity

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Judgement:
    """The interlocks' verdict for one period."""

    allowed: float  # share of the demand that may be applied, 0..1
    events: tuple[SafetyEvent, ...]


class Regulation:
    def __init__(self, config: AgentConfig, control_period_s: float) -> None:
        self.config = config
        self.control_period_s = control_period_s
        self.arbiter = SetpointArbiter(
            config.heater.kind, config.control.setpoint_min_c, config.control.setpoint_max_c
        )
        self.controller: Controller | None = None
        self.guard: SafetyGuard | None = None
        self.target: Target | None = None
        self.demand_w = 0.0
        self.trips: dict[str, str] = {}

    def accept_mcu(
        self,
        identity: HeaterIdentity,
        *,
        max_power_w: float,
        new_rating: bool,
        reason: str,
        now: float,
    ) -> list[SafetyEvent]:
        """Ready the control law and the interlocks for an accepted MCU.

        ValueError when the configured limits do not fit the MCU's range (no heat, then).
        """
        if self.controller is None or new_rating:
            self.controller = build_controller(
                self.config.control.controller, max_power_w, self.control_period_s
            )
        limits = self.config.control.safety_limits(identity.min_temp_c, identity.max_temp_c)
        events: list[SafetyEvent] = []
        if self.guard is None or self.guard.limits != limits:
            self.guard = SafetyGuard(limits)
        elif reason != "handshake":
            # A new MCU boot is the explicit recovery of latched trips: it re-checked itself.
            for kind in list(self.guard.active):
                event = self.guard.recover(TripKind(kind), now, by=f"MCU: {reason}")
                if event is not None:
                    events.append(event)
        self._note_trips()
        return events

    def update_target(self, plant_now: float) -> Target | None:
        self.target = self.arbiter.target(plant_now)
        return self.target

    def control(self, plant_now: float, temp_c: float | None, outdoor_c: float | None) -> float:
        """One step of the control law: the heat demand in watts (0 without a reading)."""
        target = self.target
        if self.controller is None or temp_c is None or target is None:
            self.demand_w = 0.0
        else:
            self.demand_w = self.controller.step(
                ControlInput(plant_now, temp_c, target.setpoint_c, outdoor_c, target.next_setpoint)
            )
        return self.demand_w

    def judge(
        self,
        now: float,
        plant_now: float,
        temp_c: float | None,
        reading_at: float | None,
        *,
        power_fraction: float,
        measured_w: float,
        mcu_shutdown: bool,
        cpu: tuple[float, float] | None,
    ) -> Judgement:
        guard = self.guard
        if guard is None:
            return Judgement(0.0, ())
        verdict = guard.check(
            now,
            temp_c,
            reading_at,
            power_fraction=power_fraction,
            setpoint_c=self.target.setpoint_c if self.target else (temp_c or 0.0),
            mcu_fault="the MCU latched its failsafe shutdown" if mcu_shutdown else None,
            cpu_temp_c=cpu[0] if cpu else None,
            cpu_critical_c=cpu[1] if cpu else None,
            plant_now_s=plant_now,
            expected_rate_k_per_s=self._expected_rate(temp_c, measured_w),
        )
        self._note_trips()
        return Judgement(verdict.allowed, verdict.events)

    def _expected_rate(self, temp_c: float | None, measured_w: float) -> float | None:
        """The controller model's warming rate at the measured power, when it has a model."""
        estimate = getattr(self.controller, "expected_rate_k_per_s", None)
        if estimate is None or temp_c is None:
            return None
        rate: float = estimate(temp_c, measured_w)
        return rate

    def _note_trips(self) -> None:
        guard = self.guard
        self.trips = {kind.value: why for kind, why in guard.active.items()} if guard else {}

    def set_setpoint_range(self, low_c: float, high_c: float) -> None:
        self.arbiter.setpoint_min_c = low_c
        self.arbiter.setpoint_max_c = high_c
