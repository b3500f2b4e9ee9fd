"""A real Mosquitto per test, on a free loopback port, stopped afterwards."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from boiler_agent.telemetry.local_broker import LocalBroker, find_mosquitto


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[LocalBroker]:
    if find_mosquitto() is None:
        pytest.fail("mosquitto is not installed; .ci/run installs it (apt-get install mosquitto)")
    instance = LocalBroker(workdir=tmp_path / "broker")
    instance.start()
    try:
        yield instance
    finally:
        instance.stop()
