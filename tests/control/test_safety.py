"""Safety interlocks in simulated time: each trip, its reason, and how it lifts."""

from __future__ import annotations

import pytest

from boiler_agent.control.safety import SafetyGuard, SafetyLimits, TripKind, Verdict

LIMITS = SafetyLimits(max_temp_c=30.0, valid_min_c=0.0, valid_max_c=45.0)


def _check(guard: SafetyGuard, now: float, temp: float | None, **kwargs: object) -> Verdict:
    options: dict[str, object] = {"power_fraction": 0.5, "setpoint_c": 20.0}
    options.update(kwargs)
    reading_at = options.pop("reading_at", now)
    return guard.check(now, temp, reading_at, **options)  # type: ignore[arg-type]


def test_normal_readings_allow_full_heat() -> None:
    guard = SafetyGuard(LIMITS)
    for step in range(10):
        verdict = _check(guard, step * 1.0, 19.0 + step * 0.01)
        assert verdict.allowed == 1.0 and not verdict.active


def _hold(guard: SafetyGuard, start: float, end: float, temp: float) -> Verdict:
    """Checks every 2 s from `start` to `end` at `temp`, without heat (as while tripped)."""
    verdict = _check(guard, start, temp, power_fraction=0.0)
    now = start
    while now + 2.0 <= end:
        now += 2.0
        verdict = _check(guard, now, temp, power_fraction=0.0)
    return verdict


def test_over_temperature_lifts_only_after_cooling_below_the_hysteresis_for_the_hold() -> None:
    guard = SafetyGuard(LIMITS)  # max 30 °C, hysteresis 2 K, hold 300 s
    tripped = _check(guard, 0.0, 30.5)
    assert tripped.allowed == 0.0
    assert [(e.kind, e.tripped) for e in tripped.events] == [(TripKind.OVER_TEMPERATURE, True)]
    assert "30.50 °C" in tripped.events[0].reason
    assert _hold(guard, 2.0, 400.0, 29.0).allowed == 0.0, "within the hysteresis: still tripped"
    assert _hold(guard, 402.0, 600.0, 27.5).allowed == 0.0, "cool, but not for the hold yet"
    assert _hold(guard, 602.0, 604.0, 28.5).allowed == 0.0, "back in the band: the hold restarts"
    assert _hold(guard, 606.0, 904.0, 27.0).allowed == 0.0
    lifted = _hold(guard, 906.0, 906.0, 27.0)
    assert lifted.allowed == 1.0
    assert [(e.kind, e.tripped) for e in lifted.events] == [(TripKind.OVER_TEMPERATURE, False)]


def test_over_temperature_is_not_an_operators_to_reset() -> None:
    guard = SafetyGuard(LIMITS)
    _check(guard, 0.0, 31.0)
    assert guard.reset(None, 1.0, by="root", why="impatient") == []
    assert _check(guard, 2.0, 31.0).allowed == 0.0


def test_latched_trips_survive_until_an_explicit_reset_and_can_be_restored() -> None:
    guard = SafetyGuard(LIMITS)
    for step in range(0, 320, 2):
        _check(guard, float(step), 18.5, power_fraction=0.8)
    assert set(guard.latched()) == {TripKind.FROZEN_SENSOR}
    fresh = SafetyGuard(LIMITS)  # an agent restarted: the record is restored
    fresh.restore(guard.latched())
    assert _check(fresh, 0.0, 19.0).allowed == 0.0
    events = fresh.reset({TripKind.RUNAWAY}, 1.0, by="root", why="wrong kind")
    assert events == [] and _check(fresh, 2.0, 19.1).allowed == 0.0
    events = fresh.reset(None, 3.0, by="alice", why="sensor replaced")
    assert [(e.kind, e.tripped) for e in events] == [(TripKind.FROZEN_SENSOR, False)]
    assert "alice" in events[0].reason and "sensor replaced" in events[0].reason
    assert _check(fresh, 4.0, 19.2).allowed == 1.0


def test_stale_reading_cuts_heat_and_lifts_when_readings_return() -> None:
    guard = SafetyGuard(LIMITS)
    assert _check(guard, 0.0, 19.0).allowed == 1.0
    stale = _check(guard, 4.0, 19.0, reading_at=-3.5)
    assert stale.allowed == 0.0 and TripKind.STALE_READING in stale.active
    fresh = _check(guard, 5.0, 19.0)
    assert fresh.allowed == 1.0
    assert [(e.kind, e.tripped) for e in fresh.events] == [(TripKind.STALE_READING, False)]


@pytest.mark.parametrize("temp", [None, float("nan"), -5.0, 60.0])
def test_missing_nan_or_impossible_readings_mean_no_heat(temp: float | None) -> None:
    verdict = _check(SafetyGuard(LIMITS), 0.0, temp)
    assert verdict.allowed == 0.0
    assert TripKind.INVALID_READING in verdict.active or TripKind.OVER_TEMPERATURE in verdict.active


def test_loop_stall_of_more_than_five_seconds_is_a_trip() -> None:
    guard = SafetyGuard(LIMITS)
    _check(guard, 0.0, 19.0)
    stalled = _check(guard, 6.0, 19.0)
    assert stalled.allowed == 0.0 and "stalled for 6.0 s" in stalled.events[0].reason
    assert _check(guard, 7.0, 19.0).allowed == 1.0


def test_frozen_sensor_while_heating_latches() -> None:
    guard = SafetyGuard(LIMITS)
    verdict = None
    for step in range(0, 320, 2):
        verdict = _check(guard, float(step), 18.5, power_fraction=0.8)
    assert verdict is not None and verdict.active == {TripKind.FROZEN_SENSOR}


def test_unchanged_reading_without_heat_is_not_frozen() -> None:
    guard = SafetyGuard(LIMITS)
    for step in range(0, 600, 2):
        verdict = _check(guard, float(step), 18.5, power_fraction=0.0)
    assert not verdict.active


def test_runaway_when_full_heat_does_not_raise_the_temperature() -> None:
    guard = SafetyGuard(LIMITS)
    verdict = None
    temp = 15.0
    for step in range(0, 700, 5):
        temp += 0.00005 * 5 + (0.001 if step % 10 else -0.001)  # noise, no real rise
        verdict = _check(guard, float(step), temp, power_fraction=1.0)
        if verdict.active:
            break
    assert verdict is not None and TripKind.RUNAWAY in verdict.active
    assert "expected at least 0.2 K" in verdict.events[-1].reason


def test_no_runaway_when_the_temperature_rises() -> None:
    guard = SafetyGuard(LIMITS)
    for step in range(0, 2000, 5):
        verdict = _check(guard, float(step), 10.0 + step * 0.001, power_fraction=1.0)
        assert not verdict.active


def test_mcu_fault_latches() -> None:
    guard = SafetyGuard(LIMITS)
    verdict = _check(guard, 0.0, 19.0, mcu_fault="failsafe_shutdown on sensor 1")
    assert verdict.allowed == 0.0
    assert _check(guard, 1.0, 19.0).allowed == 0.0
    assert _check(guard, 2.0, 19.0).allowed == 0.0, "an MCU that cleared itself is not a reset"
    guard.reset(None, 3.0, by="operator", why="fault understood")
    assert _check(guard, 4.0, 19.0).allowed == 1.0


def test_hot_cpu_throttles_rather_than_stops() -> None:
    guard = SafetyGuard(LIMITS)
    cool = _check(guard, 0.0, 19.0, cpu_temp_c=70.0, cpu_critical_c=100.0)
    assert cool.allowed == 1.0
    warm = _check(guard, 1.0, 19.0, cpu_temp_c=95.0, cpu_critical_c=100.0)
    assert warm.allowed == pytest.approx(0.5) and TripKind.CPU_HOT in warm.active


def test_runaway_window_outside_its_range_is_refused() -> None:
    with pytest.raises(ValueError, match="runaway_window_s"):
        SafetyLimits(max_temp_c=30.0, valid_min_c=0.0, valid_max_c=45.0, runaway_window_s=60.0)


def _heat_for_a_window(guard: SafetyGuard, rise_per_check_k: float, rate: float | None) -> Verdict:
    """Full heat for 700 s, one check a second, the temperature rising `rise_per_check_k` each."""
    temp = 15.0
    verdict = _check(guard, 0.0, temp, power_fraction=1.0, expected_rate_k_per_s=rate)
    for second in range(1, 701):
        temp += rise_per_check_k
        verdict = _check(guard, float(second), temp, power_fraction=1.0, expected_rate_k_per_s=rate)
        if TripKind.RUNAWAY in verdict.active:
            break
    return verdict


def test_an_undersized_heater_on_a_cold_night_is_not_a_runaway() -> None:
    # The model expects 0.24 K in 600 s and the room gains 0.15 K: slow, but as expected.
    verdict = _heat_for_a_window(SafetyGuard(LIMITS), 0.15 / 600, rate=0.24 / 600)
    assert TripKind.RUNAWAY not in verdict.active


def test_a_sensor_that_no_longer_sees_the_heat_trips_against_the_model() -> None:
    verdict = _heat_for_a_window(SafetyGuard(LIMITS), 0.0, rate=1.0 / 600)
    assert TripKind.RUNAWAY in verdict.active
    assert any("the model expected +1.00 K" in e.reason for e in verdict.events)


def test_a_model_that_expects_no_rise_cannot_trip_it() -> None:
    verdict = _heat_for_a_window(SafetyGuard(LIMITS), -0.1 / 600, rate=-0.05 / 600)
    assert TripKind.RUNAWAY not in verdict.active


def test_without_a_model_the_fixed_minimum_rise_applies() -> None:
    verdict = _heat_for_a_window(SafetyGuard(LIMITS), 0.15 / 600, rate=None)
    assert TripKind.RUNAWAY in verdict.active


def test_a_sensor_is_judged_stuck_in_real_seconds_even_when_the_plant_runs_faster() -> None:
    # simulate at x300: two real seconds are ten plant minutes, and the same reading twice
    # at a turning point of the temperature is not a stuck sensor.
    guard = SafetyGuard(LIMITS)
    for second in range(3):
        verdict = _check(guard, float(second), 15.0, power_fraction=1.0, plant_now_s=300.0 * second)
    assert TripKind.FROZEN_SENSOR not in verdict.active
    for second in range(3, 302):
        verdict = _check(guard, float(second), 15.0, power_fraction=1.0, plant_now_s=300.0 * second)
    assert TripKind.FROZEN_SENSOR in verdict.active  # 300 real seconds: it is stuck


def _cooling_under_full_heat(guard: SafetyGuard, **kwargs: object) -> Verdict:
    """Full heat for 700 s while the room still cools (loss larger than the heater)."""
    temp = 15.0
    verdict = _check(guard, 0.0, temp, power_fraction=1.0, expected_rate_k_per_s=5e-4, **kwargs)
    for second in range(1, 701):
        temp -= 0.0004
        verdict = _check(
            guard, float(second), temp, power_fraction=1.0, expected_rate_k_per_s=5e-4, **kwargs
        )
    return verdict


def test_a_heater_body_that_shows_the_heat_explains_a_room_that_still_cools() -> None:
    assert TripKind.RUNAWAY in _cooling_under_full_heat(SafetyGuard(LIMITS)).active
    hot_body = _cooling_under_full_heat(SafetyGuard(LIMITS), heater_body_c=28.0)
    assert TripKind.RUNAWAY not in hot_body.active
    cold_body = _cooling_under_full_heat(SafetyGuard(LIMITS), heater_body_c=16.0)
    assert TripKind.RUNAWAY in cold_body.active, "a body as cold as the room shows no heat"


def test_a_draw_the_controller_recovers_from_is_not_a_runaway() -> None:
    verdict = _cooling_under_full_heat(SafetyGuard(LIMITS), disturbed=True)
    assert TripKind.RUNAWAY not in verdict.active


def test_a_stuck_sensor_is_found_even_when_heating_keeps_pausing() -> None:
    """Heating that stops and starts (a flaky link, trips that lift) must not hide it."""
    guard = SafetyGuard(LIMITS)
    verdict = None
    for step in range(0, 1000, 2):
        heating = 0.8 if (step // 100) % 2 == 0 else 0.0  # 100 s on, 100 s off
        verdict = _check(guard, float(step), 18.5, power_fraction=heating)
        if TripKind.FROZEN_SENSOR in verdict.active:
            break
    assert verdict is not None and TripKind.FROZEN_SENSOR in verdict.active
    assert step < 700, f"found only at {step} s"


def test_a_changing_reading_restarts_the_stuck_sensor_count() -> None:
    guard = SafetyGuard(LIMITS)
    for step in range(0, 1200, 2):
        temp = 18.5 if (step // 200) % 2 == 0 else 18.51  # changes every 200 s of heating
        verdict = _check(guard, float(step), temp, power_fraction=0.8)
        assert TripKind.FROZEN_SENSOR not in verdict.active, step
