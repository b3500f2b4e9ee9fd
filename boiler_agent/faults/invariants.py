"""The invariants a fault campaign checks over its recorded history (Jepsen's checker idea).

Each check reads the samples (what the agent decided each period, and what the heater really
did) and returns violations, each with its time and the last fault injected before it, so a
failing seed points at its cause.
"""

from __future__ import annotations

import collections
from collections.abc import Sequence
from dataclasses import dataclass, field

from boiler_agent.daemon.lease_watch import PERIODS as LEASE_WATCH_PERIODS
from boiler_agent.faults.harness import Sample
from boiler_agent.faults.schedule import BENIGN, Fault, Injection

THROTTLE_ONLY = {"cpu_hot"}  # a trip that throttles rather than stops
LATCHED = {"frozen_sensor", "runaway", "mcu_fault", "trip_record"}
SENSOR_FAULTS = {Fault.SENSOR_OPEN, Fault.SENSOR_SHORT, Fault.SENSOR_FROZEN}
# A stuck sensor reads like a quiet room: it is found after this much heating (SafetyLimits).
FROZEN_DETECTION_S = 300.0
MAX_KEPT = 200  # violations kept with their details; every one is counted


@dataclass(frozen=True)
class Violation:
    at_s: float
    invariant: str
    detail: str
    fault_before: str | None

    def as_dict(self) -> dict[str, object]:
        return {
            "at_s": round(self.at_s, 1),
            "invariant": self.invariant,
            "detail": self.detail,
            "fault_before": self.fault_before,
        }


@dataclass
class Checker:
    schedule: Sequence[Injection]
    max_temp_c: float
    period_s: float
    lease_s: float
    checked: int = 0
    violation_count: int = 0
    _boot_started_s: float = 0.0
    _frozen_heated_s: float = 0.0  # heating through the stuck-sensor fault, this agent run
    # The configured setpoint range: no setpoint in force or announced may leave it (I3).
    setpoint_range_c: tuple[float, float] | None = None
    _unleased_since_s: float | None = None  # workers running while the MCU holds no lease

    violations: list[Violation] = field(default_factory=list)
    by_invariant: collections.Counter[str] = field(default_factory=collections.Counter)
    _previous: Sample | None = None

    def run(self, samples: Sequence[Sample]) -> list[Violation]:
        for sample in samples:
            self.observe(sample)
        return self.violations

    def observe(self, sample: Sample) -> None:
        """One period, checked as it comes: a week-long history is never held in memory."""
        previous, self._previous = self._previous, sample
        if previous is None or sample.boot != previous.boot:
            self._boot_started_s = sample.at_s
            self._frozen_heated_s = 0.0
        if not self._active(sample.at_s, {Fault.SENSOR_FROZEN}):
            self._frozen_heated_s = 0.0
        elif previous is not None and previous.mcu_power_w > 0:
            self._frozen_heated_s += sample.at_s - previous.at_s
        found = self._no_heat_while_tripped(sample) + self._no_heat_above_the_maximum(sample)
        found += self._setpoint_in_range(sample) + self._heat_under_a_lease(sample)
        if previous is not None:
            found += self._latched_until_reset(previous, sample) + self._no_stall(previous, sample)
        if all(i.fault in BENIGN for i in self.schedule):
            found += self._healthy_never_trips(sample)
        self.violations += found[: max(0, MAX_KEPT - len(self.violations))]
        self.violation_count += len(found)
        self.by_invariant.update(v.invariant for v in found)

    def _healthy_never_trips(self, sample: Sample) -> list[Violation]:
        """I8: with no fault injected (an occupant's knob is no fault), no trip at all: a false
        trip is a failure too."""
        self.checked += 1
        if not sample.report.trips:
            return []
        detail = "; ".join(f"{k}: {v}" for k, v in sample.report.trips.items())
        return [Violation(sample.at_s, "I8", f"a healthy heater tripped: {detail}", None)]

    def violation(self, at_s: float, invariant: str, detail: str) -> Violation:
        """A violation found outside the checker, named with the fault before it."""
        return self._violation(at_s, invariant, detail)

    def _violation(self, at_s: float, invariant: str, detail: str) -> Violation:
        before = [i for i in self.schedule if i.at_s <= at_s]
        return Violation(at_s, invariant, detail, before[-1].fault.value if before else None)

    def _in_grace(self, at_s: float, kinds: set[Fault]) -> bool:
        """Within a lease and two periods after such a fault began (the MCU's own lease runs
        out in that time, and no check can be quicker than a period); for a stuck sensor, its
        detection time on top."""
        grace = self.lease_s + 2 * self.period_s
        for i in self.schedule:
            if i.fault not in kinds or at_s < i.at_s:
                continue
            if i.fault is Fault.SENSOR_FROZEN:
                # Found after FROZEN_DETECTION_S of heating with the value stuck; a restarted
                # agent watches afresh (the count is not persisted across restarts).
                if at_s <= i.at_s + i.duration_s and (
                    self._frozen_heated_s <= FROZEN_DETECTION_S + grace
                ):
                    return True
            elif at_s <= i.at_s + grace:
                return True
        return False

    def _active(self, at_s: float, kinds: set[Fault]) -> bool:
        return any(
            i.fault in kinds and i.at_s <= at_s <= i.at_s + i.duration_s for i in self.schedule
        )

    def _no_heat_while_tripped(self, sample: Sample) -> list[Violation]:
        """I1: no lease while a trip is active or a sensor is broken (the MCU's view too)."""
        self.checked += 2
        found = []
        report = sample.report
        stopping = set(report.trips) - THROTTLE_ONLY
        if report.lease_s and report.lease_s > 0 and stopping:
            found.append(
                self._violation(
                    sample.at_s, "I1", f"lease {report.lease_s} s granted while {sorted(stopping)}"
                )
            )
        broken = self._active(sample.at_s, SENSOR_FAULTS)
        if broken and sample.mcu_power_w > 0 and not self._in_grace(sample.at_s, SENSOR_FAULTS):
            found.append(
                self._violation(
                    sample.at_s, "I1", f"MCU heating {sample.mcu_power_w:.0f} W, sensor broken"
                )
            )
        return found

    def _no_heat_above_the_maximum(self, sample: Sample) -> list[Violation]:
        """I3: no lease above max_temp_c, and the heater never heats a room that is past it."""
        self.checked += 2
        found = []
        report = sample.report
        hot = report.temp_c is not None and report.temp_c > self.max_temp_c
        if hot and report.lease_s and report.lease_s > 0:
            found.append(self._violation(sample.at_s, "I3", f"lease granted at {report.temp_c} °C"))
        past = sample.world_c > self.max_temp_c and sample.mcu_power_w > 0
        # While the controlled sensor is broken the agent cannot see the temperature: then the
        # MCU's own hard limit is the safety net, and the agent's duty is I1 (no heat once the
        # fault is detectable), not this.
        blind = self._active(sample.at_s, SENSOR_FAULTS) or self._in_grace(
            sample.at_s, SENSOR_FAULTS
        )
        if past and not blind and not self._in_grace(sample.at_s, {Fault.OVERHEAT}):
            found.append(
                self._violation(
                    sample.at_s,
                    "I3",
                    f"heating {sample.mcu_power_w:.0f} W at {sample.world_c:.2f} °C",
                )
            )
        return found

    def _setpoint_in_range(self, sample: Sample) -> list[Violation]:
        """I3: every setpoint the control law works to, and the next one a schedule announces,
        lies in the configured range, whatever the thermostat or the fleet said."""
        target = sample.report.target
        if self.setpoint_range_c is None or target is None:
            return []
        self.checked += 1
        low, high = self.setpoint_range_c
        values = [target.setpoint_c] + ([target.next_setpoint[1]] if target.next_setpoint else [])
        wrong = [v for v in values if not low <= v <= high]
        if not wrong:
            return []
        return [
            self._violation(
                sample.at_s, "I3", f"setpoint {wrong[0]:.1f} °C outside {low:.1f}..{high:.1f} °C"
            )
        ]

    def _heat_under_a_lease(self, sample: Sample) -> list[Violation]:
        """I1: heat is made only under the MCU's lease. Workers running while the MCU holds
        none (a link that works one way: the MCU no longer hears the grants) stop within the
        lease watch's periods, and the meter never reads negative heat (which would restart
        the stuck-sensor and runaway timers)."""
        self.checked += 2
        found = []
        if sample.report.measured_w < -1e-6:
            found.append(
                self._violation(
                    sample.at_s, "I1", f"measured heat negative: {sample.report.measured_w:.1f} W"
                )
            )
        if sample.workers_running == 0 or sample.mcu_lease:
            self._unleased_since_s = None
            return found
        if self._unleased_since_s is None:
            self._unleased_since_s = sample.at_s
        grace = self.lease_s + (LEASE_WATCH_PERIODS + 2) * self.period_s
        if sample.at_s - self._unleased_since_s > grace:
            found.append(
                self._violation(
                    sample.at_s,
                    "I1",
                    f"{sample.workers_running} workers running for "
                    f"{sample.at_s - self._unleased_since_s:.0f} s with no lease at the MCU",
                )
            )
        return found

    def _latched_until_reset(self, before: Sample, after: Sample) -> list[Violation]:
        """I2: a latched trip is never cleared but by a reset, across restarts too."""
        self.checked += 1
        cleared = (set(before.report.trips) - set(after.report.trips)) & LATCHED
        if cleared and after.resets == before.resets:
            return [self._violation(after.at_s, "I2", f"{sorted(cleared)} cleared without reset")]
        return []

    def _no_stall(self, before: Sample, after: Sample) -> list[Violation]:
        """I6: periods come on time (strict in virtual time), except across a kill or stop."""
        self.checked += 1
        gap = after.at_s - before.at_s
        if after.boot == before.boot and gap > 2 * self.period_s + 1e-6:
            return [self._violation(after.at_s, "I6", f"{gap:.1f} s between two periods")]
        return []
