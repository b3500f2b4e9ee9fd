"""How well a whole-agent run heated: `bench control`'s scores, plus what a user sees on a plot.

`simulate` samples the plant at a fixed period of plant time (every sample, not the plot's
decimated trace) and scores the run with the same definitions as `bench control`
(`simulation.closed_loop.metrics`: tracking from two hours after each setpoint rise, so the
first hours of a run and every warm-up are left out), and adds two figures that the
controller benchmark cannot see because it has no workers, holds or real-time delays:

- `rise_late_min`: for each setpoint rise, how many minutes after the rise the temperature
  first came within the comfort band (0: the rise was met on time, thanks to pre-heating);
- `demand_reversals`: swings of the heat demand from full heat to none and back, the
  signature of a loop that oscillates rather than settles;
- `heat_delivered_share`: the heat the plant received over the heat asked for (capped at the
  rating): real workers on a busy machine get less CPU than they are given, at idle priority.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from boiler_agent.durations import DAY_S
from boiler_agent.simulation.closed_loop import COMFORT_BAND_K, LoopRecord, metrics

FULL_FRACTION = 0.9  # a demand at or above this share of the rating is "full heat"
NONE_FRACTION = 0.05  # at or below this share, "none"


@dataclass
class RunScores:
    """Samples of one run at a fixed plant period, scored at the end."""

    period_s: float
    max_power_w: float
    cores: int
    times_s: list[float] = field(default_factory=list)
    temps_c: list[float] = field(default_factory=list)
    setpoints_c: list[float] = field(default_factory=list)
    powers_w: list[float] = field(default_factory=list)  # the heat the plant received
    demands_w: list[float] = field(default_factory=list)  # what the controller asked for

    def add(
        self, at_s: float, temp_c: float, setpoint_c: float, power_w: float, demand_w: float
    ) -> None:
        self.times_s.append(at_s)
        self.temps_c.append(temp_c)
        self.setpoints_c.append(setpoint_c)
        self.powers_w.append(power_w)
        self.demands_w.append(demand_w)

    def scores(self) -> dict[str, Any]:
        """The run's figures; empty before two samples."""
        if len(self.times_s) < 2:
            return {}
        record = LoopRecord(
            self.times_s,
            self.temps_c,
            self.setpoints_c,
            self.powers_w,
            self.max_power_w,
            self.cores,
            self.period_s,
        )
        figures = metrics(record)
        rises = rise_lateness_min(self.times_s, self.temps_c, self.setpoints_c)
        first_rise = first_rise_index(self.setpoints_c)
        reversals = demand_reversals(
            self.demands_w[first_rise:] if first_rise is not None else [], self.max_power_w
        )
        occupied_days = occupied_days_after(self.times_s, first_rise)
        return {
            "tracking_rms_k": figures["tracking_rms_k"],
            "discomfort_kh": figures["discomfort_kh"],
            "overshoot_k": figures["overshoot_k"],
            "valorisation": figures["valorisation"],
            "rise_late_min": rises,
            "demand_reversals": reversals,
            "demand_reversals_per_day": round(reversals / occupied_days, 2)
            if occupied_days
            else None,
            "plant_energy_kwh": figures["energy_kwh"],
            "heat_delivered_share": heat_delivered_share(
                self.powers_w, self.demands_w, self.max_power_w
            ),
        }


def first_rise_index(setpoints_c: list[float]) -> int | None:
    for i in range(1, len(setpoints_c)):
        if setpoints_c[i] > setpoints_c[i - 1]:
            return i
    return None


def occupied_days_after(times_s: list[float], first_rise: int | None) -> float:
    """Days of run from the first rise on (reversals are counted per day of it)."""
    if first_rise is None:
        return 0.0
    return max(0.0, times_s[-1] - times_s[first_rise]) / DAY_S


def rise_lateness_min(
    times_s: list[float], temps_c: list[float], setpoints_c: list[float]
) -> list[float]:
    """Per setpoint rise: minutes until the temperature first reached setpoint - band.

    A rise not met before the setpoint changes again (or the run ends) counts until then.
    """
    late: list[float] = []
    n = len(times_s)
    for i in range(1, n):
        if setpoints_c[i] <= setpoints_c[i - 1]:
            continue
        j = i
        while j + 1 < n and setpoints_c[j + 1] == setpoints_c[i]:
            if temps_c[j] >= setpoints_c[i] - COMFORT_BAND_K:
                break
            j += 1
        late.append(round((times_s[j] - times_s[i]) / 60.0, 1))
    return late


def demand_reversals(demands_w: list[float], max_power_w: float) -> int:
    """How many times the demand went from full heat to none and back to full."""
    if max_power_w <= 0:
        return 0
    level: str | None = None  # the last extreme reached: "full" or "none"
    seen_full_then_none = False
    count = 0
    for demand in demands_w:
        fraction = demand / max_power_w
        if fraction >= FULL_FRACTION:
            if level == "none" and seen_full_then_none:
                count += 1
            level = "full"
            seen_full_then_none = False
        elif fraction <= NONE_FRACTION:
            if level == "full":
                seen_full_then_none = True
            level = "none"
    return count


def heat_delivered_share(
    powers_w: list[float], demands_w: list[float], max_power_w: float
) -> float:
    """Heat received over heat asked (each sample capped at the rating); 1.0 when none asked."""
    asked = sum(min(max(0.0, demand), max_power_w) for demand in demands_w)
    if asked <= 0:
        return 1.0
    return round(min(sum(powers_w), asked) / asked, 3)
