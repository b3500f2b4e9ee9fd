from __future__ import annotations

import socket

import pytest

from boiler_agent.telemetry.local_broker import LocalBroker


def _listening(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def test_broker_listens_on_its_port_and_restarts_on_the_same_one(broker: LocalBroker) -> None:
    assert _listening(broker.port)
    port = broker.port
    broker.stop()
    assert not _listening(port)
    broker.start()
    assert broker.port == port and _listening(port)


def test_a_bad_config_line_is_reported_with_mosquittos_words(tmp_path: object) -> None:
    from pathlib import Path

    from boiler_agent.telemetry.local_broker import BrokerUnavailableError

    bad = LocalBroker(workdir=Path(str(tmp_path)) / "bad", extra_config=["no_such_option 1"])
    with pytest.raises(BrokerUnavailableError, match="mosquitto exited"):
        bad.start()
