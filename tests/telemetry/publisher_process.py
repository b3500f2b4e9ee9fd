"""A stand-in agent process for the tests: numbered telemetry through FleetClient.

`python -m tests.telemetry.publisher_process --port P --outbox FILE --count N --interval S`
publishes N telemetry messages (a new `boot_id` per process, `seq` from the outbox's persisted
counter, a unique `msg_id`) and then waits until it is killed, so tests can kill it anywhere.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import uuid
from pathlib import Path

from boiler_agent.telemetry.client import ClientSettings, FleetClient
from boiler_agent.telemetry.config import BrokerUrl
from boiler_agent.telemetry.outbox import Outbox

AVAILABILITY = "dh/v1/test/h1/availability"
TELEMETRY = "dh/v1/test/h1/telemetry"


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--outbox", type=Path, required=True)
    parser.add_argument("--count", type=int, default=0)
    parser.add_argument("--interval", type=float, default=0.01)
    args = parser.parse_args()
    boot_id = uuid.uuid4().hex
    outbox = Outbox(args.outbox)
    client = FleetClient(
        ClientSettings(
            url=BrokerUrl(f"mqtt://127.0.0.1:{args.port}"),
            client_id="boiler-agent-h1",
            availability_topic=AVAILABILITY,
            will_delay_s=1,
            historical_after_s=0.5,
        ),
        outbox,
    )
    client.start()
    for _ in range(args.count):

        def build(seq: int) -> bytes:
            return json.dumps(
                {"boot_id": boot_id, "seq": seq, "msg_id": uuid.uuid4().hex, "historical": False}
            ).encode()

        client.publish_numbered("telemetry", TELEMETRY, build)
        time.sleep(args.interval)
    print("published", flush=True)
    while True:
        time.sleep(1)


if __name__ == "__main__":
    sys.exit(main())
