"""Control laws: limits, hysteresis, anti-windup, parameter errors, online model learning."""

from __future__ import annotations

import math

import pytest

from boiler_agent.control.controllers import KINDS, build_controller
from boiler_agent.control.default import ModelBased


@pytest.mark.parametrize("kind", KINDS)
def test_output_stays_within_zero_and_max(kind: str) -> None:
    controller = build_controller(kind, 500.0, 30.0)
    for i, measured in enumerate([-20.0, 0.0, 15.0, 18.9, 19.0, 19.4, 25.0, 60.0, 10.0]):
        power = controller.step(i * 30.0, measured, 19.0, 5.0, (i * 30.0 + 3600.0, 21.0))
        assert 0.0 <= power <= 500.0, f"{kind}: {power} W for {measured} °C"


def test_unknown_kind_and_bad_params_name_the_value() -> None:
    with pytest.raises(ValueError, match=r"kind.*'fuzzy'"):
        build_controller("fuzzy", 500.0, 30.0)
    with pytest.raises(ValueError, match=r"max_power_w.*-1"):
        build_controller("pi", -1.0, 30.0)
    with pytest.raises(ValueError, match=r"ti_s.*nan"):
        build_controller("pi", 500.0, 30.0, ti_s=math.nan)
    with pytest.raises(ValueError, match="gain"):
        build_controller("default", 500.0, 30.0, gain=3)


def test_bangbang_switches_only_outside_the_hysteresis_band() -> None:
    bb = build_controller("bangbang", 500.0, 30.0)
    assert bb.step(0, 18.6, 19.0) == 500.0  # below 19 - 0.3: on
    assert bb.step(30, 19.2, 19.0) == 500.0  # inside the band: stays on
    assert bb.step(60, 19.31, 19.0) == 0.0  # above 19 + 0.3: off
    assert bb.step(90, 18.8, 19.0) == 0.0  # inside the band: stays off
    assert bb.step(120, 18.69, 19.0) == 500.0


def test_pi_leaves_saturation_promptly_after_a_long_one() -> None:
    pi = build_controller("pi", 500.0, 30.0)
    for k in range(2 * 24 * 120):  # two days far below setpoint, saturated at full power
        assert pi.step(k * 30.0, 10.0, 19.0) == 500.0
    now = 2 * 86_400.0
    # The error changes sign: the output must fall out of saturation within a few periods.
    powers = [pi.step(now + k * 30.0, 19.5, 19.0) for k in range(1, 4)]
    assert powers[0] < 500.0, f"still saturated after the error changed sign: {powers}"


class FirstOrderPlant:
    """dT/dt = (P - UA (T - T_out)) / C, exact over each step."""

    def __init__(self, c_j_k: float, ua_w_k: float, temp_c: float) -> None:
        self.c, self.ua, self.temp = c_j_k, ua_w_k, temp_c

    def step(self, dt: float, power: float, outdoor: float) -> None:
        final = outdoor + power / self.ua
        self.temp = final + (self.temp - final) * math.exp(-dt * self.ua / self.c)


def test_default_learns_ua_and_c_of_a_first_order_plant() -> None:
    plant = FirstOrderPlant(400_000.0, 25.0, 15.0)
    controller = build_controller("default", 800.0, 30.0)
    assert isinstance(controller, ModelBased)
    for k in range(4 * 2880):  # four days, setpoint changing twice a day, outdoor swinging
        now = k * 30.0
        hour = now / 3600 % 24
        setpoint = 20.0 if 7 <= hour < 22 else 16.0
        outdoor = 5.0 + 5.0 * math.sin(now / 86_400 * 2 * math.pi)
        power = controller.step(now, plant.temp, setpoint, outdoor)
        plant.step(30.0, power, outdoor)
    c, ua = controller.model.capacity_j_k, controller.model.loss_w_k
    assert c == pytest.approx(400_000.0, rel=0.2), f"C learnt {c:.0f} J/K, expected 400000"
    assert ua == pytest.approx(25.0, rel=0.2), f"UA learnt {ua:.1f} W/K, expected 25"


def test_sudden_drops_like_hot_water_draws_are_kept_out_of_the_fit() -> None:
    plant = FirstOrderPlant(400_000.0, 25.0, 15.0)
    controller = build_controller("default", 800.0, 30.0)
    assert isinstance(controller, ModelBased)
    for k in range(4 * 2880):
        now = k * 30.0
        hour = now / 3600 % 24
        if k % 1440 == 700:  # twice a day something takes 3 K out at once
            plant.temp -= 3.0
        outdoor = 5.0 + 5.0 * math.sin(now / 86_400 * 2 * math.pi)
        setpoint = 20.0 if 7 <= hour < 22 else 16.0
        plant.step(30.0, controller.step(now, plant.temp, setpoint, outdoor), outdoor)
    assert controller.model.rejected > 0, "the drops were seen as disturbances"
    c = controller.model.capacity_j_k
    assert c == pytest.approx(400_000.0, rel=0.35), f"C learnt {c:.0f} J/K despite the drops"
