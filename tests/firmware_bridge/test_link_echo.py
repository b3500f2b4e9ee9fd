"""A line that echoes the host's own frames (half-duplex RS-485, a loopback plug) is no MCU."""

from __future__ import annotations

import os
import threading
import time
import tty

from firmware_bridge.link import HeaterLink, LinkState


def test_echoed_frames_do_not_pass_for_an_mcu() -> None:
    master, slave = os.openpty()
    tty.setraw(slave)
    stop = threading.Event()

    def echo() -> None:
        while not stop.is_set():
            try:
                os.write(master, os.read(master, 1024))
            except OSError:  # the slave side closed: the line is gone
                return

    thread = threading.Thread(target=echo, daemon=True)
    thread.start()
    try:
        with HeaterLink(os.ttyname(slave)) as link:
            deadline = time.monotonic() + 10
            while link.stats.unexpected_messages == 0:
                assert time.monotonic() < deadline, "the echoed IDENT_REQUESTs are counted"
                time.sleep(0.05)
            assert link.state is LinkState.HANDSHAKING  # an echo is never taken for the MCU
    finally:
        stop.set()
        os.close(slave)  # wakes the echo's read with EIO
        thread.join(5)  # before its descriptor closes under it
        os.close(master)
