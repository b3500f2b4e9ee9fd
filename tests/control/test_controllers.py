"""Control laws: limits, hysteresis, anti-windup, parameter errors, online model learning,
and the default law's answer to disturbances."""

from __future__ import annotations

import math
import random

import pytest

from boiler_agent.control.controllers import KINDS, build_controller
from boiler_agent.control.default import ModelBased
from boiler_agent.control.inputs import ControlInput


@pytest.mark.parametrize("kind", KINDS)
def test_output_stays_within_zero_and_max(kind: str) -> None:
    controller = build_controller(kind, 500.0, 30.0)
    for i, measured in enumerate([-20.0, 0.0, 15.0, 18.9, 19.0, 19.4, 25.0, 60.0, 10.0]):
        power = controller.step(
            ControlInput(i * 30.0, measured, 19.0, 5.0, (i * 30.0 + 3600.0, 21.0))
        )
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
    assert bb.step(ControlInput(0, 18.6, 19.0)) == 500.0  # below 19 - 0.3: on
    assert bb.step(ControlInput(30, 19.2, 19.0)) == 500.0  # inside the band: stays on
    assert bb.step(ControlInput(60, 19.31, 19.0)) == 0.0  # above 19 + 0.3: off
    assert bb.step(ControlInput(90, 18.8, 19.0)) == 0.0  # inside the band: stays off
    assert bb.step(ControlInput(120, 18.69, 19.0)) == 500.0


def test_pi_leaves_saturation_promptly_after_a_long_one() -> None:
    pi = build_controller("pi", 500.0, 30.0)
    for k in range(2 * 24 * 120):  # two days far below setpoint, saturated at full power
        assert pi.step(ControlInput(k * 30.0, 10.0, 19.0)) == 500.0
    now = 2 * 86_400.0
    # The error changes sign: the output must fall out of saturation within a few periods.
    powers = [pi.step(ControlInput(now + k * 30.0, 19.5, 19.0)) for k in range(1, 4)]
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
        power = controller.step(ControlInput(now, plant.temp, setpoint, outdoor))
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
        plant.step(30.0, controller.step(ControlInput(now, plant.temp, setpoint, outdoor)), outdoor)
    model = controller.model
    assert model.rejected + model.skipped > 0, "the drops were not seen as disturbances"
    c = model.capacity_j_k
    assert c == pytest.approx(400_000.0, rel=0.35), f"C learnt {c:.0f} J/K despite the drops"


def _closed_loop(
    plant: FirstOrderPlant, controller: ModelBased, steps: int, noise_k: float = 0.0
) -> list[float]:
    """Step plant and controller together at 30 s, 20 °C setpoint, 5 °C outdoor; the powers."""
    readings = random.Random(7)
    powers = []
    for k in range(steps):
        reading = plant.temp + readings.gauss(0.0, noise_k) if noise_k else plant.temp
        power = controller.step(ControlInput(k * 30.0, reading, 20.0, 5.0))
        plant.step(30.0, power, 5.0)
        powers.append(power)
    return powers


def test_a_sudden_fall_gets_full_power_until_back_at_the_reference() -> None:
    plant = FirstOrderPlant(400_000.0, 25.0, 20.0)
    controller = ModelBased(800.0, 30.0)
    settled = _closed_loop(plant, controller, 2880)
    assert max(settled[-240:]) < 800.0, "not settled below full power after a day"
    plant.temp -= 0.3  # within 30 s: a draw, not a slow loss
    powers = []
    for k in range(2880, 2880 + 240):
        powers.append(controller.step(ControlInput(k * 30.0, plant.temp, 20.0, 5.0)))
        if plant.temp >= 20.0 - 0.05:
            break
        plant.step(30.0, powers[-1], 5.0)
    assert set(powers[:-1]) == {800.0}, f"a sudden fall must get full power until back: {powers}"
    assert powers[-1] < 800.0, "still at full power back at the setpoint"


def test_sensor_noise_is_not_taken_for_a_disturbance() -> None:
    plant = FirstOrderPlant(400_000.0, 25.0, 20.0)
    controller = ModelBased(800.0, 30.0)
    powers = _closed_loop(plant, controller, 2 * 2880, noise_k=0.05)
    assert controller.forecast.onsets == 0, "noise of 0.05 K was taken for sudden falls"
    late = powers[2880:]
    spread = max(late) - min(late)
    assert spread < 0.25 * 800.0, f"noise of 0.05 K moved the power over {spread:.0f} W"


def _drops_daily(times_of_day_h: list[float]) -> tuple[list[float], list[float]]:
    """A plant held at 20 °C that loses 3 K at once, one day per given time of day (hours).

    Returns the power and the temperature at every step.
    """
    plant = FirstOrderPlant(400_000.0, 25.0, 20.0)
    controller = build_controller("default", 800.0, 30.0)
    drops = {round((day * 24 + hour) * 120) for day, hour in enumerate(times_of_day_h)}
    powers, temps = [], []
    for k in range(len(times_of_day_h) * 2880):
        if k in drops:
            plant.temp -= 3.0
        power = controller.step(ControlInput(k * 30.0, plant.temp, 20.0, 5.0))
        powers.append(power)
        temps.append(plant.temp)
        plant.step(30.0, power, 5.0)
    return powers, temps


def test_a_disturbance_that_recurs_daily_is_met_with_full_power_ahead_of_it() -> None:
    powers, temps = _drops_daily([12.0, 12.0, 12.0, 12.0])
    for day in (2, 3):
        drop = round((day * 24 + 12.0) * 120)
        ahead = powers[drop - 10 : drop]
        assert 800.0 in ahead, f"day {day}: no full power in the 5 minutes before the drop"
    first = round(12.0 * 120)
    assert 800.0 not in powers[first - 10 : first], "full power before a drop never seen yet"
    assert max(temps[2880:]) <= 20.5 + 0.1, "the precharge heated above the useful band"


def test_disturbances_at_random_times_are_not_forecast() -> None:
    powers, _ = _drops_daily([3.0, 15.5, 9.25, 20.0])
    for day, hour in enumerate([3.0, 15.5, 9.25, 20.0]):
        drop = round((day * 24 + hour) * 120)
        assert 800.0 not in powers[drop - 10 : drop], f"day {day}: full power before a surprise"
