"""Safety interlocks the controller cannot override: they decide how much heat is allowed.

Pure and time-injected like the control laws: readings and time in, an allowed share of the
requested heat (0..1) and events out. Conditions that fix themselves (a stale or impossible
reading, a stalled loop, a hot CPU package, heartbeats the MCU does not acknowledge) lift when
they clear; over temperature lifts only once the temperature has stayed `over_temp_hysteresis_k`
below the maximum for `over_temp_hold_s`; conditions that mean something is wrong with the
heater (runaway, a frozen sensor, an MCU fault, an unreadable trip record) latch until an
explicit `reset()`: a reconnect or an MCU reboot is not an operator (Klipper stays shut down
until its operator restarts the firmware). Latched trips are handed to the caller to persist
(`latched()`) and restored at start (`restore()`). Every trip and every reset is an event with
its reason.

docs/safety.md is the table of every interlock.
"""

from __future__ import annotations

import enum
import logging
import math
from dataclasses import dataclass, field

log = logging.getLogger(__name__)


class TripKind(enum.StrEnum):
    OVER_TEMPERATURE = "over_temperature"
    STALE_READING = "stale_reading"
    INVALID_READING = "invalid_reading"  # NaN, missing, or outside the MCU's advertised range
    FROZEN_SENSOR = "frozen_sensor"
    LOOP_STALL = "loop_stall"
    RUNAWAY = "runaway"
    MCU_FAULT = "mcu_fault"
    CPU_HOT = "cpu_hot"
    LEASE_LOST = "lease_lost"  # the MCU does not acknowledge the heartbeats that carry the lease
    TRIP_RECORD = "trip_record"  # the persisted trips could not be read: safety before comfort


LATCHED = {TripKind.FROZEN_SENSOR, TripKind.RUNAWAY, TripKind.MCU_FAULT, TripKind.TRIP_RECORD}


@dataclass(frozen=True)
class SafetyLimits:
    max_temp_c: float  # hard maximum of the controlled temperature
    valid_min_c: float  # the MCU's advertised range: outside it a reading is not believed
    valid_max_c: float
    stale_after_s: float = 7.0
    stall_after_s: float = 5.0
    frozen_after_s: float = 300.0  # the exact same value this long while heating
    runaway_window_s: float = 600.0  # 300..900 s suits rooms; tanks may want longer
    runaway_min_rise_k: float = 0.2
    runaway_heating_share: float = 0.5  # "heating hard": at least this share of full power
    runaway_hysteresis_k: float = 1.0  # only below setpoint - this is a rise expected
    cpu_margin_c: float = 10.0  # throttle within this of the CPU's critical temperature
    over_temp_hysteresis_k: float = 2.0  # over temperature lifts this far below the maximum...
    over_temp_hold_s: float = 300.0  # ...held this long
    # A heater body this much warmer than the controlled temperature shows the heat is made and
    # leaves the heater: a room or tank that still cools is losing more than the heater gives
    # (a cold night, an open window, a hot-water draw), not a sensor that lost the heat.
    heat_evidence_margin_k: float = 5.0

    def __post_init__(self) -> None:
        if not 300.0 <= self.runaway_window_s <= 3600.0:
            raise ValueError(f"runaway_window_s must be 300..3600 s, got {self.runaway_window_s}")
        if not self.valid_min_c < self.max_temp_c <= self.valid_max_c:
            raise ValueError(
                f"max_temp_c {self.max_temp_c} must lie in the valid range "
                f"{self.valid_min_c}..{self.valid_max_c}"
            )


@dataclass(frozen=True)
class SafetyEvent:
    at_s: float
    kind: TripKind
    tripped: bool  # False: the condition cleared or was recovered
    reason: str


@dataclass(frozen=True)
class Verdict:
    allowed: float  # share of the requested heat that may be applied, 0..1
    active: frozenset[TripKind]
    events: tuple[SafetyEvent, ...]


@dataclass
class SafetyGuard:
    limits: SafetyLimits
    active: dict[TripKind, str] = field(default_factory=dict)
    _last_check_s: float | None = None
    _frozen_value: float | None = None
    _frozen_heated_s: float = 0.0  # heating time through which the value has not changed
    _frozen_last_s: float | None = None
    _window_start: tuple[float, float] | None = None  # (time, temperature)
    _expected_rise_k: float | None = 0.0  # the model's rise over the window so far, if known
    _last_plant_s: float | None = None
    _cool_since_s: float | None = None  # below the over-temperature release point since

    def idle(self, now_s: float) -> None:
        """A period the loop ran without a check (no MCU to judge): not a stall."""
        self._last_check_s = now_s

    def restore(self, latched: dict[TripKind, str]) -> None:
        """Trips latched before a restart (or by another guard): still tripped, no new event."""
        for kind, reason in latched.items():
            self.active.setdefault(kind, reason)

    def frozen_count(self) -> tuple[float, float] | None:
        """(value, heating seconds) of a reading that has not changed while heating, or None:
        what a restart must not forget, or a kill loop faster than `frozen_after_s` of heating
        would keep a stuck sensor from ever being found."""
        if self._frozen_value is None or self._frozen_heated_s <= 0.0:
            return None
        return self._frozen_value, self._frozen_heated_s

    def restore_frozen(self, value: float, heated_s: float) -> None:
        """A count carried over a restart: it goes on if the first reading is the same value."""
        if self._frozen_value is None:
            self._frozen_value, self._frozen_heated_s = value, max(0.0, heated_s)

    def latched(self) -> dict[TripKind, str]:
        """The active trips only a reset clears: what the caller persists."""
        return {kind: why for kind, why in self.active.items() if kind in LATCHED}

    def check(
        self,
        now_s: float,
        temp_c: float | None,
        reading_at_s: float | None,
        *,
        power_fraction: float,
        setpoint_c: float,
        mcu_fault: str | None = None,
        lease_lost: str | None = None,
        heater_body_c: float | None = None,
        disturbed: bool = False,
        cpu_temp_c: float | None = None,
        cpu_critical_c: float | None = None,
        plant_now_s: float | None = None,
        expected_rate_k_per_s: float | None = None,
    ) -> Verdict:
        """One control period's check. `power_fraction` is the heat applied since the last.

        `now_s` is real time: readings go stale, loops stall and a sensor sticks in real
        seconds (a stuck sensor is a device fault: it is judged on how many readings repeat).
        The window over which the plant must respond to heat (runaway) runs on `plant_now_s`,
        which differs only when the plant is simulated faster than real time.

        `expected_rate_k_per_s` is what the controller's model says the heat applied does to
        the temperature now; with it, runaway means "not rising as the model expects" (less
        than half of it), so an undersized heater on a cold night is not taken for a sensor that
        fell off. Without it (controllers with no model) the fixed `runaway_min_rise_k` applies.
        No rise is expected while the controller recovers from a disturbance it detected
        (`disturbed`: a draw that outruns the heater) or while the heater body shows the heat
        being made (`heater_body_c` well above the controlled temperature).
        """
        plant_s = now_s if plant_now_s is None else plant_now_s
        events: list[SafetyEvent] = []
        conditions: dict[TripKind, str | None] = {
            TripKind.LOOP_STALL: self._stall(now_s),
            TripKind.STALE_READING: self._stale(now_s, reading_at_s),
            TripKind.INVALID_READING: self._invalid(temp_c),
            TripKind.MCU_FAULT: mcu_fault,
            TripKind.LEASE_LOST: lease_lost,
        }
        if temp_c is not None and math.isfinite(temp_c):
            conditions[TripKind.OVER_TEMPERATURE] = self._over_temperature(now_s, temp_c)
            conditions[TripKind.FROZEN_SENSOR] = self._frozen(now_s, temp_c, power_fraction)
            heat_shows = (
                heater_body_c is not None
                and math.isfinite(heater_body_c)
                and heater_body_c - temp_c >= self.limits.heat_evidence_margin_k
            )
            conditions[TripKind.RUNAWAY] = self._runaway(
                plant_s,
                temp_c,
                power_fraction,
                setpoint_c,
                expected_rate_k_per_s,
                explained=disturbed or heat_shows,
            )
        throttle = self._cpu_throttle(cpu_temp_c, cpu_critical_c)
        conditions[TripKind.CPU_HOT] = (
            f"CPU package at {cpu_temp_c} °C, within {self.limits.cpu_margin_c:g} °C of critical"
            if throttle < 1.0
            else None
        )
        for kind, reason in conditions.items():
            self._update(kind, reason, now_s, events)
        allowed = 0.0 if set(self.active) - {TripKind.CPU_HOT} else throttle
        return Verdict(allowed, frozenset(self.active), tuple(events))

    def reset(
        self, kinds: set[TripKind] | None, now_s: float, by: str, why: str
    ) -> list[SafetyEvent]:
        """Clear latched trips (all of them, or `kinds`), explicitly: an operator or the fleet.

        Only latched trips are reset: a condition that clears by itself (a stale reading, over
        temperature) is not an operator's to wave away; it lifts when the condition does.
        """
        events = []
        for kind in sorted(self.latched()):
            if kinds is not None and kind not in kinds:
                continue
            reason = self.active.pop(kind)
            log.warning("safety: %s reset by %s (%s); it was: %s", kind.value, by, why, reason)
            if kind is TripKind.RUNAWAY:
                self._window_start = None
            if kind is TripKind.FROZEN_SENSOR:
                self._frozen_heated_s = 0.0
            events.append(SafetyEvent(now_s, kind, False, f"reset by {by}: {why}"))
        return events

    # --- the conditions -------------------------------------------------------------------------

    def _update(
        self, kind: TripKind, reason: str | None, now_s: float, events: list[SafetyEvent]
    ) -> None:
        if reason is not None and kind not in self.active:
            self.active[kind] = reason
            log.warning("safety trip %s: %s", kind.value, reason)
            events.append(SafetyEvent(now_s, kind, True, reason))
        elif reason is None and kind in self.active and kind not in LATCHED:
            del self.active[kind]
            log.info("safety: %s cleared", kind.value)
            events.append(SafetyEvent(now_s, kind, False, "condition cleared"))

    def _over_temperature(self, now_s: float, temp_c: float) -> str | None:
        limits = self.limits
        if temp_c > limits.max_temp_c:
            self._cool_since_s = None
            return f"{temp_c:.2f} °C is above the hard maximum {limits.max_temp_c:g} °C"
        tripped = self.active.get(TripKind.OVER_TEMPERATURE)
        if tripped is None:
            return None
        if temp_c > limits.max_temp_c - limits.over_temp_hysteresis_k:
            self._cool_since_s = None
            return tripped
        if self._cool_since_s is None:
            self._cool_since_s = now_s
        return tripped if now_s - self._cool_since_s < limits.over_temp_hold_s else None

    def _stall(self, now_s: float) -> str | None:
        last, self._last_check_s = self._last_check_s, now_s
        if last is not None and now_s - last > self.limits.stall_after_s:
            return f"control loop stalled for {now_s - last:.1f} s"
        return None

    def _stale(self, now_s: float, reading_at_s: float | None) -> str | None:
        if reading_at_s is None:
            return "no reading yet"
        age = now_s - reading_at_s
        return f"last reading is {age:.1f} s old" if age > self.limits.stale_after_s else None

    def _invalid(self, temp_c: float | None) -> str | None:
        if temp_c is None or not math.isfinite(temp_c):
            return f"controlled temperature is {temp_c}"
        if not self.limits.valid_min_c <= temp_c <= self.limits.valid_max_c:
            return (
                f"{temp_c:.2f} °C is outside the MCU's range "
                f"{self.limits.valid_min_c:g}..{self.limits.valid_max_c:g} °C"
            )
        return None

    def _frozen(self, now_s: float, temp_c: float, power_fraction: float) -> str | None:
        """The same value through `frozen_after_s` of heating. Heating that pauses (a trip, a
        reconnect, the controller at rest) pauses the count without restarting it: a stuck
        sensor behind a flaky link must still be found; only a changed value restarts it."""
        last, self._frozen_last_s = self._frozen_last_s, now_s
        if temp_c != self._frozen_value:
            self._frozen_value, self._frozen_heated_s = temp_c, 0.0
            return None
        if power_fraction > 0.0 and last is not None:
            self._frozen_heated_s += max(0.0, now_s - last)
        if self._frozen_heated_s >= self.limits.frozen_after_s:
            return (
                f"sensor stuck at {temp_c:.2f} °C through {self._frozen_heated_s:.0f} s of heating"
            )
        return None

    def _runaway(
        self,
        now_s: float,
        temp_c: float,
        power_fraction: float,
        setpoint_c: float,
        expected_rate_k_per_s: float | None,
        *,
        explained: bool = False,
    ) -> str | None:
        limits = self.limits
        last, self._last_plant_s = self._last_plant_s, now_s
        heating_hard = power_fraction >= limits.runaway_heating_share
        below = temp_c < setpoint_c - limits.runaway_hysteresis_k
        if not heating_hard or not below or explained:
            self._window_start = None  # nothing to expect
            return None
        if self._window_start is None:
            self._window_start = (now_s, temp_c)
            self._expected_rise_k = 0.0
            return None
        if self._expected_rise_k is not None:
            if expected_rate_k_per_s is None or last is None:
                self._expected_rise_k = None  # not known for the whole window
            else:
                self._expected_rise_k += expected_rate_k_per_s * max(0.0, now_s - last)
        started_s, started_c = self._window_start
        if now_s - started_s < limits.runaway_window_s:
            return None
        rise = temp_c - started_c
        expected = self._expected_rise_k
        self._window_start = (now_s, temp_c)
        self._expected_rise_k = 0.0
        heating = f"heating at {power_fraction:.0%} for {now_s - started_s:.0f} s raised the "
        if expected is None:
            if rise < limits.runaway_min_rise_k:
                return (
                    f"{heating}temperature by {rise:+.2f} K, "
                    f"expected at least {limits.runaway_min_rise_k:g} K"
                )
            return None
        if expected >= limits.runaway_min_rise_k and rise < 0.5 * expected:
            return f"{heating}temperature by {rise:+.2f} K; the model expected {expected:+.2f} K"
        return None

    def _cpu_throttle(self, cpu_temp_c: float | None, critical_c: float | None) -> float:
        """1.0 when cool; falls linearly to 0 over the last `cpu_margin_c` before critical."""
        if cpu_temp_c is None or critical_c is None:
            return 1.0
        headroom = critical_c - cpu_temp_c
        if headroom >= self.limits.cpu_margin_c:
            return 1.0
        return max(0.0, headroom / self.limits.cpu_margin_c)
