"""The default control law: learnt-model feed-forward, PI feedback, and optimum start."""

from __future__ import annotations

from boiler_agent.control.baselines import pi_integrate
from boiler_agent.control.model import ThermalModel
from boiler_agent.control.params import clamp, in_range, positive

CLOSED_LOOP_TAU_S = 1800.0  # feedback gain C / tau: the error halves in about 20 minutes
TI_S = 3600.0  # the integral takes over what the model misses within about an hour
KP_BOUNDS_PER_K = (0.1, 2.0)  # feedback gain as a fraction of the rated power per kelvin
PREHEAT_POWER_FRACTION = 0.7  # optimum start plans with this share of the rated power
MAX_PREHEAT_S = 3 * 3600.0
FALLBACK_OUTDOOR_C = 10.0
# Further below the reference than this is a disturbance (a draw, a door left open), not a
# modelling error: full power until back, with the integral held so it does not wind up.
BOOST_BELOW_K = 0.4
# Hold the output while a new value is within this share of the rated power: the workers
# running follow the power, and each start or stop costs.
HOLD_BAND_FRACTION = 0.06
# Once the model has seen disturbances (falls it cannot explain), aim this far above the
# setpoint: heat in hand for the next one, still inside the half-kelvin that counts as useful.
DISTURBED_MARGIN_K = 0.35  # when no outdoor temperature was ever given


class ModelBased:
    """Feed-forward UA (r - T_out) + C dr/dt from the learnt model, plus PI on r - T.

    The reference r is the setpoint, or during optimum start a ramp that reaches an announced
    higher setpoint at its time: `next_setpoint` is (time in the same clock as `now_s`, °C).
    """

    def __init__(
        self,
        max_power_w: float,
        period_s: float,
        closed_loop_tau_s: float = CLOSED_LOOP_TAU_S,
        ti_s: float = TI_S,
        preheat_power_fraction: float = PREHEAT_POWER_FRACTION,
    ) -> None:
        self.max_power_w = positive("max_power_w", max_power_w)
        self.period_s = positive("period_s", period_s)
        self.tau_cl = positive("closed_loop_tau_s", closed_loop_tau_s)
        self.ti_s = positive("ti_s", ti_s)
        self.preheat = in_range("preheat_power_fraction", preheat_power_fraction, 0.1, 1.0)
        self.model = ThermalModel(self.max_power_w)
        self.integral_w = 0.0
        self.reference_c = 0.0
        self._last_s: float | None = None
        self._last_power_w = 0.0
        self._outdoor_c = FALLBACK_OUTDOOR_C

    def step(
        self,
        now_s: float,
        measured_c: float,
        setpoint_c: float,
        outdoor_c: float | None = None,
        next_setpoint: tuple[float, float] | None = None,
    ) -> float:
        if outdoor_c is not None:
            self._outdoor_c = outdoor_c
        outdoor = self._outdoor_c
        self.model.observe(now_s, measured_c, outdoor, self._last_power_w)
        last = self._last_s
        dt = self.period_s if last is None else clamp(now_s - last, 0.0, 10 * self.period_s)
        self._last_s = now_s
        c, ua = self.model.capacity_j_k, self.model.loss_w_k
        margin = DISTURBED_MARGIN_K if self.model.rejected else 0.0
        reference, slope = self._reference(now_s, setpoint_c + margin, outdoor, next_setpoint)
        self.reference_c = reference
        feed_forward = ua * (reference - outdoor) + c * slope
        low, high = KP_BOUNDS_PER_K
        kp = clamp(c / self.tau_cl, low * self.max_power_w, high * self.max_power_w)
        error = reference - measured_c
        if error > BOOST_BELOW_K:
            power = self.max_power_w
        else:
            proportional = feed_forward + kp * error
            self.integral_w = pi_integrate(
                self.integral_w, proportional, kp * error * dt / self.ti_s, self.max_power_w
            )
            power = clamp(proportional + self.integral_w, 0.0, self.max_power_w)
            power = self._hold(power)
        self._last_power_w = power
        return power

    def _hold(self, power: float) -> float:
        """The last output unless the new one moved by more than the band or hit a bound."""
        band = HOLD_BAND_FRACTION * self.max_power_w
        if power in (0.0, self.max_power_w) or abs(power - self._last_power_w) > band:
            return power
        return self._last_power_w

    def _reference(
        self,
        now_s: float,
        setpoint_c: float,
        outdoor_c: float,
        next_setpoint: tuple[float, float] | None,
    ) -> tuple[float, float]:
        """(reference °C, its slope K/s): a ramp at the planned power into a higher setpoint."""
        if next_setpoint is None:
            return setpoint_c, 0.0
        at_s, target_c = next_setpoint
        if target_c <= setpoint_c or at_s <= now_s:
            return setpoint_c, 0.0
        c, ua = self.model.capacity_j_k, self.model.loss_w_k
        # The slowest rise on the way, at the target: plan the whole ramp at that rate.
        slope = (self.preheat * self.max_power_w - ua * (target_c - outdoor_c)) / c
        # Never start more than MAX_PREHEAT_S early: heat stored hours ahead is mostly lost.
        slope = max(slope, (target_c - setpoint_c) / MAX_PREHEAT_S)
        ramp = target_c - slope * (at_s - now_s)
        if ramp <= setpoint_c:
            return setpoint_c, 0.0
        return ramp, slope
