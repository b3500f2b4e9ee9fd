"""I8's comfort half on synthetic runs: a room that tracks and one that hunts, a tank that holds
and one that sags outside its draws; and what is left out of the score."""

from __future__ import annotations

import math

import pytest

from boiler_agent.daemon.loop import PeriodReport
from boiler_agent.faults.comfort import ComfortScore
from boiler_agent.faults.harness import Sample

HOUR = 3600.0
PERIOD = 10.0


def sample(
    at_s: float, temp_c: float, setpoint_c: float, *, power_w: float = 100.0, draw: float = 0.0
) -> Sample:
    report = PeriodReport(at_s, at_s, temp_c, None, power_w, 1.0, power_w, 3.0, {})
    return Sample(
        at_s, 1, report, temp_c, True, power_w, False, 0, setpoint_c=setpoint_c,
        draw_l_per_min=draw,
    )  # fmt: skip


def room_day(error_k: float, *, cold_start_k: float = 0.0) -> ComfortScore:
    """06:00 to 06:00: set back to 16 °C, 19 °C from 07:00 to 22:00; `error_k` a swing of the
    temperature around the setpoint (period 20 min) once it is reached."""
    score = ComfortScore("room", rated_power_w=500.0)
    for i in range(int(24 * HOUR / PERIOD)):
        at = i * PERIOD
        hour = 6.0 + at / HOUR
        setpoint = 19.0 if 7.0 <= hour % 24 < 22.0 else 16.0
        swing = error_k * math.sqrt(2) * math.sin(2 * math.pi * at / 1200.0)
        temp, power = setpoint + swing, 300.0
        if 7.0 <= hour < 10.0 and cold_start_k:
            # A warm-up that takes three hours at full power: not the control's doing.
            temp, power = setpoint - cold_start_k * (10.0 - hour) / 3.0, 500.0
        score.observe(sample(at, temp, setpoint, power_w=power))
    return score


def test_a_room_that_tracks_meets_its_target() -> None:
    score = room_day(0.05)
    report = score.report()
    assert report["met"] is True
    assert report["tracking_rms_k"] == pytest.approx(0.05, abs=0.005)
    # Occupied from 09:00 (two hours after the 07:00 rise) to 22:00: 13 hours of samples.
    assert report["samples_scored"] == pytest.approx(13 * HOUR / PERIOD, abs=2)
    assert score.violations() == []


def test_a_room_that_hunts_is_an_i8_violation() -> None:
    score = room_day(0.4)
    assert score.report()["met"] is False
    assert score.report()["tracking_rms_k"] == pytest.approx(0.4, abs=0.02)
    (violation,) = score.violations()
    assert violation.invariant == "I8"
    assert "tracking_rms_k 0.4" in violation.detail


def test_a_warm_up_at_full_power_is_not_scored_but_reported() -> None:
    score = room_day(0.05, cold_start_k=3.0)
    report = score.report()
    assert report["met"] is True
    assert report["saturated_h"] == pytest.approx(1.0, abs=0.01)  # 09:00-10:00 of the warm-up


def test_the_set_back_and_the_first_hour_are_not_scored() -> None:
    score = ComfortScore("room", rated_power_w=500.0)
    # A flat schedule (no rise yet): scored from the first hour on; a room 2 K off before it.
    for i in range(int(2 * HOUR / PERIOD)):
        at = i * PERIOD
        score.observe(sample(at, 19.0 if at >= HOUR else 17.0, 19.0))
    assert score.report()["tracking_rms_k"] == 0.0
    assert score.report()["samples_scored"] == int(HOUR / PERIOD)


def tank_day(sag_outside_draws_k: float) -> ComfortScore:
    """A 55 °C tank with a 07:00 draw of 5 min that drops it 8 K, back within the hour; at
    15:00 (no draw near) it sags by `sag_outside_draws_k` for ten minutes."""
    score = ComfortScore("boiler", rated_power_w=4000.0)
    for i in range(int(24 * HOUR / PERIOD)):
        at = i * PERIOD
        hour = 6.0 + at / HOUR
        draw = 8.0 if 7.0 <= hour < 7.0 + 5 / 60 else 0.0
        temp = 55.0
        if 7.0 <= hour < 8.0:
            temp = 47.0 + 8.0 * (hour - 7.0)  # the draw's sag and its recovery
        if 15.0 <= hour < 15.0 + 10 / 60:
            temp = 55.0 - sag_outside_draws_k
        score.observe(sample(at, temp, 55.0, draw=draw))
    return score


def test_a_tank_that_recovers_from_its_draws_meets_its_target() -> None:
    score = tank_day(1.0)
    report = score.report()
    assert report["met"] is True
    assert report["min_margin_k"] == pytest.approx(1.0)
    assert score.violations() == []


def test_a_tank_that_sags_outside_its_draws_is_an_i8_violation() -> None:
    score = tank_day(3.0)
    report = score.report()
    assert report["met"] is False
    assert report["below_band_min"] == pytest.approx(10.0, abs=0.2)
    violations = score.violations()
    assert violations and all(v.invariant == "I8" for v in violations)
    assert violations[0].at_s == pytest.approx(9 * HOUR)  # 15:00: nine hours after the start
    assert "52.00 °C" in violations[0].detail


def test_an_unknown_heater_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="room or boiler"):
        ComfortScore("sauna", rated_power_w=1.0)
