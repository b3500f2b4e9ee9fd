"""I8's second half: a healthy heater meets its comfort targets, scored as each period comes.

`ComfortScore.observe` takes every `Sample` of a run with no fault (as `Checker.observe` does)
and scores the heater's truth (the plant's temperature against the thermostat's setpoint, not
what the agent believes), with `bench control`'s definitions where they apply
(`simulation/closed_loop.metrics`):

- a room or office is scored over its occupied hours: each setpoint segment that began with a
  rise, from two hours after the rise (the warm-up is the controller's own business, judged by
  `bench control`'s discomfort) to the next change, never in the run's first hour, and not while
  the heater makes at least 95 % of its rating with the room still below its setpoint: then its
  size sets the pace, not its control (the office's 1500 W need five to six hours to lift a
  January office set back to 15 °C, pre-heating at full power from 04:30; `bench control`'s
  oracle judges the pre-heat). That time is reported as `saturated_h`.
  A run whose schedule never rises (a flat one) is scored from its first hour on. Target:
  `tracking_rms_k` (RMS of temperature - setpoint over those samples) at most 0.15 K: a fifth
  of the comfort band, four times what the default controller holds in a healthy room (0.034 K
  over a day), so a miss is a loop that hunts or drifts, not noise. `discomfort_kh`
  (kelvin-hours below setpoint - 0.5 K) and `max_excess_k` over the same samples are reported,
  not targets.
- a boiler (tank) must keep its top layer, the water that leaves the tap, at no less than its
  setpoint - 2 K outside draws, after the run's first hour. During a draw and for an hour after
  it the tank may sag: the heater, at most 4 kW, needs 47 minutes to put back the 11 MJ of a
  60 L bath heated 45 K from the mains, and a pre-charge cannot hold all of it without waste.
  2 K is what a user cannot feel at the tap (55 °C against 53 °C) and four times the comfort
  band of the rooms, since a tank is scored on every sample rather than on an RMS.

A miss is an I8 violation, with the figures that missed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from boiler_agent.faults.harness import Sample
from boiler_agent.faults.invariants import Violation

SETTLE_S = 3600.0  # the run's first hour is never scored
AFTER_RISE_S = 2 * 3600.0  # a setpoint rise is tracked from two hours after it
ROOM_TRACKING_RMS_K = 0.15
COMFORT_BAND_K = 0.5  # discomfort counts below setpoint - this (as in bench control)
TANK_BAND_K = 2.0
DRAW_RECOVERY_S = 3600.0
SATURATED_SHARE = 0.95  # a heater making this share of its rating is doing all it can


@dataclass
class ComfortScore:
    """Comfort over a healthy run; `heater_kind` is the config's: "room" or "boiler"."""

    heater_kind: str
    rated_power_w: float
    checked: int = 0  # samples scored
    _started_s: float | None = None
    _segment_setpoint_c: float | None = None
    _segment_rose_at_s: float | None = None  # when the current segment's rise came, if one did
    _rises: int = 0
    _saturated_s: float = 0.0  # occupied time below setpoint at full power: not scored
    _last_at_s: float | None = None
    _squares: float = 0.0
    _tracked: int = 0
    _discomfort_kh: float = 0.0
    _max_excess_k: float = -math.inf
    _last_draw_s: float | None = None
    _tank_low: list[tuple[float, float, float]] = field(default_factory=list)  # (at, °C, sp)
    _tank_low_s: float = 0.0
    _tank_min_margin_k: float = math.inf

    def __post_init__(self) -> None:
        if self.heater_kind not in ("room", "boiler"):
            raise ValueError(f"heater_kind must be room or boiler, got {self.heater_kind!r}")

    def observe(self, sample: Sample) -> None:
        at = sample.at_s
        dt = 0.0 if self._last_at_s is None else max(0.0, at - self._last_at_s)
        self._last_at_s = at
        if self._started_s is None:
            self._started_s = at
        setpoint = sample.setpoint_c
        if not math.isfinite(setpoint) or not math.isfinite(sample.world_c):
            return
        if self._segment_setpoint_c is None or setpoint != self._segment_setpoint_c:
            if self._segment_setpoint_c is not None and setpoint > self._segment_setpoint_c:
                self._segment_rose_at_s = at
                self._rises += 1
            else:
                self._segment_rose_at_s = None
            self._segment_setpoint_c = setpoint
        if at - self._started_s < SETTLE_S:
            return
        if self.heater_kind == "room":
            self._score_room(sample, dt)
        else:
            self._score_tank(sample, dt)

    def _score_room(self, sample: Sample, dt: float) -> None:
        rose = self._segment_rose_at_s
        if rose is None and self._rises:
            return  # a set-back, or the run's first segment of a schedule that rises later
        if rose is not None and sample.at_s - rose < AFTER_RISE_S:
            return
        below = sample.world_c < sample.setpoint_c
        if below and sample.mcu_power_w >= SATURATED_SHARE * self.rated_power_w:
            # At its rating and still short: the heater's size, not its control, sets the pace.
            self._saturated_s += dt
            return
        # A schedule that has not risen yet is taken as flat until it does: scored as such.
        error = sample.world_c - sample.setpoint_c
        self.checked += 1
        self._tracked += 1
        self._squares += error * error
        self._discomfort_kh += max(0.0, -error - COMFORT_BAND_K) * dt / 3600.0
        self._max_excess_k = max(self._max_excess_k, error)

    def _score_tank(self, sample: Sample, dt: float) -> None:
        if sample.draw_l_per_min > 0:
            self._last_draw_s = sample.at_s
            return
        if self._last_draw_s is not None and sample.at_s - self._last_draw_s < DRAW_RECOVERY_S:
            return
        self.checked += 1
        margin = sample.world_c - (sample.setpoint_c - TANK_BAND_K)
        self._tank_min_margin_k = min(self._tank_min_margin_k, margin)
        if margin < 0:
            self._tank_low_s += dt
            if len(self._tank_low) < 5:
                self._tank_low.append((sample.at_s, sample.world_c, sample.setpoint_c))

    # -- what the campaign reports ------------------------------------------------------------

    def report(self) -> dict[str, Any]:
        if self.heater_kind == "room":
            rms = math.sqrt(self._squares / self._tracked) if self._tracked else None
            return {
                "target": f"tracking_rms_k <= {ROOM_TRACKING_RMS_K}",
                "tracking_rms_k": None if rms is None else round(rms, 3),
                "discomfort_kh": round(self._discomfort_kh, 3),
                "max_excess_k": round(self._max_excess_k, 3) if self._tracked else None,
                "saturated_h": round(self._saturated_s / 3600.0, 2),
                "samples_scored": self._tracked,
                "met": rms is not None and rms <= ROOM_TRACKING_RMS_K,
            }
        margin = self._tank_min_margin_k
        return {
            "target": f"tank >= setpoint - {TANK_BAND_K} K, not in or {DRAW_RECOVERY_S:.0f} s "
            "after a draw",
            "min_margin_k": round(margin, 3) if math.isfinite(margin) else None,
            "below_band_min": round(self._tank_low_s / 60.0, 1),
            "samples_scored": self.checked,
            "met": self.checked > 0 and margin >= 0,
        }

    def violations(self) -> list[Violation]:
        """The misses, as I8 violations (none when the targets are met)."""
        report = self.report()
        if report["met"]:
            return []
        end = self._last_at_s or 0.0
        if self.heater_kind == "room":
            if not self._tracked:
                return [Violation(end, "I8", "no occupied hours to score comfort on", None)]
            return [
                Violation(
                    end,
                    "I8",
                    f"comfort missed: tracking_rms_k {report['tracking_rms_k']} over "
                    f"{self._tracked} occupied samples, target <= {ROOM_TRACKING_RMS_K}",
                    None,
                )
            ]
        if not self.checked:
            return [Violation(end, "I8", "no sample outside draws to score comfort on", None)]
        return [
            Violation(
                at,
                "I8",
                f"comfort missed: tank at {temp:.2f} °C outside draws, setpoint {setpoint:g} °C "
                f"- {TANK_BAND_K:g} K ({report['below_band_min']} min below in all)",
                None,
            )
            for at, temp, setpoint in self._tank_low
        ]
