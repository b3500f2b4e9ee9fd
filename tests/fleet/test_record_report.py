"""`fleet record` keeps what a real agent publishes through a real Mosquitto; `fleet report`
adds it up: energy, valorisation, compute, no gaps."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from boiler_agent.compute.simulated_pool import SimulatedPool
from boiler_agent.daemon.clocks import VirtualClock
from boiler_agent.daemon.supervisor import Supervisor
from boiler_agent.telemetry.local_broker import LocalBroker
from boiler_agent.telemetry.payloads import dump
from firmware_bridge.simulator.in_process import InProcessHeater
from tests.daemon.conftest import WORKERS, Rig, rig_config
from tests.daemon.fakes import FakeHeater
from tests.factories import birth, telemetry

CLI = [sys.executable, "-m", "boiler_agent.cli"]
DEADLINE_S = 60.0


def _wait_for(
    what: str, condition: Callable[[], bool], nudge: Callable[[], None] | None = None
) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        if nudge is not None:
            nudge()
        time.sleep(0.1)


def _count(db: Path, where: str = "1") -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(db) as connection:
        try:
            return int(
                connection.execute(f"SELECT COUNT(*) FROM messages WHERE {where}").fetchone()[0]
            )
        except sqlite3.OperationalError:
            return 0  # not created yet


def _agent(tmp_path: Path, url: str) -> tuple[Rig, InProcessHeater]:
    clock = VirtualClock()
    heater = InProcessHeater("room", clock=clock.now, seed=2, start_day=15, start_hour=6.0)
    config = rig_config(
        tmp_path,
        heater={"fleet": "north"},
        mqtt={"enabled": True, "url": url, "telemetry_period_s": 10.0},
    )
    pool = SimulatedPool(WORKERS, clock=clock.now, sleep=clock.sleep)
    agent = Supervisor(
        config,
        clocks=clock.clocks(),
        serve_status=False,
        link=heater.link,
        pool=pool,
        cpu_sensor=lambda: None,
    )
    agent.start()
    return Rig(clock, FakeHeater(clock), pool, agent, step_world=heater.pump), heater


def test_a_recorded_heater_is_reported_whole(tmp_path: Path, broker: LocalBroker) -> None:
    db = tmp_path / "fleet.sqlite"
    recorder = subprocess.Popen(
        [*CLI, "fleet", "record", "--broker", broker.url, "--fleet", "north", "--db", str(db)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    probe = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    probe.connect("127.0.0.1", broker.port)
    probe.loop_start()
    try:
        # Subscribed once a probe it was sent shows in the file.
        def send_probe() -> None:
            probe.publish("dh/v1/north/probe/availability", b"online", qos=1)

        _wait_for(
            "the recorder's subscription", lambda: _count(db, "heater = 'probe'") > 0, send_probe
        )
        rig, heater = _agent(tmp_path, broker.url)
        try:
            heater.world.turn_knob(21.0)
            rig.run_for(1800.0)
        finally:
            rig.agent.shutdown()  # flushes the outbox: every telemetry message is sent
        latest = rig.agent.latest
        assert latest is not None and latest.telemetry_sent > 50
        sent, energy = latest.telemetry_sent, latest.energy_total_kwh
        _wait_for(
            f"{sent} telemetry messages recorded",
            lambda: _count(db, "heater = 'h1' AND kind = 'telemetry'") >= sent,
        )
    finally:
        probe.loop_stop()
        recorder.send_signal(signal.SIGTERM)
        _, stderr = recorder.communicate(timeout=30)
    assert recorder.returncode == 0, stderr
    report = subprocess.run(
        [*CLI, "fleet", "report", "--db", str(db), "--json", "--plot", str(tmp_path / "p.png")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    result = json.loads(report.stdout.strip().splitlines()[-1])
    h1 = result["heaters"]["h1"]
    assert h1["messages"] >= sent and h1["missing"] == 0 and h1["trips"] == 0
    # The first telemetry already counted a period's energy: the report sees the rise after it.
    assert 0.8 * energy <= h1["energy_kwh"] <= energy
    assert h1["valorisation"] == 1.0  # the knob asked for heat the whole time
    assert h1["core_hours"] > 0
    assert result["fleet"]["heaters"] == 2  # h1 and the probe
    assert (tmp_path / "p.png").read_bytes().startswith(b"\x89PNG")


def test_watch_shows_a_heater_as_its_messages_arrive(broker: LocalBroker) -> None:
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    publisher.connect("127.0.0.1", broker.port)
    publisher.loop_start()
    publisher.publish("dh/v1/north/h1/birth", dump(birth()), qos=1, retain=True).wait_for_publish()
    watch = subprocess.Popen(
        [*CLI, "fleet", "watch", "--broker", broker.url, "--json", "--every", "0.2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert watch.stdout is not None
        deadline = time.monotonic() + DEADLINE_S
        for seq, line in enumerate(
            watch.stdout, start=1
        ):  # a line per refresh: read until the telemetry shows
            assert time.monotonic() < deadline, "the watcher never showed the telemetry"
            rows = {row["heater"]: row for row in json.loads(line)["heaters"]}
            if rows.get("h1", {}).get("power_w") == 409.8:
                assert rows["h1"]["kind"] == "room"  # from the retained birth
                break
            payload = telemetry(seq=seq, msg_id=f"b1-{seq}")
            publisher.publish("dh/v1/north/h1/telemetry", dump(payload), qos=1)
    finally:
        watch.terminate()
        watch.communicate(timeout=30)
        publisher.loop_stop()
