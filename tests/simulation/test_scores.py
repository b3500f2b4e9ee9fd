"""The scores `simulate` prints: bench control's definitions plus what a plot shows."""

from __future__ import annotations

import pytest

from boiler_agent.simulation.scores import (
    RunScores,
    demand_reversals,
    heat_delivered_share,
    rise_lateness_min,
)


def test_a_rise_met_after_half_an_hour_is_thirty_minutes_late() -> None:
    times = [60.0 * i for i in range(120)]
    setpoints = [16.0] * 10 + [19.0] * 110
    # Warms 0.1 K a minute from the rise: within the 0.5 K band 25 minutes after it.
    temps = [16.0] * 10 + [min(19.0, 16.0 + 0.1 * i) for i in range(110)]
    assert rise_lateness_min(times, temps, setpoints) == [25.0]


def test_a_rise_met_in_advance_is_not_late() -> None:
    times = [60.0 * i for i in range(20)]
    setpoints = [16.0] * 10 + [19.0] * 10
    temps = [18.8] * 20  # pre-heated
    assert rise_lateness_min(times, temps, setpoints) == [0.0]


@pytest.mark.parametrize(
    ("demands", "reversals"),
    [
        ([0, 500, 500, 0, 0, 500], 1),  # full, none, full again
        ([0, 500, 0, 500, 0, 500], 2),
        ([500, 300, 350, 280, 500], 0),  # modulating is not reversing
        ([500, 0, 0, 0], 0),  # off and stays off
    ],
)
def test_demand_reversals_count_full_to_none_and_back(demands: list[float], reversals: int) -> None:
    assert demand_reversals(demands, 500.0) == reversals


def test_heat_delivered_share_is_capped_at_the_rating() -> None:
    assert heat_delivered_share([250.0, 250.0], [500.0, 800.0], 500.0) == 0.5
    assert heat_delivered_share([0.0], [0.0], 500.0) == 1.0


def test_run_scores_leave_out_the_two_hours_after_a_rise() -> None:
    scores = RunScores(period_s=60.0, max_power_w=500.0, cores=2)
    for i in range(6 * 60):
        setpoint = 16.0 if i < 60 else 19.0
        # One hour to warm up (way off), then 0.1 K below the setpoint forever after.
        temp = 16.0 if i < 120 else 18.9
        scores.add(60.0 * i, temp, setpoint, 300.0, 300.0)
    figures = scores.scores()
    assert figures["tracking_rms_k"] == pytest.approx(0.1)
    assert figures["rise_late_min"] == [60.0]
    assert figures["demand_reversals"] == 0
