"""What a hostile or broken fleet sends a heater: command floods, bad commands, oversized
messages, bursts of job offers. Published to the campaign's real broker, as the fleet would."""

from __future__ import annotations

import json
import random
import time

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from boiler_agent.telemetry.topics import Topics

FLOOD_COMMANDS = 200
OVERSIZED_BYTES = 4 * 1024 * 1024  # larger than the agent's MaximumPacketSize (2 MiB)
OFFERS = 64
PUBLISH_TIMEOUT_S = 10.0


class FleetNoise:
    def __init__(self, host: str, port: int, topics: Topics, seed: int) -> None:
        self.topics = topics
        self.rng = random.Random(seed)
        self.sent = 0
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="campaign-fleet", protocol=mqtt.MQTTv5
        )
        client.connect_async(host, port)
        client.loop_start()
        self._client = client
        self.failed = 0  # publishes the broker did not take (it may be down: that is a fault)

    def command_flood(self) -> None:
        """Commands by the hundred, a third of them bad in each way the gate knows."""
        bad = [
            b"not json",
            b"[1, 2, 3]",
            json.dumps({"cmd_id": "x", "mode": "sauna"}).encode(),
            json.dumps({"cmd_id": "y", "setpoint_c": 1e9}).encode(),
            json.dumps({"cmd_id": "z", "mode": "eco", "rm": "-rf /"}).encode(),
        ]
        for index in range(FLOOD_COMMANDS):
            if index % 3 == 0:
                name, payload = (
                    self.rng.choice(["set_mode", "setpoint_override", "nope"]),
                    (self.rng.choice(bad)),
                )
            else:
                mode = self.rng.choice(["heat", "eco", "boost", "off"])
                name = "set_mode"
                payload = json.dumps({"cmd_id": f"flood-{self.sent}", "mode": mode}).encode()
            self._publish(self.topics.cmd(name), payload)

    def oversized(self) -> None:
        self._publish(self.topics.cmd("set_mode"), b"x" * OVERSIZED_BYTES)
        self._publish(self.topics.jobs, b"{" + b" " * OVERSIZED_BYTES + b"}")

    def offer_burst(self) -> None:
        for index in range(OFFERS):
            offer = {
                "job_id": f"burst-{self.rng.getrandbits(32):08x}-{index}",
                "kernel": "mandelbrot",
                "params": {
                    "width": 64,
                    "height": 64,
                    "max_iter": 50,
                    "center_re": -0.5,
                    "center_im": 0.0,
                    "zoom": 1.0 + index,
                },
            }
            self._publish(self.topics.jobs, json.dumps(offer).encode())

    def _publish(self, topic: str, payload: bytes) -> None:
        deadline = time.monotonic() + PUBLISH_TIMEOUT_S
        while not self._client.is_connected() and time.monotonic() < deadline:
            time.sleep(0.01)
        info = self._client.publish(topic, payload, qos=1)
        self.sent += 1
        try:
            while not info.is_published() and time.monotonic() < deadline:
                time.sleep(0.005)
        except (RuntimeError, ValueError):  # not connected, or the broker refused it
            self.failed += 1

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()
