"""The control loop: one period turns readings into a heat demand, safety, power and a lease.

Every `power.period_s` (1 s) `period(now, plant_now)` reads what the heater link queued, turns
the temperature error into a heat demand every control period (on the plant's clock), checks
the interlocks, tracks the allowed watts with the workers, renews the MCU's heat lease, pings
the systemd watchdog and hands state and telemetry to the uplink; it returns a `PeriodReport`
of what it decided. Between periods `turn()` keeps the duty-cycle windows moving and serves the
worker processes, waking only when one of them needs it. Nothing here blocks on the serial
port, the broker or the disk's other users: they run on their own threads and only exchange
queued values with this one.
"""

from __future__ import annotations

import logging
import math
import uuid
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from boiler_agent.compute.jobs import JobState
from boiler_agent.control.safety import TripKind
from boiler_agent.control.setpoint import Target
from boiler_agent.daemon.assembly import Parts
from boiler_agent.daemon.birth import birth_payload
from boiler_agent.daemon.clocks import Clocks
from boiler_agent.daemon.heat_watch import HeatWatch
from boiler_agent.daemon.heater_events import HeaterEvents
from boiler_agent.daemon.learnt_record import LearntRecord
from boiler_agent.daemon.lease_watch import LeaseWatch
from boiler_agent.daemon.regulation import Regulation
from boiler_agent.daemon.reload import reload_config
from boiler_agent.daemon.remote import RemoteCommands
from boiler_agent.daemon.resets import ResetQueue
from boiler_agent.daemon.snapshot import (
    JobCounts,
    LinkHealth,
    Snapshot,
    agent_status,
    plant_time_to_wall,
    sensor_name,
    state_payload,
    telemetry_fields,
)
from boiler_agent.daemon.trip_record import TripRecord
from boiler_agent.daemon.uplink import UplinkHealth
from boiler_agent.power.cpu_clock import cpu_frequency_mhz
from boiler_agent.power.cpu_temp import cpu_package_temperature
from boiler_agent.runtime.sd_notify import Notifier
from boiler_agent.runtime.status_model import AgentStatus
from boiler_agent.runtime.status_view import status_line
from boiler_agent.telemetry.payloads import Birth
from firmware_bridge.events import HeaterIdentity
from firmware_bridge.protocol import SensorKind

log = logging.getLogger(__name__)

TURN_S = 0.1  # between periods, while duty cycling: the duty windows' resolution
STATUS_EVERY_S = 2.0
MCU_RESTART_S = 10.0  # an MCU restarted by a reset is back (a new handshake) within this


@dataclass(frozen=True)
class PeriodReport:
    """What one period decided: the record the fault campaign's invariants are checked on."""

    at_s: float
    plant_s: float
    temp_c: float | None
    target: Target | None
    demand_w: float
    allowed: float  # 0..1: the interlocks' share of the demand
    measured_w: float
    lease_s: float | None  # the lease granted to the MCU; None: no heartbeat (no MCU accepted)
    trips: dict[str, str]


class ControlLoop:
    def __init__(
        self,
        parts: Parts,
        clocks: Clocks,
        *,
        boot_id: str | None = None,
        control_period_s: float | None = None,
        notifier: Notifier | None = None,
        cpu_sensor: Callable[[], tuple[float, float] | None] = cpu_package_temperature,
        cpu_clock: Callable[[], float | None] = cpu_frequency_mhz,
        on_status: Callable[[AgentStatus], None] | None = None,
        turn_s: float = TURN_S,
        idle_turn_s: float = math.inf,
    ) -> None:
        self.parts = parts
        self.config = parts.config
        self.clocks = clocks
        self.boot_id = boot_id or uuid.uuid4().hex
        self.notifier = notifier or Notifier(None)
        self.cpu_sensor = cpu_sensor
        self.cpu_clock = cpu_clock
        self.on_status = on_status  # e.g. the status file, every STATUS_EVERY_S
        # Between periods the loop wakes every `turn_s` while the duty cycler switches
        # workers, else every `idle_turn_s` (by default not before the next period): a turn
        # costs the supervisor's CPU, and ten a second with nothing to do were a third of its
        # idle overhead. A worker's message or death wakes it at once either way. A simulation
        # that needs neither finely may take longer turns.
        self.turn_s = turn_s
        self.idle_turn_s = idle_turn_s
        if parts.uplink is not None:  # a command is applied when it comes, not a period later
            parts.uplink.on_command = parts.scheduler.pool.wake
        self._frequency_mhz: float | None = None
        self.started_at = datetime.fromtimestamp(clocks.wall(), tz=UTC)
        self.state = "starting"
        self.regulation = Regulation(
            self.config,
            control_period_s or self.config.control.period_s,
            TripRecord(self.config.state_dir),
            LearntRecord(self.config.state_dir, parts.submit_write),
        )
        self.lease_watch = LeaseWatch()
        self.heat_watch = HeatWatch()
        self._mcu_restart_until = float("-inf")
        self.resets = ResetQueue()
        self._lease_granted = False
        self.heater_events = HeaterEvents(parts, self.regulation, clocks, self._birth_of)
        self.remote = (
            RemoteCommands(
                self.regulation.arbiter, parts.uplink, clocks, self._birth, self.resets.request
            )
            if parts.uplink is not None
            else None
        )
        self.allowed = 0.0
        self.measured_w = 0.0
        self.telemetry_sent = 0
        self.jobs_done_at_stop = 0
        self.latest: Snapshot | None = None
        self._job_counts: JobCounts | None = None
        self._cpu: tuple[float, float] | None = None  # CPU package (now, critical) °C
        self._ready_sent = False
        self._next_period = 0.0
        self._next_control = float("-inf")
        self._next_telemetry = 0.0
        self._next_status = 0.0
        self._last_plant: float | None = None  # the plant clock at the last period

    # -- turns and periods --------------------------------------------------------------------

    def turn(self) -> PeriodReport | None:
        """One pass: heater news, commands, and a period when one is due; then wait a little."""
        now = self.clocks.monotonic()
        self.heater_events.handle()
        self._apply_commands()
        if self.resets.apply(now, self.regulation, self.parts.uplink, self.parts.heater):
            self._mcu_restart_until = now + MCU_RESTART_S
        report = None
        if now >= self._next_period:
            report = self.period(now, self.clocks.plant_now())
            self._next_period = next_deadline(self._next_period, self.config.power.period_s, now)
        else:
            self.parts.power.loop.tick(now)
        scheduler = self.parts.scheduler
        turn_s = self.turn_s if self.parts.power.loop.cycler.cycling else self.idle_turn_s
        if report is not None and turn_s > self.turn_s:
            # The period's worker count takes effect now: a tick places work after its wait,
            # and this one may run to the next period (a whole period without the heat asked
            # for; `simulate` at x144 swung 0.5 K from it).
            scheduler.tick(0.0)
        wait = max(0.0, min(turn_s, self._next_period - self.clocks.monotonic()))
        scheduler.tick(wait)
        return report

    def period(self, now: float, plant_now: float) -> PeriodReport:
        parts = self.parts
        heater = parts.heater
        self._cpu = self.cpu_sensor()  # once a period: safety and telemetry share it
        plant_elapsed = 0.0 if self._last_plant is None else plant_now - self._last_plant
        self._last_plant = plant_now
        regulation = self.regulation
        target = regulation.update_target(plant_now)
        temp, reading_at = heater.controlled_temp()
        if plant_now >= self._next_control:
            self._next_control = next_deadline(
                self._next_control, regulation.control_period_s, plant_now
            )
            if parts.uplink is not None:
                parts.uplink.poll_weather()  # the fleet's latest report, before the law reads it
            regulation.control(plant_now, temp, self._outdoor_c())
        # Until the first readings of this MCU there is nothing to judge (and no heat anyway).
        self.allowed = 0.0
        if heater.accepted is not None and heater.readings is not None:
            stats = heater.link.stats
            lease_lost = self.lease_watch.check(
                sent=stats.heartbeats_sent,
                acked=stats.heartbeats_acked,
                granted=self._lease_granted,
                mcu_lease_active=heater.readings.lease_active,
            )
            judgement = regulation.judge(
                now,
                plant_now,
                temp,
                reading_at,
                power_fraction=min(1.0, self.measured_w / parts.power.max_power_w),
                measured_w=self.measured_w,
                # An MCU restarted by a reset still reports its old shutdown until it is back.
                mcu_shutdown=heater.shutdown and now >= self._mcu_restart_until,
                cpu=self._cpu,
                lease_lost=lease_lost,
                heater_body_c=heater.temp_of(SensorKind.HEATER_BODY),
            )
            self.allowed = judgement.allowed
            if parts.uplink is not None:
                parts.uplink.publish_safety_events(judgement.events)
        else:
            regulation.idle(now)
        demand = regulation.demand_w
        request = demand * self.allowed
        sample = parts.power.loop.step(request, now, plant_now)
        self.measured_w = sample.measured_w
        duty_period = parts.power.loop.cycler.period_in_force_s
        if self.heat_watch.check(
            request,
            self.measured_w,
            now,
            workers=sample.allocation.workers,
            duty_period_s=duty_period,
        ):
            self.heat_watch.announce(parts.uplink)
        lease: float | None = None
        identity = heater.accepted
        if identity is not None:
            lease = self.config.serial.lease_s if self.allowed > 0 else 0.0
            sent = heater.link.heartbeat(self.measured_w, lease, boot_id=identity.boot_id)
            self._lease_granted = sent and lease > 0
        # Heat is counted over the plant's seconds: what the room or tank received.
        parts.energy.add(self.measured_w, plant_elapsed, wanted=demand > 0, now_s=plant_now)
        regulation.save_learnt(now, plant_now, self.clocks.wall())
        self._feed_jobs()
        self.notifier.watchdog()  # from the loop itself: a stalled loop gets us restarted
        self._report(now)
        return PeriodReport(
            now, plant_now, temp, target, demand, self.allowed, self.measured_w, lease,
            dict(regulation.trips),
        )  # fmt: skip

    def _report(self, now: float) -> None:
        """Ready, state, telemetry and status, each at its own pace, from one snapshot."""
        uplink = self.parts.uplink
        telemetry_due = uplink is not None and now >= self._next_telemetry
        status_due = now >= self._next_status or not self._ready_sent
        if telemetry_due or status_due:  # SQLite counts and sysfs reads: only when shown
            self._job_counts = self.count_jobs()
            self._frequency_mhz = self.cpu_clock()
        self.latest = self.snapshot()
        if not self._ready_sent and self.parts.heater.readings is not None:
            self._ready_sent = True
            self.notifier.ready(self.status_line())
            log.info("ready: first readings in from %s", self.config.serial.port)
        if uplink is not None:
            if self.latest.target is not None:  # not a made-up 0 °C before the thermostat spoke
                uplink.publish_state(state_payload(self.latest))
            if telemetry_due:
                self._next_telemetry = next_deadline(
                    self._next_telemetry, self.config.mqtt.telemetry_period_s, now
                )
                self.publish_telemetry()
            uplink.housekeeping()
        if status_due:
            self._next_status = next_deadline(self._next_status, STATUS_EVERY_S, now)
            status = self.status()
            self.notifier.status(status_line(status))
            if self.on_status is not None:
                self.on_status(status)

    # -- safety resets ------------------------------------------------------------------------

    def request_safety_reset(
        self, kinds: set[TripKind] | None, by: str, why: str
    ) -> Future[list[str]]:
        """From any thread: reset latched trips at the loop's next turn; the future holds the
        kinds cleared."""
        return self.resets.request(kinds, by, why)

    # -- the fleet ----------------------------------------------------------------------------

    def _outdoor_c(self) -> float | None:
        """The outdoor sensor's reading; a room heater without one takes the fleet's weather.
        A boiler's "outdoor" is the room its tank stands in, which the weather does not say."""
        uplink = self.parts.uplink
        measured = self.parts.heater.temp_of(SensorKind.OUTDOOR)
        if measured is not None or uplink is None or self.config.heater.kind != "room":
            return measured
        return uplink.weather.outdoor_c(self.config.control.weather_max_age_s)

    def _apply_commands(self) -> None:
        uplink = self.parts.uplink
        if uplink is None or self.remote is None:
            return
        received = uplink.poll_commands()
        for command in received:
            self.remote.apply(command)
        if received:
            self.regulation.update_target(self.clocks.plant_now())

    def _feed_jobs(self) -> None:
        feed = self.parts.feed
        if feed is None:
            return
        pending = self.parts.scheduler.store.remote_jobs_pending()
        wants_heat = self.regulation.demand_w * self.allowed > 0
        feed.gate(wants_heat=wants_heat, has_room=pending < self.parts.workers)
        feed.process()
        feed.release_unwanted(wants_heat)  # jobs follow the heat
        feed.publish_statuses()
        feed.publish_results()

    def apply_reload(self, path: Path | None) -> None:
        """SIGHUP: apply the keys that can change live; name the ones that need a restart."""
        self.notifier.reloading("reloading the configuration")
        reloaded = reload_config(path, self.config)
        if reloaded is not None:
            control = reloaded.config.control
            self.config = reloaded.config
            self.regulation.set_setpoint_range(control.setpoint_min_c, control.setpoint_max_c)
            if self.parts.uplink is not None:
                self.parts.uplink.set_setpoint_range(
                    (control.setpoint_min_c, control.setpoint_max_c)
                )
            log.info(
                "reloaded: %s%s",
                ", ".join(reloaded.live) or "nothing changed live",
                f"; at the next restart: {', '.join(reloaded.later)}" if reloaded.later else "",
            )
            # After saying so, in any case.
            logging.getLogger().setLevel(self.config.log.level.upper())
        self.notifier.ready(self.status_line())

    def publish_telemetry(self) -> None:
        uplink = self.parts.uplink
        if uplink is None:
            return
        snapshot = self.latest or self.snapshot()
        uplink.publish_telemetry(telemetry_fields(snapshot))
        self.telemetry_sent += 1

    def _birth(self) -> Birth | None:
        identity = self.parts.heater.accepted
        return self._birth_of(identity) if identity is not None else None

    def _birth_of(self, identity: HeaterIdentity) -> Birth:
        power = self.parts.power
        return birth_payload(
            self.config,
            identity,
            boot_id=self.boot_id,
            max_power_w=power.max_power_w,
            workers=self.parts.workers,
            actuators=power.actuator_names,
            started_at=self.started_at,
            temperatures=self._temperatures_of(identity),
        )

    def _temperatures_of(self, identity: HeaterIdentity) -> list[str]:
        """The telemetry temperatures this heater has: the controlled one, the MCU's outdoor
        probe, the CPU package's sensor if it can be read."""
        have = ["water_c" if self.config.heater.kind == "boiler" else "air_c"]
        if SensorKind.OUTDOOR in identity.sensors:
            have.append("outdoor_c")
        if self.cpu_sensor() is not None:
            have.append("cpu_package_c")
        return have

    # -- what the operator and the fleet see ----------------------------------------------------

    def count_jobs(self) -> JobCounts:
        """Real jobs by state (the filler is not a job anyone asked for). Loop thread only."""
        store = self.parts.scheduler.store
        return JobCounts(
            running=store.count_jobs(JobState.RUNNING, filler=False),
            queued=store.count_jobs(JobState.QUEUED, filler=False)
            + store.count_jobs(JobState.PREEMPTED, filler=False),
            done=store.count_jobs(JobState.DONE, filler=False),
            failed=store.count_jobs(JobState.FAILED, filler=False),
        )

    @property
    def jobs_done(self) -> int:
        if self.state == "stopped":
            return self.jobs_done_at_stop
        return self.parts.scheduler.store.count_jobs(JobState.DONE, filler=False)

    def snapshot(self) -> Snapshot:
        """Everything the loop knows now (job counts as last counted on the loop's thread)."""
        parts = self.parts
        heater = parts.heater
        readings = heater.readings
        temps: dict[str, float | None] = {}
        if readings is not None:
            for kind, value in zip(readings.sensors, readings.temps_c, strict=True):
                temps[sensor_name(kind)] = value
        stats = heater.link.stats
        running = self.state not in ("stopping", "stopped")
        allocation = parts.power.loop.allocation
        target = self.regulation.target
        wall = self.clocks.wall()
        return Snapshot(
            heater_id=self.config.heater.id,
            heater_kind=self.config.heater.kind,
            state=self.state,
            started_at=self.started_at,
            taken_at=datetime.fromtimestamp(wall, tz=UTC),
            identity=heater.accepted,
            temperatures_c=temps,
            controlled_c=readings.controlled_temp_c if readings else None,
            outdoor_c=heater.temp_of(SensorKind.OUTDOOR),
            cpu_package_c=self._cpu[0] if self._cpu else None,
            target=target,
            override_until=plant_time_to_wall(
                target.override_until_s if target else None, self.clocks.plant_now(), wall
            ),
            demand_w=self.regulation.demand_w,
            allowed=self.allowed,
            measured_w=self.measured_w,
            power_estimated=parts.power.loop.meter.estimated,
            workers_running=len(parts.scheduler.running_indices()) if running else 0,
            workers_max=allocation.workers,
            duty=allocation.duty,
            frequency_mhz=self._frequency_mhz,
            jobs=self._job_counts if self.state == "running" else None,
            accepting_jobs=bool(parts.feed and parts.feed.stats.subscribed),
            link=LinkHealth(
                state=heater.link.state.name.lower(),
                up=heater.accepted is not None,
                frames_rx=stats.frames_rx,
                frames_bad=stats.decoder.errors,
                reconnects=stats.reconnects,
                last_reading_age_s=None
                if readings is None
                else round(max(0.0, self.clocks.monotonic() - readings.at_s), 1),
                refused=heater.mismatch,
            ),
            uplink=self._uplink_health(),
            trips=dict(self.regulation.trips),
            # As on disk: what is published never goes down across a kill or a power cut.
            energy_total_kwh=parts.energy.durable()[0],
            energy_wanted_kwh=parts.energy.durable()[1],
            heat_problem=self.heat_watch.problem,
            store_errors=parts.scheduler.store_errors,
            checkpoint_errors=parts.scheduler.checkpoint_errors,
            telemetry_sent=self.telemetry_sent,
        )

    def _uplink_health(self) -> UplinkHealth | None:
        uplink = self.parts.uplink
        if uplink is None:
            return None
        if self.state == "stopped":  # the outbox is closed: what it said last
            return self.latest.uplink if self.latest else None
        return uplink.health()

    def status(self) -> AgentStatus:
        return agent_status(self.latest or self.snapshot())

    def status_line(self) -> str:
        return status_line(self.status())


def next_deadline(deadline: float, period: float, now: float) -> float:
    """The next deadline on the period's grid; after a late turn, a full period from now.

    On the grid, a loop whose turns jitter keeps its rate; but after a stall it must not run
    back-to-back periods (a measurement over a few milliseconds is mostly noise).
    """
    following = deadline + period
    return following if following > now else now + period
