"""The no-heat watch: a heater asked for heat that makes none says so, and only then."""

from __future__ import annotations

from boiler_agent.daemon.heat_watch import NO_HEAT_AFTER_S, HeatWatch


def test_nothing_made_for_the_watch_window_is_a_problem_and_heat_clears_it() -> None:
    watch = HeatWatch()
    assert not watch.check(100.0, 0.0, 0.0)
    assert watch.check(100.0, 0.0, NO_HEAT_AFTER_S)
    assert watch.problem is not None and "made 0 W" in watch.problem
    assert watch.check(100.0, 80.0, NO_HEAT_AFTER_S + 1)
    assert watch.problem is None


def test_a_stretched_duty_period_is_waited_for_twice_before_saying_no_heat() -> None:
    """A 2 % request with a loop turning every 9 s runs a worker one turn in 450 s: minutes
    without heat in a period are the plan, not a failure (a fleet benchmark's false alarm)."""
    watch = HeatWatch()
    for t in range(0, 900, 9):
        assert not watch.check(10.0, 0.0, float(t), duty_period_s=450.0), t
    assert watch.problem is None
    assert watch.check(10.0, 0.0, 900.0, duty_period_s=450.0)
