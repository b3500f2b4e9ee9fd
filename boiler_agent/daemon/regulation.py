"""From the heater's readings to the heat allowed: setpoint arbitration, control law, interlocks.

The control law and the safety guard are pure (time passed in); this keeps them for the MCU in
force: a new controller (and its learnt model) only for a heater of another rating, a new guard
only for other limits, with the latched trips carried over. The guard has the last word: the
controller cannot override it. Latched trips are restored from the trip record at start, kept
across reconnects and MCU reboots, written to the record when they change, and cleared only by
`reset()` (an operator on the control socket, or the fleet).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from boiler_agent.config import AgentConfig
from boiler_agent.control.controllers import Controller, build_controller
from boiler_agent.control.inputs import ControlInput
from boiler_agent.control.safety import SafetyEvent, SafetyGuard, TripKind
from boiler_agent.control.setpoint import SetpointArbiter, Target
from boiler_agent.daemon.learnt_record import LearntRecord
from boiler_agent.daemon.trip_record import TripRecord
from firmware_bridge.events import HeaterIdentity

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Judgement:
    """The interlocks' verdict for one period."""

    allowed: float  # share of the demand that may be applied, 0..1
    events: tuple[SafetyEvent, ...]


class Regulation:
    def __init__(
        self,
        config: AgentConfig,
        control_period_s: float,
        record: TripRecord | None = None,
        learnt: LearntRecord | None = None,
    ) -> None:
        self.config = config
        self.record = record
        self.learnt = learnt  # the control law's learning, across restarts
        self._learnt_for: tuple[str, float] | None = None  # (serial, rating) it was learnt on
        # Latched before this start, held until a guard exists to carry them.
        self._restored = record.load() if record is not None else {}
        self.control_period_s = control_period_s
        self.arbiter = SetpointArbiter(
            config.heater.kind, config.control.setpoint_min_c, config.control.setpoint_max_c
        )
        self.controller: Controller | None = None
        self.guard: SafetyGuard | None = None
        self.target: Target | None = None
        self.demand_w = 0.0
        # What the last control step took for outdoors: a sensor, the fleet's weather, or None
        # (the control law's own assumption).
        self.outdoor_c: float | None = None
        self.trips: dict[str, str] = {}
        self._note_trips()

    def accept_mcu(
        self,
        identity: HeaterIdentity,
        *,
        max_power_w: float,
        new_rating: bool,
        plant_now_s: float | None = None,
        wall_now_s: float | None = None,
    ) -> None:
        """Ready the control law and the interlocks for an accepted MCU.

        A new control law resumes what it learnt on this heater before a restart, when the
        clocks are given. ValueError when the configured limits do not fit the MCU's range
        (no heat, then).
        """
        if self.controller is None or new_rating:
            self.controller = build_controller(
                self.config.control.controller, max_power_w, self.control_period_s
            )
            self._learnt_for = (identity.serial_number, max_power_w)
            if self.learnt is not None and plant_now_s is not None and wall_now_s is not None:
                self.learnt.restore(
                    self.controller,
                    serial=identity.serial_number,
                    max_power_w=max_power_w,
                    plant_now_s=plant_now_s,
                    wall_now_s=wall_now_s,
                )
        limits = self.config.control.safety_limits(identity.min_temp_c, identity.max_temp_c)
        if self.guard is None or self.guard.limits != limits:
            # Other limits, same latched trips: a new MCU (or one with another range) is not
            # an operator, and a reconnect, a USB glitch or an MCU reboot clears nothing.
            latched = self.guard.latched() if self.guard is not None else self._restored
            previous = self.guard
            self.guard = SafetyGuard(limits)
            self.guard.restore(latched)
            if previous is not None:
                frozen = previous.frozen_count()
            else:  # the first guard of this run: the count a previous run left, if any
                frozen = self.record.frozen if self.record is not None else None
            if frozen is not None:
                self.guard.restore_frozen(*frozen)
        self._note_trips()

    def save_learnt(
        self, now: float, plant_now: float, wall_now: float, *, at_stop: bool = False
    ) -> None:
        """Every LearntRecord.SAVE_EVERY_S of `now` (on the writer), and at a stop (waited for)."""
        learnt, heater = self.learnt, self._learnt_for
        if learnt is None or heater is None or not (at_stop or learnt.due(now)):
            return
        learnt.save(
            self.controller,
            serial=heater[0],
            max_power_w=heater[1],
            plant_now_s=plant_now,
            wall_now_s=wall_now,
            wait=at_stop,
        )

    def update_target(self, plant_now: float) -> Target | None:
        self.target = self.arbiter.target(plant_now)
        return self.target

    def control(self, plant_now: float, temp_c: float | None, outdoor_c: float | None) -> float:
        """One step of the control law: the heat demand in watts (0 without a reading)."""
        self.outdoor_c = outdoor_c
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
        lease_lost: str | None = None,
        heater_body_c: float | None = None,
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
            lease_lost=lease_lost,
            heater_body_c=heater_body_c,
            disturbed=bool(getattr(self.controller, "disturbed", False)),
        )
        self._note_trips()
        return Judgement(verdict.allowed, verdict.events)

    def idle(self, now: float) -> None:
        """The loop ran a period with nothing to judge (no MCU accepted, no readings yet)."""
        if self.guard is not None:
            self.guard.idle(now)

    def reset(
        self, kinds: set[TripKind] | None, now: float, by: str, why: str
    ) -> list[SafetyEvent]:
        """An explicit reset of latched trips (all, or `kinds`), recorded with who and why."""
        if self.guard is None:
            # No MCU yet: the trips restored from the record are what there is to reset.
            cleared = {k: v for k, v in self._restored.items() if kinds is None or k in kinds}
            self._restored = {k: v for k, v in self._restored.items() if k not in cleared}
            events = [SafetyEvent(now, k, False, f"reset by {by}: {why}") for k in sorted(cleared)]
        else:
            events = self.guard.reset(kinds, now, by=by, why=why)
        self._note_trips()
        return events

    def _expected_rate(self, temp_c: float | None, measured_w: float) -> float | None:
        """The controller model's warming rate at the measured power, when it has a model."""
        estimate = getattr(self.controller, "expected_rate_k_per_s", None)
        if estimate is None or temp_c is None:
            return None
        rate: float = estimate(temp_c, measured_w)
        return rate

    def _note_trips(self) -> None:
        """The trips in force, for everyone to see; the latched ones go to the record."""
        active = self.guard.active if self.guard is not None else self._restored
        self.trips = {kind.value: why for kind, why in active.items()}
        if self.record is not None:
            if self.guard is not None:
                self.record.save(self.guard.latched(), self.guard.frozen_count())
            else:
                self.record.save(self._restored, self.record.frozen)

    def set_setpoint_range(self, low_c: float, high_c: float) -> None:
        self.arbiter.setpoint_min_c = low_c
        self.arbiter.setpoint_max_c = high_c
