"""The world a fault campaign runs: the real agent in-process, its heater, its workers, a broker.

`CampaignRig` starts the real `Supervisor` with a virtual clock, an `InProcessHeater` (the
real link speaking the real protocol to the simulated MCU) and a `SimulatedPool`; the broker,
when there is one, is a real Mosquitto. It injects each fault of the schedule and undoes it
when its time is up, restarts the agent as systemd would after a kill or a stop, resets a
latched trip as an operator would once its cause is repaired, and records a `Sample` of the
heater and the agent every period for the invariants.
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from boiler_agent.compute.simulated_pool import SimulatedPool
from boiler_agent.config import AgentConfig
from boiler_agent.daemon.clocks import VirtualClock
from boiler_agent.daemon.loop import PeriodReport
from boiler_agent.daemon.supervisor import Supervisor
from boiler_agent.faults.fleet_noise import FleetNoise
from boiler_agent.faults.schedule import Fault, Injection
from boiler_agent.telemetry.local_broker import LocalBroker
from boiler_agent.telemetry.topics import Topics
from firmware_bridge.simulator.in_process import InProcessHeater

log = logging.getLogger(__name__)

WORKERS = 4
TURN_S = 0.5  # longer turns than on a heater: the simulated workers need no finer duty
OPERATOR_DELAY_S = 300.0  # an operator resets a latched trip this long after its cause is gone
FLEET_OF_RIG = "campaign"
FULL_DISK_PAGES = 1  # PRAGMA max_page_count: the file cannot grow by a page


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
    periods: int = 0
    injected: list[tuple[float, Fault]] = field(default_factory=list)
    boots: int = 0
    resets: int = 0
    agent: Supervisor | None = None
    noise: FleetNoise | None = None
    _active: list[Active] = field(default_factory=list)
    _sensor_faults: int = 0
    _reset_due_s: float | None = None

    def __post_init__(self) -> None:
        self.heater = InProcessHeater(self.preset, clock=self.clock.now, seed=self.seed)
        self.start_agent()

    # -- the agent's life -----------------------------------------------------------------------

    def start_agent(self) -> None:
        self.pool = SimulatedPool(WORKERS, clock=self.clock.now, sleep=self.clock.sleep)
        link = self.heater.new_link() if self.boots else self.heater.link
        self.agent = Supervisor(
            self.config,
            clocks=self.clock.clocks(),
            serve_status=False,
            link=link,
            pool=self.pool,
            cpu_sensor=lambda: None,
            cpu_clock=lambda: None,
            turn_s=TURN_S,
        )
        self.agent.start()
        self.boots += 1

    def run_until(self, end_s: float, schedule: list[Injection]) -> None:
        pending = sorted(schedule, key=lambda injection: injection.at_s)

        def until() -> bool:
            now = self.clock.now()
            self.heater.pump()
            while pending and pending[0].at_s <= now:
                self._inject(pending.pop(0))
            self._undo_due(now)
            self._operator(now)
            return now >= end_s or self._restart_due()

        while self.clock.now() < end_s:
            assert self.agent is not None
            self.agent.run_turns(until=until, on_period=self._record)
            if self._restart_due():
                self._restart()

    def close(self) -> None:
        if self.agent is not None:
            self.agent.shutdown()
        if self.noise is not None:
            self.noise.close()

    # -- recording ----------------------------------------------------------------------------

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
        if fault is Fault.CLOCK_STEP:
            # Forward by up to 50 years (a heater that booted in 1970) or back by up to a day.
            self.clock.epoch_s += (draw - 0.2) * (50 * 365 * 86400.0 if draw > 0.2 else 432000.0)
            return None
        if fault is Fault.DISK_FULL:
            return self._fill_disk()
        return self._broker_fault(injection)

    def _broker_fault(self, injection: Injection) -> Callable[[], None] | None:
        broker = self.broker
        if broker is None:
            return None
        if injection.fault is Fault.BROKER_RESTART:
            broker.stop()  # SIGTERM: with persistence on, it keeps what it acknowledged
            return broker.start
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

    def _repair_sensor(self) -> None:
        self.heater.set_sensor_fault(0, None)
        self._sensor_faults -= 1
        self._reset_due_s = self.clock.now() + OPERATOR_DELAY_S

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
        """The state directory's databases stop growing; what was there stays readable."""
        connections = self._state_connections()
        for connection in connections:
            pages = connection.execute("PRAGMA page_count").fetchone()[0]
            connection.execute(f"PRAGMA max_page_count = {int(pages) + FULL_DISK_PAGES}")

        def free() -> None:
            for connection in self._state_connections():
                connection.execute("PRAGMA max_page_count = 1073741823")

        return free

    def _state_connections(self) -> list[sqlite3.Connection]:
        loop = self.agent.loop if self.agent else None
        if loop is None:
            return []
        found: list[Any] = [loop.parts.scheduler.store._db]
        if loop.parts.uplink is not None:
            found.append(loop.parts.uplink.outbox._db)
        return found

    def _undo_due(self, now: float) -> None:
        for active in [a for a in self._active if a.until_s <= now]:
            self._active.remove(active)
            if active.undo is not None:
                active.undo()

    def _restart_due(self) -> bool:
        return self.agent is None

    def _restart(self) -> None:
        # The agent is down: the world goes on without it until its restart is due.
        while self.agent is None:
            self.clock.sleep(TURN_S)
            self.heater.pump()
            self._undo_due(self.clock.now())

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
