"""Fixtures: a heater simulator on a real pty, and a link to it."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from firmware_bridge.events import LinkEvent
from firmware_bridge.link import HeaterLink
from firmware_bridge.simulator.server import HeaterSimulator
from heater_physics.weather import WeatherSeries

E = TypeVar("E")


@pytest.fixture
def simulator(tmp_path: Path) -> Iterator[HeaterSimulator]:
    sim = HeaterSimulator(
        "room",
        weather=WeatherSeries.constant(5.0),
        speed=60.0,
        link_path=tmp_path / "heater-tty",
        seed=7,
    )
    with sim:
        yield sim


@pytest.fixture
def link(simulator: HeaterSimulator) -> Iterator[HeaterLink]:
    with HeaterLink(simulator.port) as heater_link:
        heater_link.wait_until_up(5.0)
        yield heater_link


def wait_for(
    link: HeaterLink,
    kind: type[E],
    timeout_s: float,
    predicate: Callable[[E], bool] = lambda _: True,
    *,
    every: Callable[[], None] | None = None,
) -> tuple[E, float]:
    """The first event of `kind` matching `predicate`, and how long it took to come.

    `every` runs between polls (e.g. a heartbeat, as a control loop would send).
    """
    start = time.monotonic()
    deadline = start + timeout_s
    seen: list[LinkEvent] = []
    while time.monotonic() < deadline:
        if every is not None:
            every()
        try:
            event = link.events.get(timeout=0.05)
        except queue.Empty:
            continue
        seen.append(event)
        if isinstance(event, kind) and predicate(event):
            return event, time.monotonic() - start
    kinds = [type(e).__name__ for e in seen[-10:]]
    raise AssertionError(f"no {kind.__name__} within {timeout_s} s; last events: {kinds}")


def drain(link: HeaterLink) -> list[LinkEvent]:
    events: list[LinkEvent] = []
    while True:
        try:
            events.append(link.events.get_nowait())
        except queue.Empty:
            return events
