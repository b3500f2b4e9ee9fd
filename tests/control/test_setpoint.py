from __future__ import annotations

import pytest

from boiler_agent.control.setpoint import SetpointArbiter


def _room() -> SetpointArbiter:
    return SetpointArbiter("room", 5.0, 28.0)


def test_nothing_to_aim_at_before_the_thermostat_reports() -> None:
    assert _room().target(0.0) is None


def test_schedule_setpoint_and_its_announced_change() -> None:
    arbiter = _room()
    arbiter.thermostat(100.0, 16.0, "schedule", "heat", next_change=(3600.0, 19.0))
    target = arbiter.target(200.0)
    assert target is not None
    assert (target.setpoint_c, target.source, target.next_setpoint) == (
        16.0,
        "schedule",
        (3700.0, 19.0),
    )


def test_override_wins_until_it_expires() -> None:
    arbiter = _room()
    arbiter.thermostat(0.0, 19.0, "schedule", "heat")
    arbiter.override(22.0, until_s=500.0)
    during = arbiter.target(499.0)
    assert during is not None and (during.setpoint_c, during.source) == (22.0, "override")
    after = arbiter.target(500.0)
    assert after is not None and (after.setpoint_c, after.source) == (19.0, "schedule")


def test_turning_the_knob_cancels_a_remote_override() -> None:
    arbiter = _room()
    arbiter.thermostat(0.0, 19.0, "schedule", "heat")
    arbiter.override(23.0, until_s=None)
    assert arbiter.thermostat(10.0, 20.5, "knob", "heat") is True
    target = arbiter.target(11.0)
    assert target is not None and (target.setpoint_c, target.source) == (20.5, "knob")
    # The same knob position reported again is not a new action.
    arbiter.override(23.0, until_s=None)
    assert arbiter.thermostat(20.0, 20.5, "knob", "heat") is False
    again = arbiter.target(21.0)
    assert again is not None and again.setpoint_c == 23.0


@pytest.mark.parametrize(
    ("mode", "expected"), [("heat", 19.0), ("eco", 17.0), ("boost", 20.0), ("off", 7.0)]
)
def test_modes(mode: str, expected: float) -> None:
    arbiter = _room()
    arbiter.thermostat(0.0, 19.0, "schedule", "heat")
    arbiter.set_mode(mode, until_s=None)  # type: ignore[arg-type]
    target = arbiter.target(1.0)
    assert target is not None and target.setpoint_c == expected and target.mode == mode


def test_a_remote_mode_expires_back_to_the_thermostats() -> None:
    arbiter = _room()
    arbiter.thermostat(0.0, 19.0, "schedule", "eco")
    arbiter.set_mode("boost", until_s=60.0)
    boosted = arbiter.target(59.0)
    assert boosted is not None and boosted.mode == "boost"
    back = arbiter.target(60.0)
    assert back is not None and (back.mode, back.setpoint_c) == ("eco", 17.0)


def test_overrides_are_clamped_to_the_configured_range() -> None:
    arbiter = _room()
    arbiter.thermostat(0.0, 19.0, "schedule", "heat")
    arbiter.override(90.0, until_s=None)
    target = arbiter.target(1.0)
    assert target is not None and target.setpoint_c == 28.0
    with pytest.raises(ValueError, match="setpoint_c must be finite"):
        arbiter.override(float("nan"), until_s=None)


@pytest.mark.parametrize("source", ["schedule", "knob", "remote"])
def test_every_thermostat_setpoint_and_announcement_goes_through_the_clamp(source: str) -> None:
    arbiter = _room()
    arbiter.thermostat(0.0, 45.0, source, "heat", next_change=(600.0, 327.0))  # type: ignore[arg-type]
    target = arbiter.target(1.0)
    assert target is not None
    assert target.setpoint_c == target.base_setpoint_c == 28.0
    assert target.next_setpoint == (600.0, 28.0), "an announcement of 327 °C was not clamped"
    arbiter.thermostat(2.0, -40.0, source, "heat", next_change=(600.0, -80.0))  # type: ignore[arg-type]
    low = arbiter.target(3.0)
    assert low is not None and low.base_setpoint_c == 5.0 and low.next_setpoint == (602.0, 5.0)


def test_a_narrower_range_applies_to_what_was_set_before_it() -> None:
    arbiter = _room()
    arbiter.thermostat(0.0, 25.0, "knob", "heat")
    arbiter.setpoint_max_c = 22.0  # a reload narrowed the range
    target = arbiter.target(1.0)
    assert target is not None and target.setpoint_c == target.base_setpoint_c == 22.0


def test_frost_protection_stays_within_the_range_too() -> None:
    arbiter = SetpointArbiter("room", 10.0, 28.0)
    arbiter.thermostat(0.0, 20.0, "schedule", "off")
    target = arbiter.target(1.0)
    assert target is not None and target.setpoint_c == 10.0
