"""The writer thread: the latest write of a key wins, a failing write does not stop the rest."""

from __future__ import annotations

import threading

from boiler_agent.daemon.background_writer import BackgroundWriter


def test_the_latest_write_of_a_key_wins_and_failures_do_not_stop_the_thread() -> None:
    writer = BackgroundWriter()
    gate = threading.Event()
    done: list[str] = []
    writer.submit("block", gate.wait)  # holds the thread while the rest queue up
    writer.submit("status", lambda: done.append("status 1"))
    writer.submit("status", lambda: done.append("status 2"))

    def broken() -> None:
        raise OSError("No space left on device")

    writer.submit("energy", broken)
    writer.submit("other", lambda: done.append("other"))
    gate.set()
    assert writer.close(timeout_s=5.0)
    assert done == ["status 2", "other"]
    writer.submit("late", lambda: done.append("late"))  # after close: ignored
    assert done == ["status 2", "other"]
