"""The world a fault campaign runs: the real agent in-process, its heater, its workers, a broker.

`CampaignRig` starts the real `Supervisor` with a virtual clock, an `InProcessHeater` (the
real link speaking the real protocol to the simulated MCU) and a `SimulatedPool`; the broker,
when there is one, is a real Mosquitto. It injects each fault of the schedule and undoes it
when its time is up, restarts the agent as systemd would after a kill or a stop, resets a
latched trip as an operator would once its cause is repaired, and records a `Sample` of the
heater and the agent every period for the invariants.

Three faults need the rig's help to be real: a blocked outlet holds the heater body past the
MCU's limit until it is cleared; a SIGTERM meant for a checkpoint waits for a worker that is
stopping at a chunk boundary with its checkpoint not yet in (a CPU package that reaches its
critical temperature while workers run makes one: the power loop stops them at once); a
damaged database is damaged while the agent is down.
"""

from __future__ import annotations

import collections
import contextlib
import dataclasses
import logging
import math
import random
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from boiler_agent.compute.pool import WorkerState
from boiler_agent.compute.simulated_kernel_pool import SimulatedKernelPool
from boiler_agent.compute.simulated_pool import SimulatedPool
from boiler_agent.compute.store import JobStore
from boiler_agent.compute.worker import Task
from boiler_agent.config import AgentConfig
from boiler_agent.daemon.clocks import VirtualClock
from boiler_agent.daemon.loop import PeriodReport
from boiler_agent.daemon.supervisor import Supervisor
from boiler_agent.faults.fleet_noise import FleetNoise
from boiler_agent.faults.schedule import Fault, Injection
from boiler_agent.telemetry.local_broker import LocalBroker
from boiler_agent.telemetry.topics import Topics
from firmware_bridge.protocol import SensorKind
from firmware_bridge.simulator.in_process import InProcessHeater
from firmware_bridge.simulator.mcu import ThermostatReading

log = logging.getLogger(__name__)

WORKERS = 4
TURN_S = 0.5  # longer turns than on a heater (duty windows stretch to span a turn)
OPERATOR_DELAY_S = 300.0  # an operator resets a latched trip this long after its cause is gone
FLEET_OF_RIG = "campaign"
RESTART_DELAY_S = 5.0  # systemd's RestartSec=5 after a stop that was not asked for
CPU_CRITICAL_C = 100.0  # a CPU package at its critical temperature: no heat allowed
STATE_DATABASES = ("jobs.sqlite", "outbox.sqlite")
SQLITE_HEADER_BYTES = 100  # the file header SQLite checks before anything else
BROKER_SEEN_WAIT_S = 15.0  # real seconds the rig waits for the agent to see the broker go or return
# A thermostat's garbage: the largest setpoint the protocol's centi-degrees can carry.
GARBAGE_SETPOINT_C = 327.0


@dataclass(frozen=True)
class Sample:
    """One period, as the invariants see it: the agent's decisions and the heater's truth."""

    at_s: float
    boot: int  # which agent run (a kill or a stop starts the next)
    report: PeriodReport
    world_c: float  # the controlled temperature as it really is
    mcu_lease: bool
    mcu_power_w: float
    sensor_fault: bool  # a sensor fault is injected now
    resets: int  # operator resets so far
    setpoint_c: float = math.nan  # the thermostat's setpoint, as the occupant set it
    draw_l_per_min: float = 0.0  # hot water being drawn (a boiler)
    body_c: float | None = None  # the heater body's true temperature, where it has a sensor
    workers_running: int = 0  # workers computing now: heat the MCU's lease should cover


@dataclass
class Active:
    injection: Injection
    until_s: float
    undo: Callable[[], None] | None


@dataclass
class CampaignRig:
    workdir: Path
    seed: int
    config: AgentConfig
    broker: LocalBroker | None = None
    preset: str = "room"
    clock: VirtualClock = field(default_factory=VirtualClock)
    on_sample: Callable[[Sample], None] | None = None  # e.g. the invariants' Checker.observe
    # Set: the workers compute real kernels, a unit per this much CPU (I5); else heat only.
    cpu_s_per_unit: Callable[[Task], float] | None = None
    on_jobs_lost: Callable[[JobStore], None] | None = None  # the job store was replaced
    periods: int = 0
    injected: list[tuple[float, Fault]] = field(default_factory=list)
    boots: int = 0
    resets: int = 0
    agent: Supervisor | None = None
    noise: FleetNoise | None = None
    _active: list[Active] = field(default_factory=list)
    _sensor_faults: int = 0
    _reset_due_s: float | None = None
    _held_c: dict[str, float] = field(default_factory=dict)  # plant node -> held at least at
    _term_armed: Injection | None = None  # a SIGTERM waiting for a worker's stop checkpoint
    _cpu_hot = False
    _restart_at_s: float | None = None  # a crashed agent's start, as systemd would
    crashes: list[tuple[float, str]] = field(default_factory=list)  # (at, error): I6
    # How each SIGTERM meant for a checkpoint landed: "in_window" (a worker was stopping),
    # "no_window" (none stopped within the fault's wait: delivered at its end), "agent_down".
    term_stops: collections.Counter[str] = field(default_factory=collections.Counter)
    # Each damaged database after the restart: "moved_aside" (found, set aside, a fresh one) or
    # "unnoticed" (the agent opened it as it was).
    db_corruptions: collections.Counter[str] = field(default_factory=collections.Counter)

    def __post_init__(self) -> None:
        self.heater = InProcessHeater(self.preset, clock=self.clock.now, seed=self.seed)
        self.start_agent()

    # -- the agent's life -----------------------------------------------------------------------

    def start_agent(self) -> None:
        if self.cpu_s_per_unit is None:
            self.pool = SimulatedPool(WORKERS, clock=self.clock.now, sleep=self.clock.sleep)
        else:
            self.pool = SimulatedKernelPool(
                WORKERS,
                clock=self.clock.now,
                sleep=self.clock.sleep,
                cpu_s_per_unit=self.cpu_s_per_unit,
            )
        link = self.heater.new_link() if self.boots else self.heater.link
        self.agent = Supervisor(
            self.config,
            clocks=self.clock.clocks(),
            serve_status=False,
            link=link,
            pool=self.pool,
            cpu_sensor=self._cpu_reading,
            cpu_clock=lambda: None,
            turn_s=TURN_S,
            idle_turn_s=TURN_S,
        )
        self.agent.start()
        self.boots += 1

    def _cpu_reading(self) -> tuple[float, float] | None:
        """(current, critical) °C of the CPU package: none to read, unless it runs hot."""
        return (CPU_CRITICAL_C, CPU_CRITICAL_C) if self._cpu_hot else None

    def run_until(
        self,
        end_s: float,
        schedule: list[Injection],
        stop: Callable[[], bool] | None = None,
    ) -> None:
        """Run the agent to `end_s` of the plant's clock, injecting the schedule; `stop` ends
        the run sooner (checked between turns)."""
        pending = sorted(schedule, key=lambda injection: injection.at_s)
        stopped = stop or (lambda: False)

        def until() -> bool:
            # Between two turns: where the agent notices a SIGTERM's flag.
            now = self.clock.now()
            if stopped():
                return True
            self._pump()
            while pending and pending[0].at_s <= now:
                self._inject(pending.pop(0))
            self._undo_due(now)
            self._operator(now)
            self._term_if_checkpointing()
            return now >= end_s or self._restart_due()

        while self.clock.now() < end_s and not stopped():
            assert self.agent is not None
            try:
                self.agent.run_turns(until=until, on_period=self._record)
            except Exception as error:  # the agent died: systemd starts it again
                self._crashed(error)
            if self._restart_due() and not stopped():
                self._restart()

    def close(self) -> None:
        if self.agent is not None:
            self.agent.shutdown()
        if self.noise is not None:
            self.noise.close()

    # -- recording ----------------------------------------------------------------------------

    def _pump(self) -> None:
        """The world and the MCU to now; a held node (a blocked outlet) stays at least that hot."""
        self.heater.pump()
        plant = self.heater.world.physics.plant
        for node, temp_c in self._held_c.items():
            plant.set_temp(node, max(temp_c, plant.temp_c(node)))

    def _record(self, report: PeriodReport) -> None:
        world = self.heater.world.snapshot()
        self.periods += 1
        if self.on_sample is None:
            return
        self.on_sample(
            Sample(
                at_s=report.at_s,
                boot=self.boots,
                report=report,
                world_c=next(iter(world.temperatures_c.values())),
                mcu_lease=self.heater.mcu.lease_active,
                mcu_power_w=float(self.heater.mcu.heater_power_w),
                sensor_fault=self._sensor_faults > 0,
                resets=self.resets,
                setpoint_c=world.setpoint_c,
                draw_l_per_min=world.draw_l_per_min,
                body_c=world.temperatures_c.get(SensorKind.HEATER_BODY),
                workers_running=len(self.pool.running_indices()),
            )
        )

    # -- faults ---------------------------------------------------------------------------------

    def _inject(self, injection: Injection) -> None:
        now = self.clock.now()
        fault = injection.fault
        log.info("campaign: %s at %.0f s for %.0f s", fault.value, now, injection.duration_s)
        self.injected.append((now, fault))
        undo = self._apply(injection)
        self._active.append(Active(injection, now + injection.duration_s, undo))

    def _apply(self, injection: Injection) -> Callable[[], None] | None:
        heater, fault, draw = self.heater, injection.fault, injection.draw
        if fault is Fault.UNPLUG:
            heater.unplug()
            return heater.plug
        if fault is Fault.MCU_SILENT:
            heater.silence(injection.duration_s)
            return None
        if fault is Fault.MCU_RESET:
            heater.reset_mcu()
            return None
        if fault is Fault.LINE_NOISE:
            heater.set_line_noise(crc_error_rate=0.2 * draw, garbage_rate=0.05 * draw)
            return heater.set_line_noise
        if fault in (Fault.SENSOR_OPEN, Fault.SENSOR_SHORT, Fault.SENSOR_FROZEN):
            heater.set_sensor_fault(0, fault.value.removeprefix("sensor_"))
            self._sensor_faults += 1
            return self._repair_sensor
        if fault is Fault.OVERHEAT:
            node = heater.heater.plant.controlled_node
            heater.world.physics.plant.set_temp(node, self.config.control.max_temp_c + 2 + draw)
            return None
        if fault is Fault.BODY_OVERHEAT:
            return self._block_outlet(draw)
        if fault is Fault.ONE_WAY_LINK:
            heater.cut_host_to_mcu(injection.duration_s)
            return None
        if fault is Fault.WORKER_CRASH:
            self.pool.crash(int(draw * WORKERS))
            return None
        if fault is Fault.WORKERS_BROKEN:
            self.pool.broken = True
            return lambda: setattr(self.pool, "broken", False)
        if fault in (Fault.AGENT_KILL, Fault.AGENT_TERM):
            return self._take_down(kill=fault is Fault.AGENT_KILL)
        if fault is Fault.TERM_IN_CHECKPOINT:
            return self._arm_term(injection)
        if fault is Fault.DB_CORRUPT:
            return self._corrupt_while_down(draw)
        if fault is Fault.CLOCK_STEP:
            # Forward by up to 50 years (a heater that booted in 1970) or back by up to a day.
            self.clock.epoch_s += (draw - 0.2) * (50 * 365 * 86400.0 if draw > 0.2 else 432000.0)
            return None
        if fault is Fault.DISK_FULL:
            return self._fill_disk()
        if fault is Fault.THERMOSTAT_GARBAGE:
            return self._garble_thermostat(draw)
        if fault is Fault.KNOB_UP:
            physics = heater.world.physics
            low, high = physics.thermostat.knob_range_c
            wanted = physics.setpoint()[0] + 2.0 + 2.0 * draw
            heater.world.turn_knob(min(high, max(low, wanted)))
            return None
        return self._broker_fault(injection)

    def _broker_fault(self, injection: Injection) -> Callable[[], None] | None:
        broker = self.broker
        if broker is None:
            return None
        if injection.fault is Fault.BROKER_RESTART:
            broker.stop()  # SIGTERM: with persistence on, it keeps what it acknowledged
            self._until_the_agent_sees_the_broker(gone=True)

            def restart() -> None:
                broker.start()
                self._until_the_agent_sees_the_broker(gone=False)

            return restart
        if injection.fault is Fault.BROKER_PAUSE:
            broker.pause()
            return broker.resume
        noise = self.noise
        if noise is None:
            noise = self.noise = FleetNoise(
                "127.0.0.1", broker.port, Topics(FLEET_OF_RIG, self.config.heater.id), self.seed
            )
        if injection.fault is Fault.COMMAND_FLOOD:
            noise.command_flood()
        elif injection.fault is Fault.OVERSIZED:
            noise.oversized()
        elif injection.fault is Fault.OFFER_BURST:
            noise.offer_burst()
        return None

    def _until_the_agent_sees_the_broker(self, *, gone: bool) -> None:
        """The virtual clock waits (real time, bounded) for the agent's network thread to see
        the broker go, or come back: an outage of minutes on a heater is one on its network
        thread too, not the fraction of a second a virtual clock makes of it. Without this,
        messages handed to the transport before it noticed leave by paho's own retries, and a
        campaign can end before the agent has reconnected."""
        loop = self.agent.loop if self.agent is not None else None
        if loop is None or loop.parts.uplink is None:
            return
        client = loop.parts.uplink.client
        deadline = time.monotonic() + BROKER_SEEN_WAIT_S
        while client.connected == gone and time.monotonic() < deadline:
            time.sleep(0.01)

    def _repair_sensor(self) -> None:
        self.heater.set_sensor_fault(0, None)
        self._sensor_faults -= 1
        self._reset_due_s = self.clock.now() + OPERATOR_DELAY_S

    def _block_outlet(self, draw: float) -> Callable[[], None]:
        """The heater body held 1-3 K past the MCU's limit (a covered grille, a stopped fan or
        pump: the heat has nowhere to go); cleared, it cools, and an operator resets the MCU's
        latched shutdown once the cause is gone."""
        plant = self.heater.heater.plant
        node = plant.heater_node
        self._held_c[node] = plant.max_temp_c + 1.0 + 2.0 * draw

        def clear() -> None:
            self._held_c.pop(node, None)
            self._reset_due_s = self.clock.now() + OPERATOR_DELAY_S

        return clear

    def _garble_thermostat(self, draw: float) -> Callable[[], None]:
        """The thermostat announces a next setpoint of 327 °C, and with half the draws says
        it is the setpoint now as well; the world's own thermostat comes back when undone."""
        world = self.heater.world
        honest = world.thermostat

        def garbled() -> ThermostatReading:
            reading = honest()
            setpoint_c = GARBAGE_SETPOINT_C if draw >= 0.5 else reading.setpoint_c
            return dataclasses.replace(
                reading, setpoint_c=setpoint_c, next_change=(60.0, GARBAGE_SETPOINT_C)
            )

        setattr(world, "thermostat", garbled)  # noqa: B010  # an instance's own, undone below
        return lambda: delattr(world, "thermostat")

    def _arm_term(self, injection: Injection) -> Callable[[], None]:
        """SIGTERM, timed for a worker that is stopping to checkpoint; the fault's duration is
        the longest wait (with no worker running, no heat wanted, there is none to hit)."""
        self._term_armed = injection
        return lambda: self._term_at_the_wait_end(injection)

    def _term_if_checkpointing(self) -> None:
        if self._term_armed is None or self.agent is None:
            return
        states = {worker.state for worker in self.pool.workers}
        if WorkerState.STOPPING in states:
            self._deliver_term("in_window")
        else:
            # The CPU package hot while workers run: the power loop stops them all at once.
            self._cpu_hot = WorkerState.RUNNING in states

    def _term_at_the_wait_end(self, injection: Injection) -> None:
        if self._term_armed is injection:
            self._deliver_term("no_window" if self.agent is not None else "agent_down")

    def _deliver_term(self, how: str) -> None:
        injection, self._term_armed = self._term_armed, None
        assert injection is not None
        self._cpu_hot = False
        self.term_stops[how] += 1
        if self.agent is None:
            return
        log.info("campaign: SIGTERM (%s)", how)
        start = self._take_down(kill=False)
        self._active.append(Active(injection, self.clock.now() + RESTART_DELAY_S, start))

    def _corrupt_while_down(self, draw: float) -> Callable[[], None]:
        """kill -9, then one state database damaged before the restart (a flash that hands back
        garbage after a power cut, a truncating copy)."""
        self._take_down(kill=True)
        state_dir = self.config.state_dir
        files = [state_dir / name for name in STATE_DATABASES if (state_dir / name).exists()]
        path = files[min(len(files) - 1, int(draw * len(files)))]
        how = damage_database(path, random.Random(draw))
        log.info("campaign: %s %s", path.name, how)

        def restart() -> None:
            self.start_agent()
            loop = self.agent.loop if self.agent else None
            moved = None
            if loop is not None and path.name == "jobs.sqlite":
                moved = loop.parts.scheduler.store.corrupt_moved_to
            elif loop is not None and loop.parts.uplink is not None:
                moved = loop.parts.uplink.outbox.corrupt_moved_to
            self.db_corruptions["moved_aside" if moved is not None else "unnoticed"] += 1
            lost_jobs = moved is not None and path.name == "jobs.sqlite" and loop is not None
            if lost_jobs and loop is not None and self.on_jobs_lost is not None:
                self.on_jobs_lost(loop.parts.scheduler.store)  # an operator submits them again

        return restart

    def _take_down(self, *, kill: bool) -> Callable[[], None]:
        agent = self.agent
        assert agent is not None
        if kill:
            agent.abandon()
        else:
            agent.shutdown()
        self.agent = None
        return self.start_agent

    def _fill_disk(self) -> Callable[[], None]:
        """The state directory's databases take no write; what was there stays readable.

        On a full disk every write transaction fails (a WAL append has nowhere to go). SQLite's
        page limit alone does not do that: a write that fits a page's free space passes. So the
        rig denies every write through SQLite's authorizer: the error reads "not authorized"
        where a disk says "database or disk is full", and the agent must take both as the
        storage failure they are."""
        for connection, lock in self._state_connections():
            with lock:
                connection.set_authorizer(_refuse_writes)

        def free() -> None:
            for connection, lock in self._state_connections():
                with lock:
                    connection.set_authorizer(None)

        return free

    def _state_connections(self) -> list[tuple[sqlite3.Connection, Any]]:
        """The agent's state databases, each with the lock its other users take."""
        loop = self.agent.loop if self.agent else None
        if loop is None:
            return []
        # The job store is used on the loop's thread only, where the rig runs too.
        found: list[tuple[sqlite3.Connection, Any]] = [
            (loop.parts.scheduler.store._db, contextlib.nullcontext())
        ]
        if loop.parts.uplink is not None:
            outbox = loop.parts.uplink.outbox
            found.append((outbox._db, outbox._lock))
        return found

    def _undo_due(self, now: float) -> None:
        for active in [a for a in self._active if a.until_s <= now]:
            self._active.remove(active)
            if active.undo is not None:
                active.undo()

    def _crashed(self, error: Exception) -> None:
        """An exception out of the agent: a crash (I6 counts it); systemd's Restart=on-failure
        starts it again RestartSec later, as after a kill."""
        now = self.clock.now()
        log.error("campaign: the agent crashed at %.0f s: %r", now, error, exc_info=error)
        self.crashes.append((now, f"{type(error).__name__}: {error}"[:300]))
        if self.agent is not None:
            self.agent.abandon()
            self.agent = None
        self._restart_at_s = now + RESTART_DELAY_S

    def _restart_due(self) -> bool:
        return self.agent is None

    def _restart(self) -> None:
        # The agent is down: the world goes on without it until its restart is due.
        while self.agent is None:
            self.clock.sleep(TURN_S)
            self._pump()
            self._undo_due(self.clock.now())
            if self._restart_at_s is not None and self.clock.now() >= self._restart_at_s:
                self._restart_at_s = None
                try:
                    self.start_agent()
                except Exception as error:  # a start that fails is a crash too: a loop
                    self._crashed(error)

    def _operator(self, now: float) -> None:
        if self._reset_due_s is None or now < self._reset_due_s or self.agent is None:
            return
        loop = self.agent.loop
        if loop is None or self._sensor_faults:
            return
        self._reset_due_s = None
        if set(loop.regulation.trips) & {"frozen_sensor", "runaway", "mcu_fault"}:
            loop.request_safety_reset(None, by="campaign operator", why="cause repaired")
            self.resets += 1


def damage_database(path: Path, rng: random.Random) -> str:
    """Overwrite the header with garbage, or cut the file off mid-page; says which it did.

    Both are damage SQLite must notice: a bad header is not a database, and pages past the
    cut read as missing. An empty file is not among them: SQLite takes it for a new database.
    """
    size = path.stat().st_size
    with path.open("r+b") as file:
        if rng.random() < 0.5 or size <= SQLITE_HEADER_BYTES:
            file.write(rng.randbytes(SQLITE_HEADER_BYTES))
            return "header overwritten"
        cut = SQLITE_HEADER_BYTES + int(rng.uniform(0.3, 0.7) * (size - SQLITE_HEADER_BYTES))
        file.truncate(cut)
        return f"truncated from {size} to {cut} bytes"


_WRITES = {sqlite3.SQLITE_INSERT, sqlite3.SQLITE_UPDATE, sqlite3.SQLITE_DELETE}


def _refuse_writes(action: int, *_: object) -> int:
    return sqlite3.SQLITE_DENY if action in _WRITES else sqlite3.SQLITE_OK
