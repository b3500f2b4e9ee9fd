"""Two real agents (in-process, simulated workers) and a real Mosquitto: a fleet job taken by
the heater that wants heat moves to the other one when the heat demand moves."""

from __future__ import annotations

import time
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from boiler_agent.compute.simulated_pool import SimulatedPool
from boiler_agent.compute.specs import EXAMPLES
from boiler_agent.daemon.clocks import VirtualClock
from boiler_agent.daemon.supervisor import Supervisor
from boiler_agent.fleet.dispatcher import JobDesk
from boiler_agent.fleet.subscriber import FleetSubscriber
from boiler_agent.telemetry.local_broker import LocalBroker
from firmware_bridge.simulator.in_process import InProcessHeater
from tests.daemon.conftest import rig_config

DEADLINE_S = 90.0
SLICE_S = 5.0  # virtual seconds each agent runs before the other's turn
RELEASE_AFTER_S = 60.0


class Agent:
    def __init__(self, root: Path, name: str, url: str) -> None:
        self.clock = VirtualClock()
        self.heater = InProcessHeater(
            "room", clock=self.clock.now, seed=len(name), start_day=15, start_hour=12.0,
            serial_number=f"SN-{name}",
        )  # fmt: skip
        config = rig_config(
            root / name,
            heater={"id": name, "fleet": "north"},
            mqtt={"enabled": True, "url": url, "telemetry_period_s": 60.0},
            compute={"release_after_s": RELEASE_AFTER_S},
        )
        pool = SimulatedPool(2, clock=self.clock.now, sleep=self.clock.sleep)
        self.agent = Supervisor(
            config,
            clocks=self.clock.clocks(),
            serve_status=False,
            link=self.heater.link,
            pool=pool,
            cpu_sensor=lambda: None,
        )
        self.agent.start()

    def run(self, seconds: float) -> None:
        end = self.clock.now() + seconds

        def reached() -> bool:
            self.heater.pump()  # the heater's world keeps up with the agent's clock
            return self.clock.now() >= end

        self.agent.run_turns(until=reached)

    def wants_heat(self, yes: bool) -> None:
        self.heater.world.turn_knob(26.0 if yes else 5.0)


def test_a_job_follows_the_heat_from_one_heater_to_another(
    tmp_path: Path, broker: LocalBroker
) -> None:
    desk = JobDesk("north", offer_timeout_s=5.0)
    watcher = FleetSubscriber(broker.url, topic_filter=desk.filters).start()
    publisher = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv5)
    publisher.connect("127.0.0.1", broker.port)
    publisher.loop_start()
    first, second = Agent(tmp_path, "h1", broker.url), Agent(tmp_path, "h2", broker.url)
    try:
        assert watcher.subscribed.wait(30)
        first.wants_heat(True)
        second.wants_heat(False)
        job = desk.submit("mandelbrot", EXAMPLES["mandelbrot"], 0.0, "j1")

        def turn(until: str) -> None:
            deadline = time.monotonic() + DEADLINE_S
            while time.monotonic() < deadline:
                for agent in (first, second):
                    agent.run(SLICE_S)
                for message in watcher.take(0.05):
                    desk.handle(message, time.monotonic())
                for offer in desk.due(time.monotonic()):
                    publisher.publish(offer.topic, offer.payload, qos=1)
                if until == "h1" and job.heater == "h1" and job.state in ("running", "queued"):
                    return
                if until == "h2" and job.heater == "h2":
                    return
            raise AssertionError(f"timed out: job {job.as_dict()}")

        turn("h1")  # only h1 wants heat: only h1 takes offers
        first.wants_heat(False)
        second.wants_heat(True)
        turn("h2")  # h1 releases after its hold; the desk offers it again; h2 takes it
        assert job.handoffs == 1 and job.heaters == ["h1", "h2"], job.as_dict()
        loop = first.agent.loop
        assert loop is not None and loop.parts.scheduler.store.get("j1") is None
    finally:
        for agent in (first, second):
            agent.agent.shutdown()
        watcher.stop()
        publisher.loop_stop()
