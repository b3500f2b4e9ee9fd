"""The campaign's own machinery: the fleet-side capture waits for a state, not a quiet spell, and
a run told to stop at an invariant's first violation ends there."""

from __future__ import annotations

import json

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from boiler_agent.faults.campaign import FLEET, HEATER, TelemetryCapture, run_campaign
from boiler_agent.faults.regressions import REGRESSIONS
from boiler_agent.telemetry.local_broker import LocalBroker

SENT = 300


def test_the_capture_holds_every_message_the_broker_accepted_once_settled(
    broker: LocalBroker,
) -> None:
    capture = TelemetryCapture("127.0.0.1", broker.port)
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="agent-stand-in")
    publisher.connect("127.0.0.1", broker.port)
    publisher.loop_start()
    try:
        assert capture.subscribed.wait(30), "the capture never subscribed"
        topic = f"dh/v1/{FLEET}/{HEATER}/telemetry"
        infos = [
            publisher.publish(
                topic,
                json.dumps({"boot_id": "b", "seq": seq, "msg_id": f"m{seq}"}),
                qos=1,
            )
            for seq in range(SENT)
        ]
        for info in infos:
            info.wait_for_publish(30)  # acknowledged: the broker has accepted each one
        # Settled by its marker (not by a quiet spell), and nothing is missing.
        assert capture.settle() == "marker"
        assert capture.count == SENT
        assert capture.check(dropped_total=0) == (SENT + 2, [])
    finally:
        publisher.loop_stop()
        publisher.disconnect()
        capture.close()


def test_a_campaign_told_to_stop_at_an_invariant_ends_at_its_first_violation() -> None:
    regression = REGRESSIONS["defect-3"]  # the announced setpoint unclamped: I3, within the hour
    arguments = regression.campaign_arguments(seed=1)
    with regression.revert():
        stopped = run_campaign(**arguments, stop_on=regression.expect)
    assert stopped["violations_by_invariant"].get("I3", 0) > 0
    first = min(v["at_s"] for v in stopped["violations"] if v["invariant"] == "I3")
    # Ended within a couple of turns of it, well before the hour it was given.
    assert stopped["sim_hours"] * 3600.0 <= first + 120.0 < arguments["duration_s"]
