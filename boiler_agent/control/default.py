"""The default control law: model feed-forward, PI feedback, optimum start, draw recovery."""

from __future__ import annotations

import math

from boiler_agent.control.baselines import pi_integrate
from boiler_agent.control.inputs import ControlInput
from boiler_agent.control.learnt import LearntForecast, LearntModel
from boiler_agent.control.model import ThermalModel
from boiler_agent.control.params import clamp, in_range, positive
from boiler_agent.durations import DAY_S, HOUR_S

CLOSED_LOOP_TAU_S = 1800.0  # feedback gain C / tau: the error halves in about 20 minutes
TI_S = 3600.0  # the integral takes over what the model misses within about an hour
KP_BOUNDS_PER_K = (0.1, 2.0)  # feedback gain as a fraction of the rated power per kelvin
PREHEAT_POWER_FRACTION = 0.7  # optimum start plans with this share of the rated power
MAX_PREHEAT_S = 3 * HOUR_S
FALLBACK_OUTDOOR_C = 10.0
FILTER_PERIODS = 4.0  # the reading feedback acts on is smoothed over this many periods
# Heat is wanted up to this far above the setpoint; above it, heating stores heat for nothing.
USEFUL_BAND_K = 0.5
# Falling faster than this beyond the modelled loss is a disturbance starting (a draw, a door
# left open), not a modelling error: the model skips it, and the controller recovers from it.
SUDDEN_FALL_K_PER_H = 12.0
NOISE_SIGMAS = 5.0  # ... and by more than this many standard deviations of the sensor noise
NOISE_ALPHA = 0.01  # the noise estimate follows about the last hundred readings
NOISE_PRIOR_C = 0.05  # assumed until measured: a typical sensor's noise
# Full power, with the integral held so it does not wind up, from a sudden fall, or from
# further below the setpoint than BOOST_BELOW_K, until back within BOOST_EXIT_K of the reference.
BOOST_BELOW_K = 0.4
BOOST_EXIT_K = 0.05
# Once disturbances recur (MARGIN_MIN_ONSETS in recent days), aim this far above the setpoint:
# heat in hand for the next one, still inside the band where heat is wanted.
DISTURBED_MARGIN_K = 0.4
MARGIN_MIN_ONSETS = 2
# Disturbances that started at about the same time of day (within FORECAST_TOLERANCE_S) on
# FORECAST_MIN_DAYS of the last FORECAST_DAYS days are expected again at that time.
FORECAST_DAYS = 3
FORECAST_MIN_DAYS = 2
FORECAST_TOLERANCE_S = 900.0
# Full power starts a lead ahead of an expected disturbance (a precharge), so the recovery is
# under way when it comes. The lead learns: longer when the disturbance came during the
# precharge, shorter when the temperature left the useful band before it came.
LEAD_INITIAL_PERIODS = 4.0
LEAD_GROWTH = 1.1
LEAD_SHRINK = 0.7
MAX_LEAD_S = 3600.0
# A precharge may store heat this far above the useful band: heat in hand for a draw known to
# come is worth the few per cent stored above the band (valorisation stays >= 0.97 on the
# boiler preset; 0.984 in `bench control --preset boiler`), and brings the default within 10 %
# of the oracle that knows every draw (boiler_agent.simulation.oracle).
PRECHARGE_ABOVE_BAND_K = 0.5
# Leaving a boost for a setpoint rise, the output starts this share of the way from what the
# model's feedback asks back up to full power (bumpless transfer, in part). Full power is an
# upper bound of the heat that holds the setpoint; the model's feed-forward, on a first day
# learnt only from a warm-up, is far below it (a room whose walls are still cold loses more
# than its air's warm-up rate says): cut to it, the air fell 0.35-0.45 K before the integral
# caught up. A quarter of the way: 0.1-0.25 K under, 0.1-0.2 K over (a half: 0.45 K over).
# Disturbance recoveries end with a model that has seen the plant: no blend.
BOOST_EXIT_BLEND = 0.25


class ModelBased:
    """Feed-forward UA (r - T_out) + C dr/dt from the learnt model, plus PI on r - T.

    The reference r is the setpoint, or during optimum start a ramp that reaches an announced
    higher setpoint at its time: `next_setpoint` is (time in the same clock as `now_s`, °C).
    Sudden falls (a hot-water draw, a window opened) are disturbances, not model errors: full
    power from the fall until back at the reference, and a little ahead of those that recur at
    the same time of day. Heat is never added above the band where it is wanted.
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
        self.falls = FallDetector()
        self.forecast = DisturbanceForecast(min(LEAD_INITIAL_PERIODS * self.period_s, MAX_LEAD_S))
        self.integral_w = 0.0
        self.reference_c = 0.0
        self._last_s: float | None = None
        self._last_power_w = 0.0
        self._outdoor_c = FALLBACK_OUTDOOR_C
        self._smooth_c = math.nan
        self._recovering = False  # from a sudden fall until back at the reference
        self._boost = False

    def learnt(self, now_s: float) -> tuple[LearntModel, LearntForecast]:
        """What this controller has learnt, with onsets as seconds before `now_s`."""
        model = self.model
        forecast = self.forecast
        return (
            LearntModel(
                theta=(model.theta[0], model.theta[1]),
                cov=((model.cov[0][0], model.cov[0][1]), (model.cov[1][0], model.cov[1][1])),
                updates=model.updates,
            ),
            LearntForecast(
                lead_s=forecast.lead_s,
                onsets_ago_s=[now_s - onset for onset in forecast.onsets_s],
            ),
        )

    def restore(
        self, model: LearntModel, forecast: LearntForecast, now_s: float, ago_s: float
    ) -> None:
        """Resume from what was learnt `ago_s` seconds before `now_s` (the onsets move back)."""
        self.model.theta = [model.theta[0], model.theta[1]]
        self.model.cov = [[model.cov[0][0], model.cov[0][1]], [model.cov[1][0], model.cov[1][1]]]
        self.model.updates = model.updates
        self.forecast.lead_s = min(max(forecast.lead_s, self.forecast.min_lead_s), MAX_LEAD_S)
        self.forecast.restore_onsets([now_s - ago_s - ago for ago in forecast.onsets_ago_s])

    @property
    def disturbed(self) -> bool:
        """Recovering from a sudden fall (a hot-water draw): no rise is owed until it is over."""
        return self._recovering

    def expected_rate_k_per_s(self, measured_c: float, power_w: float) -> float:
        """How fast the model says `power_w` warms the plant now (K/s; negative: it cools).

        For the safety guard's runaway check: heat applied without the rise the model expects
        means the sensor no longer sees the heat.
        """
        model = self.model
        return (power_w - model.loss_w_k * (measured_c - self._outdoor_c)) / model.capacity_j_k

    def step(self, inputs: ControlInput) -> float:
        now_s, measured_c, setpoint_c = inputs.now_s, inputs.measured_c, inputs.setpoint_c
        if inputs.outdoor_c is not None:
            self._outdoor_c = inputs.outdoor_c
        outdoor = self._outdoor_c
        last = self._last_s
        dt = self.period_s if last is None else clamp(now_s - last, 0.0, 10 * self.period_s)
        self._last_s = now_s
        model = self.model
        loss_k_h = model.loss_w_k * (measured_c - outdoor) / model.capacity_j_k * HOUR_S
        sudden = self.falls.update(measured_c, dt, loss_k_h)
        model.observe(now_s, measured_c, outdoor, self._last_power_w, sudden or self._recovering)
        margin = DISTURBED_MARGIN_K if self.forecast.recurring else 0.0
        reference, slope = self._reference(
            now_s, setpoint_c + margin, outdoor, inputs.next_setpoint
        )
        self.reference_c = reference
        error = reference - measured_c
        smooth = self._smoothed(measured_c, dt)
        fell = sudden and error > BOOST_EXIT_K  # and it took the temperature below the reference
        if fell and not self._recovering:
            self._recovering = True
            self.forecast.record(now_s)
        ceiling = reference - margin + USEFUL_BAND_K  # the top of the band where heat is wanted
        busy = self._boost or self._recovering
        precharge_top = ceiling + PRECHARGE_ABOVE_BAND_K
        precharging = self.forecast.precharging(now_s, smooth <= precharge_top, fell, busy)
        if fell or error > margin + BOOST_BELOW_K:
            self._boost = True
        rise_boost_ended = self._boost and not self._recovering and error <= BOOST_EXIT_K
        if error <= BOOST_EXIT_K:
            self._boost = self._recovering = False
        if self._boost or precharging:
            power = self.max_power_w
            self._smooth_c = measured_c  # feedback resumes from where the recovery ends
        else:
            power = self._feedback(reference, slope, reference - smooth, outdoor, dt)
            if rise_boost_ended:
                lift = BOOST_EXIT_BLEND * (self.max_power_w - power)
                self.integral_w = clamp(self.integral_w + lift, -self.max_power_w, self.max_power_w)
                power += lift
            if smooth > ceiling:  # heat now would be stored for nothing
                power = 0.0
        self._last_power_w = power
        return power

    def _smoothed(self, measured_c: float, dt: float) -> float:
        """The reading feedback and the ceiling act on, smoothed so sensor noise does not reach
        the workers; falls and recoveries act on the raw reading, without this lag."""
        alpha = dt / (dt + FILTER_PERIODS * self.period_s)
        smooth = measured_c if math.isnan(self._smooth_c) else self._smooth_c
        self._smooth_c = smooth + alpha * (measured_c - smooth)
        return self._smooth_c

    def _feedback(
        self, reference: float, slope: float, error: float, outdoor: float, dt: float
    ) -> float:
        """Feed-forward from the model plus PI on the error, the integral kept from winding up."""
        c, ua = self.model.capacity_j_k, self.model.loss_w_k
        low, high = KP_BOUNDS_PER_K
        kp = clamp(c / self.tau_cl, low * self.max_power_w, high * self.max_power_w)
        proportional = ua * (reference - outdoor) + c * slope + kp * error
        self.integral_w = pi_integrate(
            self.integral_w, proportional, kp * error * dt / self.ti_s, self.max_power_w
        )
        return clamp(proportional + self.integral_w, 0.0, self.max_power_w)

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


class FallDetector:
    """Sudden falls of the measured temperature, told apart from the sensor's own noise."""

    def __init__(self) -> None:
        self.noise_c = NOISE_PRIOR_C  # estimated standard deviation of one reading
        self._last_c = self._before_c = math.nan

    def update(self, measured_c: float, dt: float, loss_k_h: float) -> bool:
        """True when the reading fell since the last one faster than loss and noise explain."""
        if not math.isfinite(measured_c):
            return False
        before, last = self._before_c, self._last_c
        self._before_c, self._last_c = last, measured_c
        if not (dt > 0 and math.isfinite(last)):
            return False
        fall = last - measured_c - max(loss_k_h, 0.0) * dt / HOUR_S
        # A difference of two readings carries the noise of both: sqrt(2) sigma.
        threshold = max(
            SUDDEN_FALL_K_PER_H * dt / HOUR_S, NOISE_SIGMAS * math.sqrt(2) * self.noise_c
        )
        if fall > threshold:
            return True
        if math.isfinite(before):
            # Second differences cancel slow trends; for white noise their variance is 6 sigma^2.
            # Clipped so one step of the plant does not pass for noise.
            curvature = min(abs(measured_c - 2 * last + before), threshold)
            variance = self.noise_c**2 + NOISE_ALPHA * (curvature**2 / 6 - self.noise_c**2)
            self.noise_c = math.sqrt(variance)
        return False


class DisturbanceForecast:
    """When disturbances started on past days, and whether to precharge ahead of the next one.

    A precharge starts `lead_s` before a disturbance expected at this time of day and lasts
    until one comes, until heat is no longer wanted, or until the expected time has passed by
    the tolerance. At most one precharge per expected disturbance.
    """

    def __init__(self, lead_s: float) -> None:
        self.lead_s = self.min_lead_s = lead_s
        self._onsets_s: list[float] = []
        self._started_s: float | None = None
        self._blocked_until_s = -math.inf

    @property
    def onsets(self) -> int:
        """Disturbances started in recent days."""
        return len(self._onsets_s)

    @property
    def onsets_s(self) -> list[float]:
        return list(self._onsets_s)

    def restore_onsets(self, onsets_s: list[float]) -> None:
        """Onsets learnt before a restart, already on this run's clock; old ones drop out."""
        self._onsets_s = sorted(onsets_s)

    @property
    def recurring(self) -> bool:
        """Disturbances are part of this plant's life: more than one in recent days."""
        return self.onsets >= MARGIN_MIN_ONSETS

    @property
    def active(self) -> bool:
        return self._started_s is not None

    def record(self, now_s: float) -> None:
        keep = (FORECAST_DAYS + 1) * DAY_S
        self._onsets_s = [t for t in self._onsets_s if now_s - t <= keep]
        self._onsets_s.append(now_s)

    def precharging(self, now_s: float, heat_wanted: bool, fell: bool, busy: bool) -> bool:
        """Whether to run full power now.

        `heat_wanted`: the temperature is inside the useful band; `fell`: a disturbance started
        at this step; `busy`: the controller is already recovering from one.
        """
        started = self._started_s
        if started is not None:
            if fell:  # it came while precharging: starting earlier would have helped
                self.lead_s = min(self.lead_s * LEAD_GROWTH, MAX_LEAD_S)
            elif not heat_wanted:  # too early: the heat would have waited above the band
                self.lead_s = max(LEAD_SHRINK * self.lead_s, self.min_lead_s)
            over = now_s >= started + self.lead_s + FORECAST_TOLERANCE_S
            if fell or busy or not heat_wanted or over:
                self._started_s = None
                return False
            return True
        if fell or busy or not heat_wanted or now_s < self._blocked_until_s:
            return False
        if not self._expected(now_s):
            return False
        self._started_s = now_s
        # One precharge per expected disturbance: its window is over after both tolerances.
        self._blocked_until_s = now_s + self.lead_s + 2 * FORECAST_TOLERANCE_S
        return True

    def _expected(self, now_s: float) -> bool:
        """On enough past days a disturbance started within [now - tolerance, now + lead]."""
        days = set()
        for t in self._onsets_s:
            day = round((now_s - t) / DAY_S)
            ahead_s = t + day * DAY_S - now_s
            if 1 <= day <= FORECAST_DAYS and -FORECAST_TOLERANCE_S <= ahead_s <= self.lead_s:
                days.add(day)
        return len(days) >= FORECAST_MIN_DAYS
