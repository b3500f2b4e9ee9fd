"""The whole system: the heater simulator, `boiler-agent run` as a process, a real Mosquitto.

The simulator runs its plant 144 times faster than real time (a room's hour in 25 s) while the
agent controls it in its own real time, as it would an unknown, fast plant; the workers' real
CPU use is the heat the room gets.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from boiler_agent.paths import default_cache_dir
from boiler_agent.telemetry.local_broker import LocalBroker
from firmware_bridge.simulator.server import HeaterSimulator
from tests.system.store_probe import query_store
from tests.telemetry.consumer import Consumer

ROOT = Path(__file__).resolve().parents[2]
BASE = "dh/v1/e2e/h1"
REPLY = f"{BASE}/reply/fleet-1"
JOB = {
    "job_id": "e2e-job-1",
    "kernel": "option_mc",
    "params": {
        "spot": 100.0,
        "strike": 100.0,
        "rate": 0.01,
        "volatility": 0.2,
        "maturity": 1.0,
        "paths": 96_000_000,  # several seconds of two workers: a kill lands midway
        "steps": 16,
        "seed": 11,
    },
}

MILD_NIGHT_C = 18.5

pytestmark = [pytest.mark.slow, pytest.mark.timeout(420)]


def _config(tmp_path: Path, port: str, broker: LocalBroker) -> Path:
    path = tmp_path / "agent.toml"
    path.write_text(
        f"""
state_dir = "{tmp_path / "state"}"
cache_dir = "{default_cache_dir()}"

[heater]
id = "h1"
fleet = "e2e"
kind = "room"

[serial]
port = "{port}"

[control]
period_s = 1

[power]
max_workers = 2

[compute]
checkpoint_interval_s = 5

[mqtt]
url = "{broker.url}"
telemetry_period_s = 1
will_delay_s = 1

[status]
socket = "{tmp_path / "status.sock"}"
""",
        encoding="utf-8",
    )
    return path


def _start_agent(config: Path, log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "boiler_agent.cli", "run", "--config", str(config)],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=log.open("ab"),
    )


def _wait(
    predicate: Callable[[], bool],
    timeout_s: float,
    what: str,
    context: Callable[[], object] = lambda: "",
) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout_s} s waiting for {what}; {context()}")


def _midway(store: Path, job_id: str) -> bool:
    """Some of the job's shards are done and several are still to run: its workers are busy on
    it, so a kill now leaves shards running."""
    row = query_store(
        store,
        "SELECT SUM(state = 'done'), SUM(state != 'done') FROM shards WHERE job_id = ?",
        (job_id,),
    )
    return bool(row and row[0] and row[1] and row[0] >= 1 and row[1] >= 4)


def _telemetry(consumer: Consumer) -> list[dict[str, object]]:
    """What a fleet consumer keeps: first copy of each msg_id, in arrival order."""
    seen: set[str] = set()
    kept = []
    for message in consumer.on(f"{BASE}/telemetry"):
        document = json.loads(message.payload)
        if document["msg_id"] not in seen:
            seen.add(str(document["msg_id"]))
            kept.append(document)
    return kept


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[HeaterSimulator, LocalBroker, Consumer]]:
    broker = LocalBroker(workdir=tmp_path / "broker", persistence=True)
    broker.start()
    # Day 100 (April): 500 W can hold the room well above the setpoint.
    # 06:51: the schedule's 07:00 rise comes a few seconds into the test.
    simulator = HeaterSimulator(
        "room", speed=144, start_day=100, start_hour=6.85, link_path=tmp_path / "tty"
    )
    # A mild night left the room at 18.5 °C (the preset's cold start, 16 °C air in 12 °C walls,
    # would take two plant hours, a minute of the test, to reach the knob's 21 °C).
    plant = simulator.world.physics.plant
    for node in ("air", "envelope", "heater"):
        plant.set_temp(node, MILD_NIGHT_C)
    simulator.start()
    consumer = Consumer(broker.port, f"{BASE}/#", client_id="fleet")
    try:
        yield simulator, broker, consumer
    finally:
        consumer.close()
        simulator.stop()
        broker.stop()


def test_the_agent_heats_follows_knob_and_commands_and_survives_kill_9(
    tmp_path: Path, world: tuple[HeaterSimulator, LocalBroker, Consumer]
) -> None:
    simulator, broker, consumer = world
    config = _config(tmp_path, simulator.port, broker)
    log = tmp_path / "agent.log"
    agent = _start_agent(config, log)
    try:
        _wait(lambda: len(_telemetry(consumer)) >= 3, 90, "the first telemetry")
        first = _telemetry(consumer)[0]

        # The schedule raises the setpoint at 07:00 (a few seconds in); then the occupant turns
        # the knob (a knob setting holds until the schedule's next change, at 22:00).
        _wait(lambda: _telemetry(consumer)[-1]["setpoint_c"] == 19.0, 60, "the 07:00 setpoint")
        simulator.turn_knob(21.0)

        # A job from the fleet once the heater takes jobs (it wants heat: state says so),
        # then the agent killed while the job runs; the room heats on around it.
        def accepting_jobs() -> bool:
            states = consumer.on(f"{BASE}/state")
            return bool(states) and json.loads(states[-1].payload)["accepting_jobs"] is True

        _wait(accepting_jobs, 60, "the heater taking jobs")
        consumer.client.publish("dh/v1/e2e/jobs", json.dumps(JOB).encode(), qos=1)
        status_topic = f"{BASE}/jobs/e2e-job-1/status"
        _wait(lambda: bool(consumer.on(status_topic)), 30, "the job accepted")
        _wait(
            lambda: _midway(tmp_path / "state" / "jobs.sqlite", "e2e-job-1"),
            60,
            "the job midway (a shard done, several to run)",
        )
        agent.send_signal(signal.SIGKILL)
        agent.wait(10)
        killed_at = len(_telemetry(consumer))

        agent = _start_agent(config, log)
        result_topic = f"{BASE}/jobs/e2e-job-1/result"
        _wait(lambda: bool(consumer.on(result_topic)), 180, "the job's result after the restart")
        _wait(lambda: len(_telemetry(consumer)) >= killed_at + 3, 30, "telemetry after restart")

        # The restarted agent reads the knob's setting back from the thermostat and heats to it.
        def close_to_setpoint() -> bool:
            last = _telemetry(consumer)[-1]
            air = last["temperatures"]["air_c"]  # type: ignore[index]
            return last["setpoint_c"] == 21.0 and air is not None and abs(air - 21.0) < 1.0

        _wait(
            close_to_setpoint,
            120,
            "the room within 1 K of the 21 °C knob setting",
            lambda: [
                (t["temperatures"], t["setpoint_c"], t["heat_demand_w"], t["power_w"])
                for t in _telemetry(consumer)[-8:]
            ],
        )

        # A command over MQTT, answered through the response topic.
        properties = Properties(PacketTypes.PUBLISH)  # type: ignore[no-untyped-call]
        # Replies go only under the heater's own reply subtree (a fleet's per-request topic there).
        properties.ResponseTopic = REPLY
        properties.CorrelationData = b"eco-1"
        consumer.client.publish(
            f"{BASE}/cmd/set_mode", b'{"cmd_id": "m1", "mode": "eco"}', qos=1, properties=properties
        )
        _wait(lambda: bool(consumer.on(REPLY)), 20, "the reply to set_mode")
        reply = json.loads(consumer.on(REPLY)[0].payload)
        assert reply["ok"] and reply["applied"] == {"mode": "eco"}
        _wait(lambda: _telemetry(consumer)[-1]["setpoint_c"] == 19.0, 20, "eco's 19 °C setpoint")
        consumer.client.publish(
            f"{BASE}/cmd/set_mode",
            b'{"cmd_id": "m2", "mode": "heat"}',
            qos=1,
            properties=properties,
        )
        simulator.turn_knob(24.0)
        _wait(lambda: _telemetry(consumer)[-1]["setpoint_c"] == 24.0, 20, "the 24 °C knob setting")
    finally:
        agent.send_signal(signal.SIGTERM)
        code = agent.wait(40)
    text = log.read_text(errors="replace")
    assert code == 0, text[-3000:]
    assert "Traceback" not in text, text[-3000:]
    assert "resuming" in text  # the shard left running by the killed agent resumed

    telemetry = _telemetry(consumer)
    boots = list(dict.fromkeys(str(t["boot_id"]) for t in telemetry))
    assert len(boots) == 2 and telemetry[0]["boot_id"] == first["boot_id"]
    # seq continues across the restart and nothing is lost or out of order.
    assert [t["seq"] for t in telemetry] == list(range(len(telemetry)))

    results = consumer.on(result_topic)
    assert len({m.payload for m in results}) == 1  # published once (a redelivery is a copy)
    result = json.loads(results[0].payload)
    assert result["state"] == "done" and result["result"]["paths"] == 96_000_000
    statuses = [json.loads(m.payload) for m in consumer.on(status_topic)]
    states = [s["state"] for s in statuses]
    # Every state change is published (issue 13): taken, then run (and paused by the kill).
    assert states[0] == "queued" and "running" in states, states
    assert set(states) <= {"queued", "running", "preempted"}, states

    # The last word of a clean stop: offline, retained.
    assert consumer.on(f"{BASE}/availability")[-1].payload == b"offline"
