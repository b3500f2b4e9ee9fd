"""Notices a link that works one way only: readings arrive, but the MCU does not hear us.

Heartbeats carry the heat lease. If the MCU acknowledges none of them for a few periods, or
keeps reporting no lease while the agent grants one, the host-to-MCU direction is down: the
MCU will cut its own heat when the lease runs out, so the workers must stop too (their heat
would go nowhere the agent controls). Heartbeats are sent every period, with a zero lease while
heat is not allowed, so the check keeps running while tripped and lifts once the MCU answers.
"""

from __future__ import annotations

PERIODS = 3  # unanswered periods before the lease counts as lost


class LeaseWatch:
    def __init__(self, periods: int = PERIODS) -> None:
        self.periods = periods
        self._acked = 0
        self._sent_at_ack = 0
        self._granted_unhonoured = 0

    def check(
        self, *, sent: int, acked: int, granted: bool, mcu_lease_active: bool | None
    ) -> str | None:
        """One period's verdict: a reason while the lease is not honoured, else None."""
        if acked > self._acked or sent < self._sent_at_ack:  # answered, or counters restarted
            self._acked, self._sent_at_ack = acked, sent
        unanswered = sent - self._sent_at_ack
        if granted and mcu_lease_active is False:
            self._granted_unhonoured += 1
        else:
            self._granted_unhonoured = 0
        if unanswered >= self.periods:
            return (
                f"the MCU acknowledged none of the last {unanswered} heartbeats: the link to "
                "the MCU may work one way only"
            )
        if self._granted_unhonoured >= self.periods:
            return (
                f"the MCU reports no lease although one was granted for "
                f"{self._granted_unhonoured} periods"
            )
        return None
