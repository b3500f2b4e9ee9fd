"""Baseline control laws kept for comparison: bang-bang with hysteresis, PI with anti-windup."""

from __future__ import annotations

from boiler_agent.control.inputs import ControlInput
from boiler_agent.control.params import clamp, non_negative, positive

BANGBANG_HYSTERESIS_K = 0.3  # on below setpoint - h, off above setpoint + h
# PI for a room: full power at 2 K below setpoint, the integral catches up in about an hour.
PI_KP_FRACTION_PER_K = 0.5  # proportional gain as a fraction of max power per kelvin
PI_TI_S = 3600.0


class BangBang:
    """Full power below setpoint - h, nothing above setpoint + h, the last state in between."""

    def __init__(self, max_power_w: float, period_s: float, hysteresis_k: float = 0.3) -> None:
        self.max_power_w = positive("max_power_w", max_power_w)
        self.period_s = positive("period_s", period_s)
        self.hysteresis_k = non_negative("hysteresis_k", hysteresis_k)
        self.on = False

    def step(self, inputs: ControlInput) -> float:
        if inputs.measured_c < inputs.setpoint_c - self.hysteresis_k:
            self.on = True
        elif inputs.measured_c > inputs.setpoint_c + self.hysteresis_k:
            self.on = False
        return self.max_power_w if self.on else 0.0


class PiController:
    """PI on the error; the integral only moves when that does not deepen a saturation."""

    def __init__(
        self,
        max_power_w: float,
        period_s: float,
        kp_w_per_k: float | None = None,
        ti_s: float = PI_TI_S,
    ) -> None:
        self.max_power_w = positive("max_power_w", max_power_w)
        self.period_s = positive("period_s", period_s)
        default_kp = PI_KP_FRACTION_PER_K * self.max_power_w
        self.kp = positive("kp_w_per_k", default_kp if kp_w_per_k is None else kp_w_per_k)
        self.ti_s = positive("ti_s", ti_s)
        self.integral_w = 0.0
        self._last_s: float | None = None

    def step(self, inputs: ControlInput) -> float:
        now_s = inputs.now_s
        dt = (
            self.period_s
            if self._last_s is None
            else clamp(now_s - self._last_s, 0.0, 10 * self.period_s)
        )
        self._last_s = now_s
        error = inputs.setpoint_c - inputs.measured_c
        self.integral_w = pi_integrate(
            self.integral_w, self.kp * error, self.kp * error * dt / self.ti_s, self.max_power_w
        )
        return clamp(self.kp * error + self.integral_w, 0.0, self.max_power_w)


def pi_integrate(integral: float, proportional: float, increment: float, max_w: float) -> float:
    """Conditional integration: skip an increment that pushes a saturated output further out.

    The integral itself stays within [-max, max] so it can never hold the output saturated for
    long after the error changes sign.
    """
    unclamped = proportional + integral
    if (unclamped >= max_w and increment > 0) or (unclamped <= 0 and increment < 0):
        return integral
    return clamp(integral + increment, -max_w, max_w)
