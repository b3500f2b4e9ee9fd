from __future__ import annotations

import pytest

from boiler_agent.telemetry.client import IncomingMessage
from boiler_agent.telemetry.inbox import Inbox


def _message(n: int) -> IncomingMessage:
    return IncomingMessage("t", str(n).encode(), None, None, 0.0)


def test_a_full_inbox_refuses_and_counts_and_drains_oldest_first() -> None:
    inbox = Inbox(limit=3)
    for n in range(5):
        inbox.put(_message(n))
    assert [m.payload for m in inbox.drain()] == [b"0", b"1", b"2"]
    assert inbox.overflow == 2
    assert inbox.drain() == []
    inbox.put(_message(9))  # room again after a drain
    assert [m.payload for m in inbox.drain()] == [b"9"]


def test_a_limit_below_one_is_refused_with_the_value() -> None:
    with pytest.raises(ValueError, match="limit must be >= 1, got 0"):
        Inbox(0)
