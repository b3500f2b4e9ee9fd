"""The oracle bound for a boiler: a law that knows every hot-water draw in advance.

No law that only reacts can pre-charge a tank for a draw it has not seen; this one is told when
each draw starts. It runs full power whenever the tank is below the setpoint plus the comfort
band (the best a reacting law can do), and from `lead_s` before each draw it charges the tank
up to `ceiling_k` above the setpoint. Heat stored above the band counts against valorisation,
so the bench searches the lead and the ceiling for the least discomfort at valorisation of at
least VALORISATION_FLOOR: what a controller with a perfect forecast could reach on this plant.
`bench control --preset boiler` reports it as `oracle_discomfort_kh`, beside the default law.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from boiler_agent.control.inputs import ControlInput
from boiler_agent.simulation.closed_loop import COMFORT_BAND_K, metrics, simulate
from heater_physics.plant import DrawSchedule, PlantPreset
from heater_physics.weather import WeatherSeries

VALORISATION_FLOOR = 0.97
LEADS_MIN = (5, 10, 15, 20, 30)  # pre-charge starts this long before each draw
# For each lead, the ceiling is bisected: a higher one means less discomfort and more heat
# stored above the band, so the best ceiling is the highest that keeps valorisation >= floor.
CEILING_RANGE_K = (COMFORT_BAND_K, 2.0)
BISECTIONS = 5  # the ceiling to within 1.5 / 2^5 ~ 0.05 K


class DrawOracle:
    def __init__(
        self, max_power_w: float, draws: DrawSchedule, *, lead_s: float, ceiling_k: float
    ) -> None:
        self.max_power_w = max_power_w
        self.draws = draws
        self.lead_s = lead_s
        self.ceiling_k = ceiling_k

    def step(self, inputs: ControlInput) -> float:
        top = inputs.setpoint_c + COMFORT_BAND_K
        if self.lead_s > 0 and self.draws.next_start_in_s(inputs.now_s) <= self.lead_s:
            top = inputs.setpoint_c + self.ceiling_k
        return self.max_power_w if inputs.measured_c < top else 0.0


def oracle_bound(
    preset: PlantPreset,
    weather: WeatherSeries,
    *,
    days: float,
    start_day: float,
    on_trial: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """The least discomfort any (lead, ceiling) reaches at valorisation >= the floor."""
    draws = DrawSchedule()
    total = 1 + len(LEADS_MIN) * BISECTIONS
    trials = 0

    def trial(lead_min: float, ceiling_k: float) -> dict[str, Any]:
        nonlocal trials
        law = DrawOracle(preset.rated_power_w, draws, lead_s=lead_min * 60.0, ceiling_k=ceiling_k)
        scores = metrics(simulate(law, preset, weather, days=days, start_day=start_day))
        trials += 1
        if on_trial is not None:
            on_trial(trials, total)
        return {**scores, "lead_min": lead_min, "ceiling_k": round(ceiling_k, 3)}

    # No pre-charge: the reacting bound, which stores nothing above the band.
    best = trial(0, COMFORT_BAND_K)
    for lead_min in LEADS_MIN:
        low, high = CEILING_RANGE_K
        for _ in range(BISECTIONS):
            middle = (low + high) / 2
            scores = trial(lead_min, middle)
            if scores["valorisation"] >= VALORISATION_FLOOR:
                low = middle
                if scores["discomfort_kh"] < best["discomfort_kh"]:
                    best = scores
            else:
                high = middle
    return best
