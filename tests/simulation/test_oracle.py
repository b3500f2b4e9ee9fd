"""The boiler's oracle bound: a law told when every draw starts, its pre-charge searched."""

from __future__ import annotations

import pytest

from boiler_agent.control.inputs import ControlInput
from boiler_agent.simulation.oracle import VALORISATION_FLOOR, DrawOracle, oracle_bound
from heater_physics.plant import BOILER, Draw, DrawSchedule
from heater_physics.weather import WeatherSeries

HOUR = 3600.0


def test_the_oracle_charges_above_the_band_only_ahead_of_a_draw() -> None:
    draws = DrawSchedule([Draw(hour_of_day=7.0, litres=40.0, l_per_min=8.0)])
    law = DrawOracle(4000.0, draws, lead_s=900.0, ceiling_k=1.0)
    # 55.8 °C for a 55 °C setpoint: above the band (0.5 K), below the pre-charge ceiling.
    early = ControlInput(6.0 * HOUR, 55.8, 55.0, 20.0, None)
    ahead = ControlInput(6.9 * HOUR, 55.8, 55.0, 20.0, None)
    assert law.step(early) == 0.0
    assert law.step(ahead) == 4000.0
    assert law.step(ControlInput(6.9 * HOUR, 56.1, 55.0, 20.0, None)) == 0.0


def test_next_draw_start_wraps_past_midnight() -> None:
    draws = DrawSchedule([Draw(hour_of_day=7.0, litres=40.0, l_per_min=8.0)])
    assert draws.next_start_in_s(23.0 * HOUR) == pytest.approx(8.0 * HOUR)
    assert draws.next_start_in_s(7.0 * HOUR) == 0.0


@pytest.mark.slow
def test_the_bound_is_at_least_as_good_as_reacting_and_keeps_the_valorisation_floor() -> None:
    trials: list[int] = []
    best = oracle_bound(
        BOILER,
        WeatherSeries.constant(5.0),
        days=1.0,
        start_day=15.0,
        on_trial=lambda done, total: trials.append(done),
    )
    assert best["valorisation"] >= VALORISATION_FLOOR
    assert best["lead_min"] > 0, "knowing the draws should beat reacting to them"
    assert trials == list(range(1, len(trials) + 1)) and len(trials) == 26
