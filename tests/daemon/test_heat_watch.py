"""The no-heat watch: a heater asked for heat that makes none says so, and only then."""

from __future__ import annotations

from boiler_agent.daemon.heat_watch import NO_HEAT_AFTER_S, HeatWatch


def test_nothing_made_for_the_watch_window_is_a_problem_and_heat_clears_it() -> None:
    watch = HeatWatch()
    assert not watch.check(100.0, 0.0, 0.0, workers=1)
    assert watch.check(100.0, 0.0, NO_HEAT_AFTER_S, workers=1)
    assert watch.problem is not None and "made 0 W" in watch.problem
    assert watch.check(100.0, 80.0, NO_HEAT_AFTER_S + 1, workers=1)
    assert watch.problem is None


def test_a_stretched_duty_period_is_waited_for_twice_before_saying_no_heat() -> None:
    """A 2 % request with a loop turning every 9 s runs a worker one turn in 450 s: minutes
    without heat in a period are the plan, not a failure (a fleet benchmark's false alarm)."""
    watch = HeatWatch()
    for t in range(0, 900, 9):
        assert not watch.check(10.0, 0.0, float(t), workers=1, duty_period_s=450.0), t
    assert watch.problem is None
    assert watch.check(10.0, 0.0, 900.0, workers=1, duty_period_s=450.0)


def test_a_small_request_held_off_by_the_power_loop_is_no_alarm() -> None:
    """A negative trim larger than a 0.4 W request leaves no worker running while it decays:
    the power loop's choice, not workers failing (a 200-heater fleet's false alarm)."""
    watch = HeatWatch()
    for t in range(0, 600, 9):
        assert not watch.check(0.4, 0.0, float(t), workers=0), t
    assert watch.problem is None
    assert not watch.check(0.4, 0.0, 600.0, workers=1)
    assert watch.check(0.4, 0.0, 600.0 + NO_HEAT_AFTER_S, workers=1), "a worker put to it counts"
