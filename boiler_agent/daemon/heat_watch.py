"""Says when the heater cannot make heat: heat asked for and allowed, but the workers make none.

Workers that crash-loop, a broken kernel cache, every knob refused: the power loop asks and
nothing burns. A heater that silently stays cold is the worst failure an occupant can have, so
this turns it into an event, a status line and a telemetry flag, and says when it is over.
"""

from __future__ import annotations

import logging

from boiler_agent.daemon.uplink import Uplink

log = logging.getLogger(__name__)

NO_HEAT_AFTER_S = 60.0  # asked and allowed, nothing made, this long (real seconds)
MADE_SHARE = 0.05  # less than this share of the request counts as nothing


class HeatWatch:
    def __init__(self, after_s: float = NO_HEAT_AFTER_S) -> None:
        self.after_s = after_s
        self.problem: str | None = None
        self._since: float | None = None

    def check(
        self,
        requested_w: float,
        measured_w: float,
        now_s: float,
        *,
        workers: int,
        duty_period_s: float = 0.0,
    ) -> bool:
        """One period; True when `problem` changed (it set or cleared).

        `workers`: how many the power loop put to the request. 0 while a small request is
        held off on purpose (a negative trim larger than it, decaying): nothing is made, and
        nothing is failing (a 0.4 W request, a 200-heater fleet's false alarm).
        `duty_period_s`: the duty cycle's period in force. A small request runs a worker one
        short window per period, which may be longer than the watch (the cycler stretches it
        so a window spans a loop turn): nothing made is only news after two such periods."""
        starved = requested_w > 0 and workers > 0 and measured_w < MADE_SHARE * requested_w
        if not starved:
            self._since = None
            changed, self.problem = self.problem is not None, None
            return changed
        if self._since is None:
            self._since = now_s
        if self.problem is None and now_s - self._since >= max(self.after_s, 2 * duty_period_s):
            self.problem = (
                f"asked for {requested_w:.0f} W for {now_s - self._since:.0f} s and the workers "
                f"made {measured_w:.0f} W: they may be failing to start or crashing"
            )
            return True
        return False

    def announce(self, uplink: Uplink | None) -> None:
        """Say what changed: in the log and as an event."""
        problem = self.problem
        if problem is not None:
            log.error("no heat: %s", problem)
        else:
            log.info("heat is made again")
        if uplink is not None:
            if problem is not None:
                uplink.publish_event("fault", "no_heat", message=problem[:200])
            else:
                uplink.publish_event("fault", "heat_back")
