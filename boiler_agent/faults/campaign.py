"""Run one fault campaign: a seed's schedule against the whole agent, then the invariants.

`run_campaign(seed, faults, duration_s)` builds the rig (a private Mosquitto with persistence
when one is installed, stopped with SIGTERM so it keeps what it acknowledged), captures every
telemetry message the broker delivers, injects the schedule, stops the agent cleanly at the end
and checks I1-I3, I6 over the samples, I4 over the capture and I7 over the state directory and
the process's memory. The result is one dict: the JSON line of `boiler-agent bench faults`.
"""

from __future__ import annotations

import collections
import contextlib
import json
import logging
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import psutil
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties

from boiler_agent.config import AgentConfig
from boiler_agent.faults.bounds import InputBounds
from boiler_agent.faults.campaign_jobs import JOB_CPU_S, CampaignJobs
from boiler_agent.faults.comfort import ComfortScore
from boiler_agent.faults.harness import FLEET_OF_RIG, WORKERS, CampaignRig, Sample
from boiler_agent.faults.invariants import Checker, Violation
from boiler_agent.faults.schedule import NEEDS_BROKER, Fault, Injection, draw_schedule
from boiler_agent.telemetry.local_broker import BrokerUnavailableError, LocalBroker, find_mosquitto
from heater_physics.plant import PRESETS as PLANT_PRESETS

log = logging.getLogger(__name__)

FLEET = FLEET_OF_RIG
HEATER_TYPES = {"room": "room", "office": "room", "boiler": "boiler"}
HEATER = "h1"
OUTBOX_MAX_MB = 4.0
DISK_BOUND_BYTES = 32 * 1024 * 1024  # I7: the state directory after a campaign
MEMORY_GROWTH_BOUND_BYTES = 256 * 1024 * 1024  # I7: the process's RSS growth over a campaign
MAX_VIOLATIONS_SHOWN = 20  # the first ones: one cause repeats every period
CAPTURE_SETTLE_S = 3.0  # no marker (broker down at the end): this long without new telemetry
CAPTURE_TIMEOUT_S = 60.0
MARKER_TIMEOUT_S = 20.0  # the capture's own marker back from a running broker
MARKER_TOPIC = "campaign/capture/settled"
TOP_UP_EVERY_S = 300.0  # I5: new real jobs replace finished ones this often


class TelemetryCapture:
    """A fleet-side subscriber with a persistent session: it misses nothing the broker kept."""

    def __init__(self, url_host: str, port: int) -> None:
        self.received: dict[str, dict[int, set[str]]] = collections.defaultdict(
            lambda: collections.defaultdict(set)
        )
        self.events: dict[str, set[int]] = collections.defaultdict(set)  # boot -> event seqs
        self.dropped_reported = 0
        self.count = 0
        self._lock = threading.Lock()
        self._marker = threading.Event()
        self.subscribed = threading.Event()  # the broker has the capture's subscriptions
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, client_id="campaign-capture", protocol=mqtt.MQTTv5
        )
        client.on_message = self._on_message
        client.on_connect = self._on_connect
        client.on_subscribe = self._on_subscribe
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = 3600
        client.connect_async(url_host, port, clean_start=False, properties=properties)
        client.loop_start()
        self._client = client

    def _on_connect(self, client: mqtt.Client, *_: Any) -> None:
        client.subscribe(
            [
                (f"+/+/{FLEET}/{HEATER}/telemetry", 1),
                (f"+/+/{FLEET}/{HEATER}/events", 1),
                (MARKER_TOPIC, 1),
            ]
        )

    def _on_subscribe(self, *_: Any) -> None:
        self.subscribed.set()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        if message.topic == MARKER_TOPIC:
            self._marker.set()
            return
        try:
            document = json.loads(message.payload)
        except ValueError:
            return
        with self._lock:
            if message.topic.endswith("/telemetry"):
                self.received[document["boot_id"]][int(document["seq"])].add(document["msg_id"])
                self.count += 1
            else:
                if "seq" in document and "boot_id" in document:
                    self.events[document["boot_id"]].add(int(document["seq"]))
                if document.get("kind") == "outbox_dropped":
                    self.dropped_reported += int(document.get("details", {}).get("count", 0))

    def settle(self, broker_up: bool = True) -> str:
        """Once the agent has stopped: wait until the capture holds what the broker accepted;
        returns how it knew ("marker", or "quiet" when the broker could not answer).

        The capture publishes a marker on a topic it subscribes to. The broker queues it to the
        capture's session behind every message it accepted before, so the marker's return is
        the state to wait for. With the broker down at the end (a restart fault still active),
        nothing more can come: the capture waits for a quiet spell instead. `broker_up`: the
        broker runs, so a capture not connected yet is about to be.
        """
        if broker_up:  # back from a restart just now: the capture reconnects first
            deadline = time.monotonic() + MARKER_TIMEOUT_S
            while not self._client.is_connected() and time.monotonic() < deadline:
                time.sleep(0.01)
        if self._client.is_connected() and self.subscribed.is_set():
            self._marker.clear()
            self._client.publish(MARKER_TOPIC, b"settled", qos=1)
            if self._marker.wait(MARKER_TIMEOUT_S):
                return "marker"
            log.warning("campaign: the capture's marker did not come back; waiting for quiet")
        deadline = time.monotonic() + CAPTURE_TIMEOUT_S
        last, quiet_since = -1, time.monotonic()
        while time.monotonic() < deadline:
            with self._lock:
                count = self.count
            if count != last:
                last, quiet_since = count, time.monotonic()
            elif time.monotonic() - quiet_since >= CAPTURE_SETTLE_S:
                break
            time.sleep(0.1)
        return "quiet"

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def check(self, dropped_total: int) -> tuple[int, list[Violation]]:
        """I4: every seq received or reported dropped; one message per (boot, seq)."""
        seqs = sorted(seq for by_seq in self.received.values() for seq in by_seq)
        found: list[Violation] = []
        if not seqs:
            return 1, [Violation(0.0, "I4", "no telemetry reached the fleet", None)]
        missing = set(range(seqs[0], seqs[-1] + 1)) - set(seqs)
        if len(missing) > dropped_total:
            found.append(
                Violation(
                    0.0,
                    "I4",
                    f"{len(missing)} telemetry seqs lost, {dropped_total} drops reported "
                    f"(first missing: {sorted(missing)[:5]})",
                    None,
                )
            )
        twice = [
            (boot, seq) for boot, by_seq in self.received.items() for seq, ids in by_seq.items()
            if len(ids) > 1
        ]  # fmt: skip
        if twice:
            found.append(Violation(0.0, "I4", f"two messages for one seq: {twice[:5]}", None))
        # Events are dropped last, only when nothing else is left to drop, and a failed write
        # gives its number to the next event: within one agent run their seqs have no gap.
        lost_events = sum(
            len(set(range(min(seqs_), max(seqs_) + 1)) - seqs_) for seqs_ in self.events.values()
        )
        if lost_events:
            found.append(
                Violation(0.0, "I4", f"{lost_events} events lost within an agent run", None)
            )
        return len(seqs) + 2, found


def campaign_config(
    workdir: Path,
    broker_url: str | None,
    preset: str = "room",
    settings: dict[str, dict[str, Any]] | None = None,
) -> AgentConfig:
    document: dict[str, Any] = {
        "state_dir": workdir / "state",
        "cache_dir": workdir / "cache",
        "heater": {"id": HEATER, "fleet": FLEET, "kind": HEATER_TYPES[preset]},
        "serial": {"port": "/dev/campaign-heater"},
        "mqtt": {
            "enabled": broker_url is not None,
            "url": broker_url or "mqtt://127.0.0.1:1883",
            "outbox_max_mb": OUTBOX_MAX_MB,
        },
        # Fleet offers are taken (offer bursts reach the store, bounded by the room: I7).
        "compute": {"accept_jobs": True},
        "status": {
            "socket": workdir / "status.sock",
            "control_socket": workdir / "control.sock",
        },
    }
    for section, values in (settings or {}).items():
        document[section] = {**document.get(section, {}), **values}
    return AgentConfig.model_validate(document)


@contextlib.contextmanager
def _broker(workdir: Path, wanted: bool) -> Iterator[LocalBroker | None]:
    if not wanted or find_mosquitto() is None:
        yield None
        return
    broker = LocalBroker(workdir=workdir / "mosquitto", persistence=True)
    try:
        broker.start()
    except BrokerUnavailableError as error:
        log.warning("campaign without a broker: %s", error)
        yield None
        return
    try:
        yield broker
    finally:
        broker.resume()
        broker.stop()


def run_campaign(
    seed: int,
    faults: int,
    duration_s: float,
    *,
    use_broker: bool = True,
    preset: str = "room",
    real_jobs: bool = True,
    kinds: tuple[Fault, ...] | None = None,
    schedule: list[Injection] | None = None,
    settings: dict[str, dict[str, Any]] | None = None,
    job_cpu_s: float = JOB_CPU_S,
    stop_on: str | None = None,
) -> dict[str, Any]:
    """One seed's campaign; with no faults, a healthy heater's run, where any trip is I8.

    `kinds` narrows the faults drawn; `schedule` replaces the draw (a constructed case, as a
    reverted fix's demonstration uses); `settings` are config sections merged over the rig's.
    `stop_on` ends the run at the first violation of that invariant found while it runs (the
    checker's, the input bounds', a crash, a job judged as it ended): a test that expects it
    needs nothing after. The invariants judged at the end (the jobs', the fleet's copy) are
    then judged at that time.
    """
    started = time.monotonic()
    rss_before = psutil.Process().memory_info().rss
    with tempfile.TemporaryDirectory(prefix="boiler-agent-faults-") as scratch:
        workdir = Path(scratch)
        with _broker(workdir, use_broker) as broker:
            drawn = tuple(
                k for k in (kinds or tuple(Fault)) if broker is not None or k not in NEEDS_BROKER
            )
            if schedule is None:
                schedule = draw_schedule(seed, faults, duration_s, drawn)
            config = campaign_config(workdir, broker.url if broker else None, preset, settings)
            capture = TelemetryCapture("127.0.0.1", broker.port) if broker else None
            checker = Checker(
                schedule,
                config.control.max_temp_c,
                config.power.period_s,
                config.serial.lease_s,
                setpoint_range_c=(config.control.setpoint_min_c, config.control.setpoint_max_c),
            )
            jobs = CampaignJobs.submit(config.state_dir, seed, job_cpu_s) if real_jobs else None
            next_top_up = [0.0]
            bounds = InputBounds(workers=WORKERS)

            # I8's comfort half: a healthy run (no fault) must also meet its comfort targets.
            comfort = (
                ComfortScore(HEATER_TYPES[preset], float(PLANT_PRESETS[preset].rated_power_w))
                if not schedule
                else None
            )

            def observe(sample: Sample) -> None:
                checker.observe(sample)
                if comfort is not None:
                    comfort.observe(sample)
                loop = rig.agent.loop if rig.agent is not None else None
                if loop is not None:
                    bounds.observe(sample.at_s, loop.parts)
                if jobs is not None and loop is not None and sample.at_s >= next_top_up[0]:
                    next_top_up[0] = sample.at_s + TOP_UP_EVERY_S
                    jobs.top_up(loop.parts.scheduler.store, sample.at_s)

            rig = CampaignRig(
                workdir,
                seed,
                config,
                broker=broker,
                preset=preset,
                on_sample=observe,
                cpu_s_per_unit=jobs.cpu_s_per_unit if jobs else None,
                on_jobs_lost=jobs.resubmit if jobs else None,
            )

            def found_already() -> bool:
                if stop_on is None:
                    return False
                found = checker.by_invariant[stop_on] > 0
                found = found or any(v.invariant == stop_on for v in bounds.violations)
                found = found or (jobs is not None and bool(jobs.violations) and stop_on == "I5")
                return found or (stop_on == "I6" and bool(rig.crashes))

            try:
                rig.run_until(duration_s, schedule, stop=found_already)
            finally:
                rig.close()
            ended_s = min(rig.clock.now(), duration_s)
            violations = list(checker.violations) + bounds.violations
            violation_count = checker.violation_count + len(bounds.violations)
            checked = checker.checked + bounds.checked
            # I6: the agent never dies of what the world does to it (systemd would restart it,
            # but a heater in a restart loop heats nobody).
            crashes = [
                checker.violation(at, "I6", f"the agent crashed: {why}") for at, why in rig.crashes
            ]
            violations += crashes
            violation_count += len(crashes)
            checked += 1
            if comfort is not None and comfort.checked:  # a short run may have nothing to score
                misses = comfort.violations()
                violations += misses
                violation_count += len(misses)
                checked += comfort.checked
            jobs_ended: dict[str, int] | None = None
            if jobs is not None:
                counted, more, jobs_ended = jobs.check(config.state_dir, ended_s)
                checked += counted
                violations += more
                violation_count += len(more)
            if capture is not None:
                assert broker is not None
                broker.resume()  # a partition ends with the campaign: what it held comes through
                capture.settle(broker_up=broker.running)
                capture.close()
                dropped_by_reason = _dropped(config)
                dropped = sum(dropped_by_reason.values())
                counted, more = capture.check(max(dropped, capture.dropped_reported))
                # Nothing in a campaign is older than the outbox's age limit: rows dropped for
                # age aged by a stepped wall clock.
                expired = dropped_by_reason.get("age", 0)
                if expired and ended_s < config.mqtt.outbox_max_age_h * 3600.0:
                    more.append(
                        Violation(
                            ended_s,
                            "I4",
                            f"{expired} messages expired in a {ended_s / 3600:.1f} h run "
                            f"(limit {config.mqtt.outbox_max_age_h} h): aged by the wall clock",
                            None,
                        )
                    )
                checked += counted
                violations += more
                violation_count += len(more)
            disk = sum(p.stat().st_size for p in (workdir / "state").rglob("*") if p.is_file())
            growth = psutil.Process().memory_info().rss - rss_before
            checked += 2
            resources = []
            if disk > DISK_BOUND_BYTES:
                resources.append(Violation(ended_s, "I7", f"state dir {disk} bytes", None))
            if growth > MEMORY_GROWTH_BOUND_BYTES:
                resources.append(Violation(ended_s, "I7", f"RSS grew {growth} bytes", None))
            violations += resources
            violation_count += len(resources)
    by_invariant = checker.by_invariant + collections.Counter(
        v.invariant for v in violations[len(checker.violations) :]
    )
    counts = collections.Counter(fault.value for _, fault in rig.injected)
    return {
        "seed": seed,
        "preset": preset,
        "faults_injected": dict(sorted(counts.items())),
        "faults_total": sum(counts.values()),
        "invariants_checked": checked,
        "violations": [v.as_dict() for v in violations[:MAX_VIOLATIONS_SHOWN]],
        "violations_total": violation_count,
        "violations_by_invariant": dict(sorted(by_invariant.items())),
        "sim_hours": round(ended_s / 3600.0, 2),
        "wall_s": round(time.monotonic() - started, 1),
        "broker": broker is not None,
        "agent_restarts": rig.boots - 1,
        "operator_resets": rig.resets,
        "jobs": jobs_ended,  # I5: how the campaign's real jobs ended
        "comfort": comfort.report() if comfort is not None else None,  # I8, healthy runs
        "term_in_checkpoint": dict(rig.term_stops),
        "db_corruptions": dict(rig.db_corruptions),
    }


def _dropped(config: AgentConfig) -> dict[str, int]:
    """What the outbox says it dropped, by reason (persisted counters), read after the stop."""
    from boiler_agent.telemetry.outbox import Outbox

    outbox = Outbox(config.state_dir / "outbox.sqlite")
    try:
        return outbox.dropped()
    finally:
        outbox.close()
