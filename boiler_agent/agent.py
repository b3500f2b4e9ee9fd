"""The daemon that runs on every heater: link readings to control, control to power, power to
workers, everything to telemetry.

One thread owns the loops (this module): every `power.period_s` (1 s) it reads what the heater
link queued, turns the temperature error into a heat demand every control period, checks the
safety interlocks, tracks the allowed watts with the workers, renews the MCU's heat lease,
pings the systemd watchdog, and hands telemetry to the outbox. Between periods it keeps the
duty-cycle windows moving and serves the worker processes. The serial link, the MQTT client
and the status socket run on their own threads and never block this one: they only exchange
queued values with it.

Two clocks: `monotonic` (real seconds: leases, staleness, stalls, the power loop's CPU-time
measurements) and `plant_clock` (the heater's own time: the controller, the runaway window,
the thermostat's announced changes). On a real heater they advance together; against the
simulator the plant runs faster than real time.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from boiler_agent import __version__
from boiler_agent.compute.jobs import JobState
from boiler_agent.compute.pool import WorkerPool, WorkerState
from boiler_agent.compute.scheduler import FillerJob, JobScheduler
from boiler_agent.compute.store import JobStore
from boiler_agent.config import AgentConfig, config_digest
from boiler_agent.control.controllers import Controller, build_controller
from boiler_agent.control.safety import SafetyEvent, SafetyGuard, TripKind
from boiler_agent.control.setpoint import SetpointArbiter, Target
from boiler_agent.daemon.energy import EnergyCounter
from boiler_agent.daemon.fleet import FleetSettings, FleetSide, ReceivedCommand
from boiler_agent.daemon.heater_side import HeaterSide
from boiler_agent.paths import numba_cache_dir
from boiler_agent.power.allocator import PowerAllocator
from boiler_agent.power.cpu_temp import cpu_package_temperature
from boiler_agent.power.duty import DutyCycler
from boiler_agent.power.knob import KnobInfo, PowerKnob
from boiler_agent.power.loop import PowerLoop
from boiler_agent.power.probe import build_knobs
from boiler_agent.runtime.sd_notify import Notifier
from boiler_agent.runtime.status import StatusFile, StatusServer
from boiler_agent.runtime.status_model import AgentStatus, HeaterInfo, StatusError
from boiler_agent.runtime.status_view import status_line
from boiler_agent.telemetry.client import ClientSettings
from boiler_agent.telemetry.job_feed import JobFeed
from boiler_agent.telemetry.payloads import (
    Birth,
    HaMode,
    HaSetpoint,
    RequestBirth,
    SetMode,
    SetpointOverride,
    State,
)
from boiler_agent.telemetry.topics import Topics
from firmware_bridge.link import HeaterLink
from firmware_bridge.protocol import Mode, SensorKind, SetpointSource

log = logging.getLogger(__name__)

TURN_S = 0.1  # between periods: duty windows and worker messages
STATUS_EVERY_S = 2.0
SHUTDOWN_CHECKPOINT_S = 10.0  # of TimeoutStopSec=30: workers stop at a chunk boundary first
FLUSH_S = 10.0
# The built-in work when there is heat demand and no fleet job: an option price so large it
# never ends, checkpointed like any job (so a restart resumes it).
FILLER = FillerJob(
    "option_mc",
    {
        "spot": 100.0,
        "strike": 100.0,
        "rate": 0.0,
        "volatility": 0.2,
        "maturity": 1.0,
        "paths": 10_000_000_000,
        "steps": 16,
        "seed": 1,
    },
)
FREQUENCY_KNOBS = ("cpufreq", "intel_pstate")  # in order of preference
# config `power.actuators` name -> the probed knob's name prefix
KNOB_PREFIXES = {"rapl": "rapl", "cpufreq": "cpufreq", "pstate": "intel_pstate", "cgroup": "cgroup"}
SENSOR_NAMES = {
    SensorKind.ROOM_AIR: "air",
    SensorKind.TANK_TOP: "water",
    SensorKind.TANK_BOTTOM: "water_bottom",
    SensorKind.HEATER_BODY: "heater_body",
    SensorKind.OUTDOOR: "outdoor",
}
MODE_NAMES = {Mode.OFF: "off", Mode.HEAT: "heat", Mode.ECO: "eco", Mode.BOOST: "boost"}
SOURCE_NAMES = {
    SetpointSource.SCHEDULE: "schedule",
    SetpointSource.KNOB: "knob",
    SetpointSource.REMOTE: "remote",
}


class AgentStartError(RuntimeError):
    """The agent cannot start; the message is one line for the operator."""


class Agent:
    def __init__(
        self,
        config: AgentConfig,
        *,
        plant_clock: Callable[[], float] | None = None,
        control_period_s: float | None = None,
        notifier: Notifier | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        serve_status: bool = True,
        config_path: Path | None = None,
    ) -> None:
        self.config = config
        self.config_path = config_path  # what SIGHUP reloads
        self._monotonic = monotonic
        self._wall = wall_clock
        self._plant_clock = plant_clock or monotonic
        self.control_period_s = control_period_s or config.control.period_s
        self.notifier = notifier or Notifier(None)
        self.serve_status = serve_status
        self.boot_id = uuid.uuid4().hex
        self.started_at = datetime.fromtimestamp(wall_clock(), tz=UTC)
        self.state = "starting"
        self._stop = threading.Event()
        self._reload = threading.Event()
        self.stop_reason = ""
        # Filled by start():
        self.heater: HeaterSide
        self.fleet: FleetSide | None = None
        self.scheduler: JobScheduler
        self.power: PowerLoop
        self.feed: JobFeed | None = None
        self.energy: EnergyCounter
        self._status_server: StatusServer | None = None
        self._status_file: StatusFile
        self._controller: Controller | None = None
        self._guard: SafetyGuard | None = None
        self._arbiter = SetpointArbiter(
            config.heater.kind, config.control.setpoint_min_c, config.control.setpoint_max_c
        )
        # The loop's view, read by status() from other threads (plain values, replaced whole).
        self.target: Target | None = None
        self.demand_w = 0.0
        self.allowed = 0.0
        self.measured_w = 0.0
        self.trips: dict[str, str] = {}
        self.telemetry_sent = 0
        self._ready_sent = False
        self._last_status: AgentStatus | None = None
        self.frequency_knob: tuple[PowerKnob, KnobInfo] | None = None  # found at start
        self._jobs_done_at_stop = 0
        self._birth_sent_for: int | None = None
        self._next_period = 0.0
        self._next_control = float("-inf")
        self._next_telemetry = 0.0
        self._next_status = 0.0
        self._last_period: float | None = None
        self._cpu: tuple[float, float] | None = None  # CPU package (now, critical) °C

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> None:
        """Open everything; AgentStartError with one line when something cannot be."""
        config = self.config
        for directory in (config.state_dir, config.cache_dir):
            try:
                directory.mkdir(parents=True, exist_ok=True)
                probe = directory / f".write-test-{os.getpid()}"
                probe.write_bytes(b"")
                probe.unlink()
            except OSError as error:
                raise AgentStartError(
                    f"cannot write to {directory}: {error.strerror or error}"
                ) from None
        self._take_lock(config.state_dir / "agent.lock")
        self.energy = EnergyCounter(config.state_dir / "energy.json")
        self._status_file = StatusFile(config.status_state_file)
        link = HeaterLink(
            config.serial.port,
            baudrate=config.serial.baudrate,
            reconnect_max_s=config.serial.reconnect_max_s,
        )
        self.heater = HeaterSide(
            link, expected_kind=config.heater.kind, expected_serial=config.heater.expected_serial
        )
        workers = config.power.max_workers or os.cpu_count() or 1
        store = JobStore(config.state_dir / "jobs.sqlite")
        pool = WorkerPool(workers, cache_dir=str(numba_cache_dir(config.cache_dir)))
        self.scheduler = JobScheduler(
            store,
            pool,
            checkpoint_dir=config.state_dir / "checkpoints",
            checkpoint_interval_s=config.compute.checkpoint_interval_s,
            filler=FILLER if config.compute.filler else None,
        )
        self.scheduler.set_active(0)
        self._workers = workers
        self._probe_knobs()
        self.power = self._power_loop(config.heater.rated_power_w)
        if config.mqtt.enabled:
            self.fleet = self._build_fleet()
            if config.compute.accept_jobs:
                self.feed = JobFeed(
                    self.fleet.client,
                    self.fleet.topics,
                    store,
                    pool=config.mqtt.job_pool,
                    clock=self._wall,
                )
            self.fleet.start()
        else:
            log.info("MQTT is disabled (mqtt.enabled = false): no telemetry, no fleet jobs")
        if self.serve_status:
            self._status_server = StatusServer(config.status.socket, self.status)
            try:
                self._status_server.start()
            except (StatusError, OSError) as error:
                log.warning("status socket %s not served: %s", config.status.socket, error)
                self._status_server = None
        link.start()
        log.info(
            "agent %s started: heater %s, %d workers, link %s, broker %s",
            __version__,
            config.heater.id,
            workers,
            config.serial.port,
            config.mqtt.url if config.mqtt.enabled else "off",
        )

    def _power_loop(self, rated_power_w: float | None) -> PowerLoop:
        """Map worker CPU use to watts: the heater's rating spread over its workers."""
        rated = rated_power_w or 100.0 * self._workers  # placeholder until IDENT says
        self._power_built_for = rated_power_w
        per_core = self.config.power.watts_per_core or rated / self._workers
        self.max_power_w = per_core * self._workers
        self.scheduler.watts_per_core = per_core  # one mapping: heat made and jobs' energy
        frequency = self.frequency_knob
        allocator = PowerAllocator(
            self._workers,
            per_core,
            add_hold_s=max(self.config.power.period_s, 5.0),
            frequency_settable=frequency is not None,
            min_freq_fraction=(
                max(0.05, frequency[1].minimum / frequency[1].maximum) if frequency else 0.4
            ),
        )
        cycler = DutyCycler(self.scheduler.pool, period_s=self.config.power.period_s)
        return PowerLoop(
            self.scheduler, allocator, cycler, watts_per_busy_core=per_core, frequency=frequency
        )

    def _take_lock(self, path: Path) -> None:
        """One agent per state directory: a second one would share the job store and outbox."""
        self._lock_file = path.open("a+")
        try:
            fcntl.flock(self._lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._lock_file.seek(0)
            holder = self._lock_file.read().strip() or "unknown"
            self._lock_file.close()
            raise AgentStartError(
                f"another agent (pid {holder}) is running with state directory {path.parent}"
            ) from None
        self._lock_file.seek(0)
        self._lock_file.truncate()
        self._lock_file.write(f"{os.getpid()}\n")
        self._lock_file.flush()

    def _probe_knobs(self) -> None:
        """Probe the sysfs power knobs the config allows, report them, keep a frequency cap.

        Workers and duty cycling always drive the heat; a usable frequency cap (cpufreq, else
        intel_pstate) lets the allocator run many cores slower before stopping any. RAPL and
        cgroup caps are reported, not driven.
        """
        prefixes = tuple(
            KNOB_PREFIXES[name] for name in self.config.power.actuators if name in KNOB_PREFIXES
        )
        if not prefixes:
            return
        found: list[KnobInfo] = []
        for knob in build_knobs(self.config.power.sysfs_root):
            if not knob.name.startswith(prefixes):
                continue
            info = knob.probe()
            if info is None:
                continue
            found.append(info)
            usable_cap = info.usable and info.maximum > 0
            if usable_cap and knob.name in FREQUENCY_KNOBS and self.frequency_knob is None:
                self.frequency_knob = (knob, info)
        log.info(
            "power: driving workers, duty cycling%s; sysfs knobs: %s",
            f" and {self.frequency_knob[0].name}" if self.frequency_knob else "",
            "; ".join(info.describe() for info in found) or "none found",
        )

    def _build_fleet(self) -> FleetSide:
        config = self.config
        mqtt = config.mqtt
        topics = Topics(config.heater.fleet, config.heater.id, root=mqtt.topic_root)
        password = mqtt.resolved_password()
        return FleetSide(
            FleetSettings(
                client=ClientSettings(
                    url=mqtt.url,
                    client_id=config.mqtt_client_id,
                    availability_topic=topics.availability,
                    username=mqtt.username,
                    password=password.get_secret_value() if password else None,
                    ca_file=mqtt.ca_file,
                    cert_file=mqtt.cert_file,
                    key_file=mqtt.key_file,
                    keepalive_s=mqtt.keepalive_s,
                    session_expiry_s=mqtt.session_expiry_s,
                    will_delay_s=mqtt.will_delay_s,
                    historical_after_s=max(30.0, 3 * mqtt.telemetry_period_s),
                ),
                topics=topics,
                outbox_path=config.state_dir / "outbox.sqlite",
                outbox_max_bytes=int(mqtt.outbox_max_mb * 1024 * 1024),
                outbox_max_age_s=mqtt.outbox_max_age_h * 3600.0,
                setpoint_range_c=(config.control.setpoint_min_c, config.control.setpoint_max_c),
                ha_discovery=config.homeassistant.discovery,
                ha_prefix=config.homeassistant.prefix,
            ),
            boot_id=self.boot_id,
            wall_clock=self._wall,
        )

    def request_stop(self, reason: str = "requested") -> None:
        self.stop_reason = reason
        self._stop.set()

    def request_reload(self) -> None:
        self._reload.set()

    @property
    def stopping(self) -> bool:
        return self._stop.is_set()

    def run(self, until: Callable[[], bool] | None = None) -> int:
        """Run the loops until stopped (or `until()` is true), then shut down cleanly."""
        self.state = "running"
        if self.fleet is not None:
            self.fleet.publish_event("agent_started", "start", version=__version__)
        try:
            while not self._stop.is_set():
                if until is not None and until():
                    break
                self._turn()
        finally:
            self.shutdown()
        return 0

    def shutdown(self) -> None:
        """Checkpoint the workers, publish offline, flush the outbox; within TimeoutStopSec."""
        if self.state in ("stopping", "stopped"):
            return
        self.state = "stopping"
        self.notifier.stopping("stopping: checkpointing workers, flushing telemetry")
        log.info("stopping (%s): checkpointing workers", self.stop_reason or "end of run")
        self.power.release()  # a paused (SIGSTOPped) worker could not checkpoint
        self.scheduler.set_active(0)
        if self.feed is not None:
            self.feed.leave()  # offers now go to the pool's other heaters
        deadline = self._monotonic() + SHUTDOWN_CHECKPOINT_S
        busy = (WorkerState.RUNNING, WorkerState.STOPPING)
        # Until every worker has reported its stop checkpoint (stored by the scheduler's tick).
        while self._monotonic() < deadline and any(
            worker.state in busy for worker in self.scheduler.pool.workers
        ):
            self.scheduler.tick(0.05)
        self.scheduler.pool.close()
        if self.heater.identity is not None:
            self.heater.link.heartbeat(0.0, 0.0)  # no lease: the MCU stops granting heat now
        self.heater.link.close()
        self.energy.save()
        if self.fleet is not None:
            self.fleet.publish_event("agent_stopping", self.stop_reason or "stop")
            self._publish_telemetry()
            flushed = self.fleet.stop(flush_timeout_s=FLUSH_S)
            if not flushed:
                log.warning("outbox not empty at stop: the rest leaves with the next start")
        self._jobs_done_at_stop = self.jobs_done
        self.scheduler.store.close()
        self.state = "stopped"
        self._last_status = self._snapshot()
        self._write_status()
        if self._status_server is not None:
            self._status_server.stop()
        self._lock_file.close()  # releases the state directory for the next agent
        log.info("stopped")

    # -- the loop ---------------------------------------------------------------------------

    def _turn(self) -> None:
        now = self._monotonic()
        self._on_heater_news(now)
        if self.fleet is not None:
            for received in self.fleet.poll_commands():
                self._apply_command(received)
        if self._reload.is_set():
            self._reload.clear()
            self._apply_reload()
        if now >= self._next_period:
            self._period(now)
            self._next_period = _next_deadline(self._next_period, self.config.power.period_s, now)
        else:
            self.power.tick(now)
        wait = max(0.0, min(TURN_S, self._next_period - self._monotonic()))
        self.scheduler.tick(wait)

    def _period(self, now: float) -> None:
        plant_now = self._plant_clock()
        self._cpu = cpu_package_temperature()  # once a period: safety and telemetry share it
        elapsed = 0.0 if self._last_period is None else now - self._last_period
        self._last_period = now
        self.target = self._arbiter.target(plant_now)
        temp, reading_at = self.heater.controlled_temp()
        accepted = self.heater.identity is not None
        if plant_now >= self._next_control:
            self._next_control = _next_deadline(
                self._next_control, self.control_period_s, plant_now
            )
            self.demand_w = self._control(plant_now, temp)
        # Until the first readings of this MCU there is nothing to judge (and no heat anyway).
        judged = accepted and self.heater.readings is not None
        self.allowed = self._safety(now, plant_now, temp, reading_at) if judged else 0.0
        sample = self.power.step(self.demand_w * self.allowed, now)
        self.measured_w = sample.measured_w
        identity = self.heater.identity
        if identity is not None:
            lease = self.config.serial.lease_s if self.allowed > 0 else 0.0
            self.heater.link.heartbeat(self.measured_w, lease, boot_id=identity.boot_id)
        self.energy.add(self.measured_w, elapsed, wanted=self.demand_w > 0, now_s=now)
        self._jobs()
        self.notifier.watchdog()  # from the loop itself: a stalled loop gets us restarted
        if not self._ready_sent and self.heater.readings is not None:
            self._ready_sent = True
            self._last_status = self._snapshot()
            self.notifier.ready(self.status_line())
            log.info("ready: first readings in from %s", self.config.serial.port)
        if self.fleet is not None:
            self.fleet.publish_state(self._state_payload())
            if now >= self._next_telemetry:
                self._next_telemetry = _next_deadline(
                    self._next_telemetry, self.config.mqtt.telemetry_period_s, now
                )
                self._publish_telemetry()
            self.fleet.housekeeping()
        if now >= self._next_status:
            self._next_status = _next_deadline(self._next_status, STATUS_EVERY_S, now)
            self._last_status = self._snapshot()
            self._write_status()
            self.notifier.status(self.status_line())

    def _control(self, plant_now: float, temp: float | None) -> float:
        target = self.target
        if self._controller is None or temp is None or target is None:
            return 0.0
        outdoor = self.heater.temp_of(SensorKind.OUTDOOR)
        return self._controller.step(
            plant_now, temp, target.setpoint_c, outdoor, target.next_setpoint
        )

    def _safety(
        self, now: float, plant_now: float, temp: float | None, reading_at: float | None
    ) -> float:
        guard = self._guard
        if guard is None:
            return 0.0
        cpu = self._cpu
        verdict = guard.check(
            now,
            temp,
            reading_at,
            power_fraction=min(1.0, self.measured_w / self.max_power_w),
            setpoint_c=self.target.setpoint_c if self.target else (temp or 0.0),
            mcu_fault="the MCU latched its failsafe shutdown" if self.heater.shutdown else None,
            cpu_temp_c=cpu[0] if cpu else None,
            cpu_critical_c=cpu[1] if cpu else None,
            plant_now_s=plant_now,
            expected_rate_k_per_s=self._expected_rate(temp),
        )
        for event in verdict.events:
            self._on_safety_event(event)
        self.trips = {kind.value: reason for kind, reason in guard.active.items()}
        return verdict.allowed

    def _expected_rate(self, temp: float | None) -> float | None:
        """The controller model's warming rate at the measured power, when it has a model."""
        estimate = getattr(self._controller, "expected_rate_k_per_s", None)
        if estimate is None or temp is None:
            return None
        rate: float = estimate(temp, self.measured_w)
        return rate

    def _on_safety_event(self, event: SafetyEvent) -> None:
        if self.fleet is not None:
            kind = "safety_trip" if event.tripped else "safety_recovered"
            self.fleet.publish_event(kind, event.kind.value, message=event.reason[:200])

    # -- the heater -------------------------------------------------------------------------

    def _on_heater_news(self, now: float) -> None:
        news = self.heater.poll()
        if news.link_up is not None:
            identity = self.heater.identity
            if identity is not None:
                self._on_new_mcu(now, news.link_up.reason)
            elif self.fleet is not None and self.heater.mismatch:
                self.fleet.publish_event("fault", "wrong_heater", message=self.heater.mismatch)
        if news.link_down is not None and self.fleet is not None:
            self.fleet.publish_event("link_lost", news.link_down.reason[:200])
        if news.refused is not None and self.fleet is not None:
            self.fleet.publish_event("fault", "link_refused", message=news.refused[:200])
        for fault in news.faults:
            if self.fleet is not None:
                self.fleet.publish_event("fault", fault.code.name.lower(), message=fault.describe())
        if news.thermostat is not None:
            state = news.thermostat
            next_change = (
                (state.next_change_in_s, state.next_setpoint_c)
                if state.next_change_in_s is not None and state.next_setpoint_c is not None
                else None
            )
            cancelled = self._arbiter.thermostat(
                self._plant_clock(),
                state.setpoint_c,
                SOURCE_NAMES.get(state.source, "schedule"),  # type: ignore[arg-type]
                MODE_NAMES.get(state.mode, "heat"),  # type: ignore[arg-type]
                next_change,
            )
            if cancelled and self.fleet is not None:
                self.fleet.publish_event(
                    "setpoint_change", "knob_cancelled_override", setpoint_c=state.setpoint_c
                )

    def _on_new_mcu(self, now: float, reason: str) -> None:
        identity = self.heater.identity
        assert identity is not None
        rated = self.config.heater.rated_power_w or float(identity.rated_power_w)
        # A new controller (and its learnt model) only for a heater of another rating.
        if self._controller is None or rated != self._power_built_for:
            self.power.release()
            self.power = self._power_loop(rated)
            self._controller = build_controller(
                self.config.control.controller, self.max_power_w, self.control_period_s
            )
        try:
            limits = self.config.control.safety_limits(identity.min_temp_c, identity.max_temp_c)
        except ValueError as error:
            # The configured maximum is outside what this MCU can measure: refuse heat.
            log.error("heater refused: control.max_temp_c does not fit this MCU: %s", error)
            self.heater.identity = None
            if self.fleet is not None:
                self.fleet.publish_event("fault", "bad_max_temp", message=str(error)[:200])
            return
        if self._guard is None or self._guard.limits != limits:
            self._guard = SafetyGuard(limits)
        elif reason != "handshake":
            # A new MCU boot is the explicit recovery of latched trips: it re-checked itself.
            for kind in list(self._guard.active):
                event = self._guard.recover(TripKind(kind), now, by=f"MCU: {reason}")
                if event is not None:
                    self._on_safety_event(event)
        if self.fleet is not None:
            if self._birth_sent_for != identity.boot_id:
                self._birth_sent_for = identity.boot_id
                self.fleet.publish_birth(self._birth())
            if self.heater.links_lost:
                self.fleet.publish_event("link_back", reason[:200])

    # -- commands ---------------------------------------------------------------------------

    def _apply_command(self, received: ReceivedCommand) -> None:
        assert self.fleet is not None
        command = received.command
        plant_now = self._plant_clock()
        applied: dict[str, str | float | int | bool | None] = {}
        if isinstance(command, SetpointOverride):
            until = self._plant_until(command.expires_at, command.duration_s, plant_now)
            self._arbiter.override(command.setpoint_c, until)
            target = self._arbiter.target(plant_now)
            applied = {"setpoint_c": target.base_setpoint_c if target else command.setpoint_c}
            self.fleet.publish_event("setpoint_change", "remote_override", **_defined(applied))
        elif isinstance(command, SetMode):
            until = self._plant_until(command.expires_at, None, plant_now)
            self._arbiter.set_mode(command.mode, until)
            applied = {"mode": command.mode}
            self.fleet.publish_event("mode_change", "remote", mode=command.mode)
        elif isinstance(command, HaSetpoint):
            self._arbiter.override(command.setpoint_c, None)
            target = self._arbiter.target(plant_now)
            applied = {"setpoint_c": target.base_setpoint_c if target else command.setpoint_c}
            self.fleet.publish_event("setpoint_change", "home_assistant", **_defined(applied))
        elif isinstance(command, HaMode):
            self._arbiter.set_mode(command.mode, None)
            applied = {"mode": command.mode}
            self.fleet.publish_event("mode_change", "home_assistant", mode=command.mode)
        elif isinstance(command, RequestBirth):
            if self.heater.identity is not None:
                self.fleet.publish_birth(self._birth())
            applied = {"birth": self.heater.identity is not None}
        self.target = self._arbiter.target(plant_now)
        reply = received.reply.model_copy(update={"applied": applied})
        self.fleet.answer(received.response_topic, received.correlation, reply)

    def _plant_until(
        self, expires_at: datetime | None, duration_s: float | None, plant_now: float
    ) -> float | None:
        """An end time on the plant clock (a duration counts in the heater's own time)."""
        if duration_s is not None:
            return plant_now + duration_s
        if expires_at is not None:
            return plant_now + max(0.0, expires_at.timestamp() - self._wall())
        return None

    def _apply_reload(self) -> None:
        """SIGHUP: apply the keys that can change live; name the ones that need a restart."""
        from boiler_agent.config import ConfigError, load_config

        self.notifier.reloading("reloading the configuration")
        try:
            fresh = load_config(self.config_path)
        except ConfigError as error:
            for line in error.lines():
                log.error("reload refused, the running configuration stays: %s", line)
            self.notifier.ready(self.status_line())
            return
        changed = _changed_keys(self.config, fresh)
        live = sorted(changed & RELOADABLE)
        later = sorted(changed - RELOADABLE)
        self._arbiter.setpoint_min_c = fresh.control.setpoint_min_c
        self._arbiter.setpoint_max_c = fresh.control.setpoint_max_c
        if self.fleet is not None:
            self.fleet.gate.setpoint_range_c = (
                fresh.control.setpoint_min_c,
                fresh.control.setpoint_max_c,
            )
        # Keep the running config for everything else: those keys apply at the next start.
        self.config = self.config.model_copy(
            update={
                "log": fresh.log,
                "mqtt": self.config.mqtt.model_copy(
                    update={"telemetry_period_s": fresh.mqtt.telemetry_period_s}
                ),
                "control": self.config.control.model_copy(
                    update={
                        "setpoint_min_c": fresh.control.setpoint_min_c,
                        "setpoint_max_c": fresh.control.setpoint_max_c,
                    }
                ),
            }
        )
        log.info(
            "reloaded: %s%s",
            ", ".join(live) or "nothing changed live",
            f"; at the next restart: {', '.join(later)}" if later else "",
        )
        logging.getLogger().setLevel(fresh.log.level.upper())  # after saying so, in any case
        self.notifier.ready(self.status_line())

    # -- jobs -------------------------------------------------------------------------------

    def _jobs(self) -> None:
        if self.feed is None:
            return
        pending = self.scheduler.store.remote_jobs_pending()
        self.feed.gate(
            wants_heat=self.demand_w * self.allowed > 0, has_room=pending < self._workers
        )
        self.feed.process()
        self.feed.publish_results()

    # -- what we tell the fleet and the operator ---------------------------------------------

    def _birth(self) -> Birth:
        identity = self.heater.identity
        assert identity is not None
        return Birth(
            heater_id=self.config.heater.id,
            fleet=self.config.heater.fleet,
            boot_id=self.boot_id,
            agent_version=__version__,
            firmware_version=identity.firmware_version,
            protocol_version=identity.protocol_version,
            heater_kind=self.config.heater.kind,
            rated_power_w=self.max_power_w,
            cpu_count=self._workers,
            capabilities=["jobs", "setpoint_override", "set_mode"]
            + (["ha_discovery"] if self.config.homeassistant.discovery else []),
            actuators=[a for a in self.config.power.actuators if a in ("workers", "duty")]
            + ([self.frequency_knob[0].name] if self.frequency_knob else []),
            config_digest=config_digest(self.config),
            started_at=self.started_at,
        )

    def _state_payload(self) -> State:
        target = self.target
        until = target.override_until_s if target else None
        until_at: datetime | None = None
        if until is not None:
            with contextlib.suppress(ValueError, OverflowError, OSError):  # beyond datetime
                until_at = datetime.fromtimestamp(
                    self._wall() + (until - self._plant_clock()), tz=UTC
                )
        return State(
            mode=target.mode if target else "heat",
            setpoint_c=target.setpoint_c if target else 0.0,
            setpoint_source=target.source if target else "schedule",
            override_until=until_at,
            accepting_jobs=bool(self.feed and self.feed.stats.subscribed),
            safety_trips=sorted(self.trips),
        )

    def _publish_telemetry(self) -> None:
        if self.fleet is None:
            return
        stats = self.heater.link.stats
        outbox = self.fleet.outbox.stats()
        controlled = "water_c" if self.config.heater.kind == "boiler" else "air_c"
        temp, _ = self.heater.controlled_temp()
        cpu = self._cpu
        allocation = self.power.allocation
        counts = self._job_counts()
        self.fleet.publish_telemetry(
            {
                "temperatures": {
                    controlled: _bounded(temp),
                    "outdoor_c": _bounded(self.heater.temp_of(SensorKind.OUTDOOR)),
                    "cpu_package_c": _bounded(cpu[0] if cpu else None),
                },
                "setpoint_c": self.target.setpoint_c if self.target else 0.0,
                "heat_demand_w": max(0.0, self.demand_w),
                "power_w": max(0.0, self.measured_w),
                "power_estimated": True,
                "workers_running": len(self.scheduler.running_indices()),
                "workers_max": allocation.workers,
                "duty": min(1.0, max(0.0, allocation.duty)),
                "jobs": {
                    "running": counts["running"],
                    "queued": counts["queued"],
                    "done": self.jobs_done,
                },
                "energy": {
                    "total_kwh": round(self.energy.total_kwh, 6),
                    "wanted_kwh": round(min(self.energy.wanted_kwh, self.energy.total_kwh), 6),
                },
                "link": {
                    "frames_ok": stats.frames_rx,
                    "frames_bad": stats.decoder.errors,
                    "reconnects": stats.reconnects,
                    "up": self.heater.identity is not None,
                },
                "outbox": {"queued": outbox.queued, "dropped": outbox.dropped_total},
            }
        )
        self.telemetry_sent += 1

    @property
    def jobs_done(self) -> int:
        """Real jobs finished (the filler never finishes by design)."""
        if self.state == "stopped":
            return self._jobs_done_at_stop
        return self.scheduler.store.count_jobs(JobState.DONE, filler=False)

    def _job_counts(self) -> dict[str, int]:
        store = self.scheduler.store
        return {
            "running": store.count_jobs(JobState.RUNNING, filler=False),
            "queued": store.count_jobs(JobState.QUEUED, filler=False)
            + store.count_jobs(JobState.PREEMPTED, filler=False),
            "done": store.count_jobs(JobState.DONE, filler=False),
            "failed": store.count_jobs(JobState.FAILED, filler=False),
        }

    def status(self) -> AgentStatus:
        """The latest snapshot, for other threads (the status socket, a live view).

        Built by the loop's own thread every STATUS_EVERY_S: the job store's SQLite connection
        belongs to that thread, and a snapshot must not take locks the loop needs.
        """
        snapshot = self._last_status
        if snapshot is None:
            snapshot = self._snapshot(with_store=False)  # before the loop's first snapshot
            self._last_status = snapshot
        return snapshot

    def _snapshot(self, *, with_store: bool = True) -> AgentStatus:
        """A snapshot; `with_store` only on the loop's thread (it reads the job store)."""
        identity = self.heater.identity
        readings = self.heater.readings
        temps: dict[str, float | None] = {}
        if readings is not None:
            for kind, value in zip(readings.sensors, readings.temps_c, strict=True):
                temps[SENSOR_NAMES.get(kind, kind.name.lower())] = value
        fleet = self.fleet
        broker: dict[str, Any] = {"url": self.config.mqtt.url if fleet else None}
        if fleet is not None:
            outbox = fleet.outbox.stats() if self.state != "stopped" else None
            broker.update(
                connected=fleet.client.connected,
                outbox_queued=outbox.queued if outbox else None,
                outbox_dropped=outbox.dropped_total if outbox else None,
                last_error=fleet.client.stats.last_error,
            )
        stats = self.heater.link.stats
        link: dict[str, Any] = {
            "state": self.heater.link.state.name.lower(),
            "frames_rx": stats.frames_rx,
            "frames_bad": stats.decoder.errors,
            "reconnects": stats.reconnects,
            "last_reading_age_s": None
            if readings is None
            else round(max(0.0, self._monotonic() - readings.at_s), 1),
            "refused": self.heater.mismatch,
        }
        target = self.target
        return AgentStatus(
            agent_version=__version__,
            heater_id=self.config.heater.id,
            pid=os.getpid(),
            started_at=self.started_at,
            updated_at=datetime.fromtimestamp(self._wall(), tz=UTC),
            state=self.state,
            heater=HeaterInfo(
                kind=self.config.heater.kind,
                serial=identity.serial_number,
                firmware=identity.firmware_version,
                rated_power_w=float(identity.rated_power_w),
            )
            if identity
            else None,
            temperatures_c=temps,
            outdoor_c=self.heater.temp_of(SensorKind.OUTDOOR),
            setpoint_c=target.setpoint_c if target else None,
            setpoint_source=target.source if target else None,
            mode=target.mode if target else None,
            heat_demand_w=round(self.demand_w, 1),
            power_w=round(self.measured_w, 1),
            power_estimated=True,
            workers_running=len(self.scheduler.running_indices()) if self.state != "stopped" else 0,
            workers_max=self.power.allocation.workers,
            duty=round(self.power.allocation.duty, 3),
            jobs=self._job_counts() if with_store and self.state == "running" else {},
            link=link,
            broker=broker,
            safety_trips=[f"{kind}: {reason}" for kind, reason in sorted(self.trips.items())],
            energy_kwh=round(self.energy.total_kwh, 4),
        )

    def status_line(self) -> str:
        return status_line(self.status())

    def _write_status(self) -> None:
        try:
            self._status_file.write(self.status())
        except (OSError, StatusError) as error:
            log.debug("status file not written: %s", error)


# What SIGHUP applies without a restart; everything else needs one (and the log says which).
RELOADABLE = frozenset(
    {"log.level", "mqtt.telemetry_period_s", "control.setpoint_min_c", "control.setpoint_max_c"}
)


def _changed_keys(old: AgentConfig, new: AgentConfig) -> set[str]:
    """Dotted keys whose values differ (a password is compared, never shown)."""
    before, after = old.model_dump(mode="json"), new.model_dump(mode="json")
    changed: set[str] = set()
    if old.mqtt.resolved_password() != new.mqtt.resolved_password():
        changed.add("mqtt.password")
    for section in before.keys() | after.keys():
        a, b = before.get(section), after.get(section)
        if isinstance(a, dict) and isinstance(b, dict):
            changed |= {
                f"{section}.{key}" for key in a.keys() | b.keys() if a.get(key) != b.get(key)
            }
        elif a != b:
            changed.add(section)
    return changed


def _next_deadline(deadline: float, period: float, now: float) -> float:
    """The next deadline on the period's grid; after a late turn, a full period from now.

    On the grid, a loop whose turns jitter keeps its rate; but after a stall it must not run
    back-to-back periods (a measurement over a few milliseconds is mostly noise).
    """
    following = deadline + period
    return following if following > now else now + period


def _bounded(value: float | None) -> float | None:
    """A temperature the telemetry schema accepts (-60..150 °C), else None."""
    if value is None or not -60.0 <= value <= 150.0:
        return None
    return value


def _defined(values: dict[str, Any]) -> dict[str, str | float | int | bool]:
    return {key: value for key, value in values.items() if value is not None}
