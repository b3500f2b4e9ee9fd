"""One snapshot per period: telemetry, the retained state and the status say the same things."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from boiler_agent.power.cpu_clock import cpu_frequency_mhz
from boiler_agent.telemetry.local_broker import free_loopback_port
from tests.daemon.conftest import Rig


def _outbox(rig: Rig, suffix: str) -> list[dict[str, Any]]:
    loop = rig.agent.loop
    assert loop is not None and loop.parts.uplink is not None
    rows = loop.parts.uplink.outbox.batch(100_000)
    return [json.loads(row.payload) for row in rows if row.topic.endswith(suffix)]


def test_telemetry_state_and_status_are_one_snapshot(make_rig: Callable[..., Rig]) -> None:
    # Nothing listens on the port: the messages stay in the outbox, where the test reads them.
    rig = make_rig(
        mqtt={"enabled": True, "url": f"mqtt://127.0.0.1:{free_loopback_port()}"},
    )
    rig.heater.connect()
    rig.heater.knob(21.0)
    rig.run_for(65.0)
    telemetry = _outbox(rig, "/telemetry")
    states = _outbox(rig, "/state")
    assert len(telemetry) >= 6, f"{len(telemetry)} telemetry messages in 65 s at one per 10 s"
    assert [message["seq"] for message in telemetry] == sorted(m["seq"] for m in telemetry)
    last = telemetry[-1]
    assert last["frequency_mhz"] == 1234.5
    assert last["setpoint_c"] == 21.0 and last["power_w"] > 0
    assert last["link"]["up"] is True and last["link"]["frames_ok"] > 0
    assert abs(last["temperatures"]["air_c"] - rig.heater.room.temp_c) < 0.5
    status = rig.agent.status()
    assert states[-1]["setpoint_c"] == status.setpoint_c == 21.0
    assert states[-1]["mode"] == status.mode == "heat"
    assert status.heater is not None and status.heater.serial == "QH1-TEST"
    assert status.temperatures_c["air"] is not None
    assert status.broker["connected"] is False and status.broker["outbox_queued"] > 0


def test_the_cpu_clock_reads_the_mean_frequency_or_says_nothing() -> None:
    class Frequency:
        current = 2400.04

    assert cpu_frequency_mhz(Frequency) == 2400.0
    assert cpu_frequency_mhz(lambda: None) is None

    def unsupported() -> None:
        raise NotImplementedError("no cpufreq here")

    assert cpu_frequency_mhz(unsupported) is None
