"""A first-order thermal model (heat capacity C, loss UA) learnt online by recursive least squares.

dT/dt = (P - UA (T - T_out)) / C, fitted on windows of averaged power and temperatures. The
regressors are scaled by the heater's power so one prior serves a bedroom and a water tank.
"""

from __future__ import annotations

import math

from boiler_agent.control.params import clamp
from boiler_agent.durations import HOUR_S

WINDOW_S = 600.0  # average over this long: smooths the heater's own lag and sensor noise
FORGETTING = 0.998  # per window: memory of ~500 windows, about 3.5 days
REF_K = 10.0  # temperature difference the loss regressor is scaled by
# Priors: the rated power holds the space 25 K above outdoor, with a 10 h time constant.
PRIOR_HOLD_K = 25.0
PRIOR_TAU_S = 36_000.0
PRIOR_VARIANCE = 10.0
# A window whose temperature fell faster than this many times the prior's unheated loss rate
# (plus DROP_SLACK_K_PER_H) is an unmodelled disturbance, such as a hot-water draw: skip it.
DROP_FACTOR = 2.0
DROP_SLACK_K_PER_H = 1.0
# After the caller reports a disturbance, leave this many windows unfitted: heat stored in
# the heater or in layers the sensor does not see is still coming out.
QUIET_WINDOWS = 2
MAX_TRACE = 1e3  # keep the covariance bounded through long stretches without excitation
# Bounds, in multiples of the rated power: UA from P/2000 to P/3 W/K, C from 100 s to 1e5 s.
UA_BOUNDS_PER_W = (1 / 2000, 1 / 3)
C_BOUNDS_PER_W = (100.0, 1e5)


class ThermalModel:
    """Online estimate of C (J/K) and UA (W/K) from applied power and measured temperatures."""

    def __init__(self, max_power_w: float) -> None:
        self.max_power_w = max_power_w
        ua = max_power_w / PRIOR_HOLD_K
        c = ua * PRIOR_TAU_S
        # theta = [3600 Pmax / C, 3600 REF UA / C]: both a few K/h for a room
        self.theta = [HOUR_S * max_power_w / c, HOUR_S * REF_K * ua / c]
        self.cov = [[PRIOR_VARIANCE, 0.0], [0.0, PRIOR_VARIANCE]]
        # (time, temperature, temperature - outdoor) at the window's start and the last sample
        self._start: tuple[float, float, float] | None = None
        self._last: tuple[float, float, float] | None = None
        self._sum_p = self._sum_diff = self._sum_dt = 0.0
        self.updates = 0
        self.rejected = 0
        self.skipped = 0
        self._quiet_until_s = -math.inf
        self._prior_loss_per_k_h = HOUR_S / PRIOR_TAU_S

    def _plausible(self, rate_k_h: float, mean_diff_k: float, power_fraction: float) -> bool:
        """False for a window no first-order plant explains.

        A fall faster than the loss to the boundary (a draw, an open window), or a rise faster
        than the heat applied could cause in the smallest plant allowed (heat stored in the
        heater or in a layer of a tank the sensor does not see, coming out).
        """
        loss = max(self._prior_loss_per_k_h, self.theta[1] / REF_K) * max(mean_diff_k, 0.0)
        rise = HOUR_S * power_fraction / C_BOUNDS_PER_W[0]
        slack = DROP_SLACK_K_PER_H
        return -(DROP_FACTOR * loss + slack) <= rate_k_h <= rise + slack

    @property
    def capacity_j_k(self) -> float:
        low, high = C_BOUNDS_PER_W
        raw = HOUR_S * self.max_power_w / self.theta[0] if self.theta[0] > 0 else math.inf
        return clamp(raw, low * self.max_power_w, high * self.max_power_w)

    @property
    def loss_w_k(self) -> float:
        low, high = UA_BOUNDS_PER_W
        raw = self.theta[1] * self.capacity_j_k / (HOUR_S * REF_K)
        return clamp(raw, low * self.max_power_w, high * self.max_power_w)

    def observe(
        self,
        now_s: float,
        measured_c: float,
        outdoor_c: float,
        power_w: float,
        disturbed: bool = False,
    ) -> None:
        """Record a sample; `power_w` is the heat applied since the previous sample.

        `disturbed`: the caller knows a disturbance is under way or being recovered from;
        windows that start within QUIET_WINDOWS windows after such a sample are not fitted.
        """
        if disturbed:
            self._quiet_until_s = now_s + QUIET_WINDOWS * WINDOW_S
        diff = measured_c - outdoor_c
        if self._start is None or self._last is None:
            self._start = self._last = (now_s, measured_c, diff)
            return
        last_s, _, last_diff = self._last
        dt = now_s - last_s
        if dt <= 0:
            return
        self._sum_p += power_w * dt
        self._sum_diff += 0.5 * (diff + last_diff) * dt
        self._sum_dt += dt
        self._last = (now_s, measured_c, diff)
        start_s, start_c, _ = self._start
        if now_s - start_s >= WINDOW_S:
            mean_p = self._sum_p / self._sum_dt
            mean_diff = self._sum_diff / self._sum_dt
            rate = (measured_c - start_c) / (now_s - start_s) * HOUR_S
            if start_s < self._quiet_until_s:
                self.skipped += 1
            elif self._plausible(rate, mean_diff, mean_p / self.max_power_w):
                self._update([mean_p / self.max_power_w, -mean_diff / REF_K], rate)
            else:
                self.rejected += 1
            self._start = self._last
            self._sum_p = self._sum_diff = self._sum_dt = 0.0

    def _update(self, phi: list[float], y: float) -> None:
        p = self.cov
        p_phi = [p[0][0] * phi[0] + p[0][1] * phi[1], p[1][0] * phi[0] + p[1][1] * phi[1]]
        denom = FORGETTING + phi[0] * p_phi[0] + phi[1] * p_phi[1]
        gain = [p_phi[0] / denom, p_phi[1] / denom]
        error = y - (self.theta[0] * phi[0] + self.theta[1] * phi[1])
        self.theta = [self.theta[0] + gain[0] * error, self.theta[1] + gain[1] * error]
        cov = [[(p[i][j] - gain[i] * p_phi[j]) / FORGETTING for j in range(2)] for i in range(2)]
        trace = cov[0][0] + cov[1][1]
        if trace > MAX_TRACE:
            cov = [[v * MAX_TRACE / trace for v in row] for row in cov]
        self.cov = cov
        self.updates += 1
