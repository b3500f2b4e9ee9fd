"""The daemon's life: start (directories, lock, parts, status), run the loop, stop cleanly.

`Supervisor` owns what lives as long as the process: the state-directory lock, the status
socket and file, the signals' requests. It assembles the parts, hands them to the
`ControlLoop` and turns it until stopped; at SIGTERM it checkpoints the workers within
TimeoutStopSec, withdraws the heat lease, publishes the last telemetry and flushes the outbox.
"""

from __future__ import annotations

import logging
import math
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path

from boiler_agent import __version__
from boiler_agent.compute.pool import Pool, WorkerState
from boiler_agent.config import AgentConfig
from boiler_agent.control.safety import LATCHED, TripKind
from boiler_agent.daemon.assembly import assemble
from boiler_agent.daemon.background_writer import BackgroundWriter
from boiler_agent.daemon.clocks import Clocks
from boiler_agent.daemon.heater_side import HeaterPort
from boiler_agent.daemon.lock import AgentStartError, StateDirLock, ensure_writable
from boiler_agent.daemon.loop import TURN_S, ControlLoop, PeriodReport
from boiler_agent.daemon.snapshot import Snapshot
from boiler_agent.power.cpu_clock import cpu_frequency_mhz
from boiler_agent.power.cpu_temp import cpu_package_temperature
from boiler_agent.runtime.control_socket import Answer, ControlRequest, ControlServer
from boiler_agent.runtime.sd_notify import Notifier
from boiler_agent.runtime.sqlite_schema import SchemaVersionError
from boiler_agent.runtime.status import StatusFile, StatusServer
from boiler_agent.runtime.status_model import AgentStatus, StatusError

log = logging.getLogger(__name__)

# The whole stop's budget (the unit's TimeoutStopSec=30, less a margin) and each phase's cap.
STOP_BUDGET_S = 25.0
SHUTDOWN_CHECKPOINT_S = 10.0  # workers stop at a chunk boundary, with a checkpoint
POOL_CLOSE_S = 5.0
WRITER_FLUSH_S = 2.0
FLUSH_S = 8.0  # the outbox's last messages to the broker
STOP_POLL_S = 0.05
STATUS_FILE_EVERY_S = 2.0
CONTROL_ANSWER_S = 5.0


class Supervisor:
    def __init__(
        self,
        config: AgentConfig,
        *,
        clocks: Clocks | None = None,
        control_period_s: float | None = None,
        notifier: Notifier | None = None,
        serve_status: bool = True,
        config_path: Path | None = None,
        link: HeaterPort | None = None,
        pool: Pool | None = None,
        cpu_sensor: Callable[[], tuple[float, float] | None] = cpu_package_temperature,
        cpu_clock: Callable[[], float | None] = cpu_frequency_mhz,
        turn_s: float = TURN_S,
        idle_turn_s: float = math.inf,
    ) -> None:
        self.config = config
        self.config_path = config_path  # what SIGHUP reloads
        self.clocks = clocks or Clocks()
        self.control_period_s = control_period_s
        self.notifier = notifier or Notifier(None)
        self.serve_status = serve_status
        self._link = link
        self._pool = pool
        self._cpu_sensor = cpu_sensor
        self._cpu_clock = cpu_clock
        self._turn_s = turn_s
        self._idle_turn_s = idle_turn_s
        self._stop = threading.Event()
        self._reload = threading.Event()
        self.stop_reason = ""
        self._lock = StateDirLock(config.state_dir / "agent.lock")
        self._status_server: StatusServer | None = None
        self._control_server: ControlServer | None = None
        self._status_file = StatusFile(config.status_state_file)
        self._status_file_due = 0.0
        self._writer = BackgroundWriter()
        self.loop: ControlLoop | None = None

    # -- lifecycle --------------------------------------------------------------------------

    def start(self) -> ControlLoop:
        """Open everything; AgentStartError with one line when something cannot be."""
        config = self.config
        for directory in (config.state_dir, config.cache_dir):
            ensure_writable(directory)
        self._lock.acquire()
        boot_id = uuid.uuid4().hex  # names this run in every message the parts send
        try:
            parts = assemble(
                config,
                self.clocks,
                boot_id=boot_id,
                link=self._link,
                pool=self._pool,
                submit_write=self._writer.submit,
            )
        except SchemaVersionError as error:
            self._lock.release()
            raise AgentStartError(str(error)) from None
        loop = ControlLoop(
            parts,
            self.clocks,
            boot_id=boot_id,
            control_period_s=self.control_period_s,
            notifier=self.notifier,
            on_status=self._write_status,
            cpu_sensor=self._cpu_sensor,
            cpu_clock=self._cpu_clock,
            turn_s=self._turn_s,
            idle_turn_s=self._idle_turn_s,
        )
        self.loop = loop
        parts = loop.parts
        moved = parts.scheduler.store.corrupt_moved_to
        if moved is not None and parts.uplink is not None:
            parts.uplink.publish_event("fault", "job_store_corrupt", moved_to=moved.name)
        if parts.uplink is not None:
            parts.uplink.start()
        if self.serve_status:
            self._status_server = StatusServer(config.status.socket, self.status)
            try:
                self._status_server.start()
            except (StatusError, OSError) as error:
                log.warning("status socket %s not served: %s", config.status.socket, error)
                self._status_server = None
            self._control_server = ControlServer(config.status.control_socket, self._control)
            try:
                self._control_server.start()
            except (StatusError, OSError) as error:
                log.warning("control socket %s not served: %s", config.status.control_socket, error)
                self._control_server = None
        parts.heater.link.start()
        log.info(
            "agent %s started: heater %s, %d workers, link %s, broker %s",
            __version__,
            config.heater.id,
            parts.workers,
            config.serial.port,
            config.mqtt.url if config.mqtt.enabled else "off",
        )
        return loop

    def request_stop(self, reason: str = "requested") -> None:
        """From a signal handler or another thread: the loop sees it at once."""
        self.stop_reason = reason
        self._stop.set()
        self._wake_loop()

    def request_reload(self) -> None:
        self._reload.set()
        self._wake_loop()

    def _wake_loop(self) -> None:
        if self.loop is not None:  # a turn may be waiting for the next period
            self.loop.parts.scheduler.pool.wake()

    def run(
        self,
        until: Callable[[], bool] | None = None,
        on_period: Callable[[PeriodReport], None] | None = None,
    ) -> int:
        """Turn the loop until stopped (or `until()` is true), then shut down cleanly."""
        try:
            self.run_turns(until, on_period)
        finally:
            self.shutdown()
        return 0

    def run_turns(
        self,
        until: Callable[[], bool] | None = None,
        on_period: Callable[[PeriodReport], None] | None = None,
    ) -> None:
        """Turn the loop until stopped or `until()` is true; the agent keeps running after."""
        loop = self._started()
        if loop.state == "starting":
            loop.state = "running"
            if loop.parts.uplink is not None:
                loop.parts.uplink.publish_event("agent_started", "start", version=__version__)
        while not self._stop.is_set():
            if until is not None and until():
                return
            if self._reload.is_set():
                self._reload.clear()
                loop.apply_reload(self.config_path)
            report = loop.turn()
            if report is not None and on_period is not None:
                on_period(report)

    def shutdown(self) -> None:
        """Checkpoint the workers, publish offline, flush the outbox: all within STOP_BUDGET_S.

        Every phase takes at most its own cap and what is left of the budget, so the worst
        case fits TimeoutStopSec (a test checks the two against each other): a stop that
        overran would be SIGKILLed mid-checkpoint.
        """
        loop = self.loop
        if loop is None or loop.state in ("stopping", "stopped"):
            return
        deadline = self.clocks.monotonic() + STOP_BUDGET_S

        def left(cap: float) -> float:
            return max(0.0, min(cap, deadline - self.clocks.monotonic()))

        parts = loop.parts
        loop.state = "stopping"
        self.notifier.stopping("stopping: checkpointing workers, flushing telemetry")
        log.info("stopping (%s): checkpointing workers", self.stop_reason or "end of run")
        heater = parts.heater
        if heater.accepted is not None:
            heater.link.heartbeat(0.0, 0.0)  # no lease: the MCU stops granting heat now
        parts.power.loop.release()  # a paused (SIGSTOPped) worker could not checkpoint
        scheduler = parts.scheduler
        scheduler.set_active(0)
        if parts.feed is not None:
            parts.feed.leave()  # offers now go to the pool's other heaters
        checkpoints_by = self.clocks.monotonic() + left(SHUTDOWN_CHECKPOINT_S)
        busy = (WorkerState.RUNNING, WorkerState.STOPPING)
        # Until every worker has reported its stop checkpoint (stored by the scheduler's tick).
        while self.clocks.monotonic() < checkpoints_by and any(
            worker.state in busy for worker in scheduler.pool.workers
        ):
            scheduler.tick(STOP_POLL_S)
        scheduler.pool.close(timeout_s=left(POOL_CLOSE_S))
        heater.link.close()
        # The writer's queued writes first: an older energy snapshot must not land after the last.
        self._writer.close(timeout_s=left(WRITER_FLUSH_S))
        parts.energy.save()
        clocks = self.clocks
        loop.regulation.save_learnt(
            clocks.monotonic(), clocks.plant_now(), clocks.wall(), at_stop=True
        )
        if parts.uplink is not None:
            parts.uplink.publish_event("agent_stopping", self.stop_reason or "stop")
            loop.publish_telemetry()
            if not parts.uplink.stop(flush_timeout_s=left(FLUSH_S)):
                log.warning("outbox not empty at stop: the rest leaves with the next start")
        loop.jobs_done_at_stop = loop.jobs_done
        scheduler.close()
        scheduler.store.close()
        loop.state = "stopped"
        loop.latest = loop.snapshot()
        self._write_status_now(loop.status())
        if self._status_server is not None:
            self._status_server.stop()
        if self._control_server is not None:
            self._control_server.stop()
        self._lock.release()
        log.info("stopped")

    def abandon(self) -> None:
        """What `kill -9` leaves: nothing checkpointed, flushed or said; the files as they are.

        For in-process fault campaigns, which then start another agent on the same state
        directory as systemd's Restart= would: the threads stop, the connections close
        without goodbyes, the lock is released, and no state is written.
        """
        loop = self.loop
        if loop is None or loop.state == "stopped":
            return
        parts = loop.parts
        if parts.uplink is not None:
            parts.uplink.client.abort()
            parts.uplink.outbox.close()
        parts.scheduler.close()
        parts.scheduler.store.close()
        self._writer.abandon()
        for server in (self._status_server, self._control_server):
            if server is not None:
                server.stop()
        loop.state = "stopped"
        self._lock.release()

    def _control(self, request: ControlRequest, user: str) -> Answer:
        """An operator's action from the control socket (its thread): applied by the loop."""
        loop = self._started()
        if loop.state != "running":
            return {"ok": False, "error": f"the agent is {loop.state}"}
        try:
            kinds = {TripKind(kind) for kind in request.kinds} if request.kinds else None
        except ValueError:
            known = ", ".join(sorted(kind.value for kind in LATCHED))
            return {"ok": False, "error": f"kinds must be among the latched trips: {known}"}
        done = loop.request_safety_reset(kinds, by=f"{user} (control socket)", why=request.reason)
        try:
            cleared = done.result(timeout=CONTROL_ANSWER_S)
        except TimeoutError:
            return {
                "ok": False,
                "error": f"the control loop did not answer in {CONTROL_ANSWER_S} s",
            }
        return {"ok": True, "cleared": cleared, "trips": sorted(loop.regulation.trips)}

    # -- what the operator sees -------------------------------------------------------------

    @property
    def latest(self) -> Snapshot | None:
        """The loop's latest snapshot (None before its first period)."""
        return self.loop.latest if self.loop else None

    @property
    def jobs_done(self) -> int:
        """Real jobs finished (filler jobs are not counted: nobody asked for them)."""
        return self._started().jobs_done

    @property
    def workers(self) -> int:
        return self._started().parts.workers

    def status(self) -> AgentStatus:
        """The latest snapshot's status, for other threads (the status socket, a live view)."""
        return self._started().status()

    def _write_status(self, status: AgentStatus) -> None:
        """Every STATUS_FILE_EVERY_S, on the writer thread: the loop never waits on an fsync."""
        now = time.monotonic()
        if now < self._status_file_due:
            return
        self._status_file_due = now + STATUS_FILE_EVERY_S
        self._writer.submit("status", lambda: self._write_status_now(status))

    def _write_status_now(self, status: AgentStatus) -> None:
        try:
            self._status_file.write(status)
        except (OSError, StatusError) as error:
            log.debug("status file not written: %s", error)

    def _started(self) -> ControlLoop:
        if self.loop is None:
            raise RuntimeError("Supervisor.start() has not been called")
        return self.loop
