"""Overhead benchmark: the supervisor's own CPU and memory, idle and controlling, vs bare Python.

Everything is real and runs on this machine: a private Mosquitto, the heater simulator (room
preset, a January morning, real time) on a pty, and `boiler-agent run --config FILE` as its own
process with 1 Hz telemetry and --workers compute workers (1). Only the supervisor process is
measured (psutil: its user + system CPU time over a window, its resident memory sampled through
the window); the worker processes are its children and are reported apart, for information.
Disk writes are the agent's and its workers' together (the kernel's per-process write_bytes),
in kB an hour at the window's rate: a heater's flash storage wears with what is written. A
lower bound: the file system's journal and metadata are written by the kernel, not counted;
null where the kernel does not count (no /proc/<pid>/io).

(a) controlling: the thermostat knob is at 25 °C in a 16 °C room; once the telemetry shows
    heat demand and a running worker, the supervisor runs the control loop, the power loop
    (duty cycling the worker), the job store and 1 Hz telemetry.
(b) idle: the knob goes to its lowest (5 °C): no heat is wanted and the worker stops. Measured
    after heating, as a heater spends its idle hours (its job store then holds the filler job).
    The knob rather than a `set_mode off` command: it is what an occupant does, it goes through
    the agent's normal path (MCU report, setpoint arbiter, controller), and the same agent
    process serves both phases.
Each phase is measured over --window-s (20 s), the first one --warmup-s (5 s) after the first
telemetry. A bare `python -c "time.sleep()"` started with the agent is measured over the same
windows: the floor any Python daemon pays. The run takes about a minute.
Targets: idle and control CPU <= 1.5 % of one core (issue 12; 2 % before); rss_mb (the larger of
both phases) <= 60 MB.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import paho.mqtt.client as mqtt
import psutil
from paho.mqtt.enums import CallbackAPIVersion

import boiler_agent
from boiler_agent.benchmarks._entry import (
    emit,
    positive_float,
    positive_int,
    run_main,
)
from boiler_agent.paths import default_cache_dir
from boiler_agent.telemetry.local_broker import LocalBroker
from firmware_bridge.simulator.server import HeaterSimulator

DESCRIPTION = __doc__ or ""
TARGET_CPU_PCT = 1.5
TARGET_RSS_MB = 60.0
FLEET, HEATER_ID = "bench", "bench-overhead"
TELEMETRY_TOPIC = f"dh/v1/{FLEET}/{HEATER_ID}/telemetry"
START_DAY, START_HOUR = 15, 8.0  # a mid-January morning: the room is at 16 °C
IDLE_KNOB_C, HEAT_KNOB_C = 5.0, 25.0
START_TIMEOUT_S = 60.0  # imports, worker spawn, link handshake, first telemetry
PHASE_TIMEOUT_S = 45.0  # a control period (10 s) and a worker start or stop, with margin
SETTLE_S = 3.0  # the allocator and duty cycler find their level
SAMPLE_S = 0.25  # RSS sampling period inside a window
STOP_TIMEOUT_S = 40.0  # the agent's own budget: 10 s checkpoint + 10 s flush, with margin
MB = 1024.0 * 1024.0


@dataclass(frozen=True)
class Usage:
    """One process over one window: CPU in % of one core, peak resident MB."""

    cpu_pct: float
    main_thread_cpu_pct: float
    rss_mb: float
    children_rss_mb: float
    children: int
    disk_write_kb_per_h: float | None  # the process and its children; None: not readable


class _Telemetry:
    """A fleet consumer of the agent's telemetry: proves the phases and counts the rate."""

    def __init__(self, port: int) -> None:
        self._lock = threading.Lock()
        self.messages: list[tuple[float, float, int]] = []  # (arrival, demand W, workers)
        subscribed = threading.Event()
        self.client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id="bench-overhead-consumer",
            protocol=mqtt.MQTTv5,
        )
        self.client.on_connect = lambda client, *args: client.subscribe(TELEMETRY_TOPIC, qos=1)
        self.client.on_subscribe = lambda *args: subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()
        if not subscribed.wait(10):
            raise RuntimeError("the benchmark's telemetry consumer could not subscribe")

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        document = json.loads(message.payload)
        with self._lock:
            self.messages.append(
                (
                    time.monotonic(),
                    float(document["heat_demand_w"]),
                    int(document["workers_running"]),
                )
            )

    def between(self, start: float, end: float) -> list[tuple[float, float, int]]:
        with self._lock:
            return [m for m in self.messages if start <= m[0] <= end]

    def last(self) -> tuple[float, float, int] | None:
        with self._lock:
            return self.messages[-1] if self.messages else None

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def _config(workdir: Path, broker: LocalBroker, port: str, workers: int) -> Path:
    path = workdir / "agent.toml"
    path.write_text(
        f"state_dir = {json.dumps(str(workdir / 'state'))}\n"
        # The user's cache: numba's compiled kernels are reused, the workers start fast.
        f"cache_dir = {json.dumps(str(default_cache_dir()))}\n"
        f'[heater]\nid = "{HEATER_ID}"\nfleet = "{FLEET}"\nkind = "room"\n'
        f"[serial]\nport = {json.dumps(port)}\n"
        f"[power]\nmax_workers = {workers}\n"
        f'[mqtt]\nurl = "{broker.url}"\ntelemetry_period_s = 1\n'
        f"[status]\nsocket = {json.dumps(str(workdir / 'status.sock'))}\n",
        encoding="utf-8",
    )
    return path


def _child_env() -> dict[str, str]:
    # The config file alone decides: no BOILER_AGENT_* from the caller's environment. The
    # package's own root goes first on the path, so a checkout that is not installed works too.
    env = {k: v for k, v in os.environ.items() if not k.startswith("BOILER_AGENT_")}
    root = str(Path(boiler_agent.__file__).resolve().parents[1])
    env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
    return env


@contextmanager
def _process(command: list[str], log: IO[bytes]) -> Iterator[subprocess.Popen[bytes]]:
    """A child process, stopped with SIGTERM (then SIGKILL) when the block ends."""
    child = subprocess.Popen(command, stdout=log, stderr=log, env=_child_env())
    try:
        yield child
    finally:
        if child.poll() is None:
            child.send_signal(signal.SIGTERM)
            try:
                child.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                child.kill()
                child.wait(5)


def _cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()  # this process only: children's time is counted apart
    return float(times.user + times.system)


def _main_thread_cpu_s(process: psutil.Process) -> float:
    # On Linux the main thread's id is the process id.
    for thread in process.threads():
        if thread.id == process.pid:
            return float(thread.user_time + thread.system_time)
    return 0.0


def _written_bytes(process: psutil.Process) -> int | None:
    """Bytes the process and its children sent to storage (or dirtied in the page cache for
    it): the kernel's per-task write_bytes, not the bytes given to write() (pipes and sockets
    are not storage). A reaped child's lifetime bytes join its parent's count, so the total
    over the parent and its live children only grows, whichever workers come and go. None
    where the kernel does not say (no /proc/<pid>/io)."""
    total = 0
    for member in [process, *process.children(recursive=True)]:
        try:
            total += int(member.io_counters().write_bytes)
        except psutil.NoSuchProcess:
            continue  # exited between the listing and the reading: its parent has its bytes
        except (psutil.AccessDenied, NotImplementedError, AttributeError):
            return None
    return total


def _per_hour_kb(before: int | None, after: int | None, elapsed_s: float) -> float | None:
    if before is None or after is None:
        return None
    return (after - before) / 1024.0 * 3600.0 / elapsed_s


def _measure(processes: dict[str, psutil.Process], window_s: float) -> dict[str, Usage]:
    """CPU, peak RSS and disk writes of each process (and of its children) over the same wall
    window."""
    started = time.monotonic()
    cpu0 = {name: _cpu_s(p) for name, p in processes.items()}
    main0 = {name: _main_thread_cpu_s(p) for name, p in processes.items()}
    rss = dict.fromkeys(processes, 0.0)
    children_rss = dict.fromkeys(processes, 0.0)
    children = dict.fromkeys(processes, 0)
    written0 = {name: _written_bytes(p) for name, p in processes.items()}
    while True:
        for name, process in processes.items():
            rss[name] = max(rss[name], process.memory_info().rss / MB)
            kids = process.children(recursive=True)
            total = 0.0
            for kid in kids:
                try:
                    total += kid.memory_info().rss / MB
                except psutil.NoSuchProcess:
                    continue  # a worker replaced between the listing and the reading
            children_rss[name] = max(children_rss[name], total)
            children[name] = max(children[name], len(kids))
        left = started + window_s - time.monotonic()
        if left <= 0:
            break
        time.sleep(min(SAMPLE_S, left))
    elapsed = time.monotonic() - started
    written = {name: _written_bytes(p) for name, p in processes.items()}
    return {
        name: Usage(
            cpu_pct=100.0 * (_cpu_s(process) - cpu0[name]) / elapsed,
            main_thread_cpu_pct=100.0 * (_main_thread_cpu_s(process) - main0[name]) / elapsed,
            rss_mb=rss[name],
            children_rss_mb=children_rss[name],
            children=children[name],
            disk_write_kb_per_h=_per_hour_kb(written0[name], written[name], elapsed),
        )
        for name, process in processes.items()
    }


def _wait(
    what: str, ready: Callable[[], bool], timeout_s: float, agent: subprocess.Popen[bytes]
) -> None:
    deadline = time.monotonic() + timeout_s
    while not ready():
        if agent.poll() is not None:
            raise RuntimeError(f"the agent exited with {agent.returncode} while waiting for {what}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"no {what} within {timeout_s:g} s")
        time.sleep(0.1)


def _log_tail(path: Path, lines: int = 15) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def run(
    window_s: float = 20.0, warmup_s: float = 5.0, workers: int = 1, settle_s: float = SETTLE_S
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="boiler-agent-bench-overhead-") as scratch:
        workdir = Path(scratch)
        broker = LocalBroker(workdir=workdir / "broker")
        broker.start()
        try:
            with HeaterSimulator(
                "room",
                speed=1.0,
                start_day=START_DAY,
                start_hour=START_HOUR,
                link_path=workdir / "heater-tty",
            ) as simulator:
                simulator.turn_knob(HEAT_KNOB_C)
                config = _config(workdir, broker, simulator.port, workers)
                try:
                    return _run_agent(
                        workdir,
                        config,
                        broker,
                        simulator,
                        window_s=window_s,
                        warmup_s=warmup_s,
                        settle_s=settle_s,
                    )
                except (RuntimeError, psutil.NoSuchProcess) as error:
                    tail = _log_tail(workdir / "agent.log")
                    raise RuntimeError(f"{error}; the agent's log ends with:\n{tail}") from None
        finally:
            broker.stop()


def _run_agent(
    workdir: Path,
    config: Path,
    broker: LocalBroker,
    simulator: HeaterSimulator,
    *,
    window_s: float,
    warmup_s: float,
    settle_s: float,
) -> dict[str, Any]:
    telemetry = _Telemetry(broker.port)
    agent_command = [sys.executable, "-m", "boiler_agent.cli", "run", "--config", str(config)]
    bare_command = [sys.executable, "-c", "import time; time.sleep(3600)"]
    with (
        (workdir / "agent.log").open("wb") as log,
        _process(agent_command, log) as agent,
        _process(bare_command, log) as bare,
    ):
        try:
            _wait("first telemetry", lambda: telemetry.last() is not None, START_TIMEOUT_S, agent)
            time.sleep(warmup_s)  # the start's one-off work (imports, handshake, births) is over
            processes = {"agent": psutil.Process(agent.pid), "bare": psutil.Process(bare.pid)}
            control, control_seen = _phase(
                "heat demand with a running worker",
                lambda demand_w, workers: demand_w > 0 and workers > 0,
                telemetry=telemetry,
                processes=processes,
                window_s=window_s,
                settle_s=settle_s,
                agent=agent,
            )
            simulator.turn_knob(IDLE_KNOB_C)
            idle, idle_seen = _phase(
                "no heat demand and no worker running",
                lambda demand_w, workers: demand_w == 0 and workers == 0,
                telemetry=telemetry,
                processes=processes,
                window_s=window_s,
                settle_s=settle_s,
                agent=agent,
            )
        finally:
            telemetry.close()
        stop_started = time.monotonic()
        agent.send_signal(signal.SIGTERM)
        try:
            exit_code: int | None = agent.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            exit_code = None  # reported as null: the agent missed its stop budget
        stop_s = time.monotonic() - stop_started
    agent_idle, agent_control = idle["agent"], control["agent"]
    peak_rss = max(agent_idle.rss_mb, agent_control.rss_mb)
    worst_cpu = max(agent_idle.cpu_pct, agent_control.cpu_pct)
    return {
        "idle_cpu_pct_of_core": round(agent_idle.cpu_pct, 3),
        "control_cpu_pct_of_core": round(agent_control.cpu_pct, 3),
        "rss_mb": round(peak_rss, 1),
        "baseline_rss_mb": round(max(idle["bare"].rss_mb, control["bare"].rss_mb), 1),
        "baseline_cpu_pct_of_core": round(max(idle["bare"].cpu_pct, control["bare"].cpu_pct), 3),
        "idle_rss_mb": round(agent_idle.rss_mb, 1),
        "control_rss_mb": round(agent_control.rss_mb, 1),
        # The loop's own thread; the rest is the serial, MQTT and status threads.
        "idle_loop_thread_cpu_pct": round(agent_idle.main_thread_cpu_pct, 3),
        "control_loop_thread_cpu_pct": round(agent_control.main_thread_cpu_pct, 3),
        "workers_rss_mb": round(max(agent_idle.children_rss_mb, agent_control.children_rss_mb), 1),
        "child_processes": max(agent_idle.children, agent_control.children),
        "idle_heat_demand_w_max": round(max((m[1] for m in idle_seen), default=0.0), 1),
        "control_workers_running_min": min((m[2] for m in control_seen), default=0),
        "control_telemetry_per_s": round(len(control_seen) / window_s, 2),
        # Written to disk, the agent and its workers, per hour at this window's rate.
        "control_disk_write_kb_per_h": _rounded(agent_control.disk_write_kb_per_h),
        "idle_disk_write_kb_per_h": _rounded(agent_idle.disk_write_kb_per_h),
        "baseline_disk_write_kb_per_h": _rounded(
            idle["bare"].disk_write_kb_per_h, control["bare"].disk_write_kb_per_h
        ),
        "window_s": window_s,
        "cpu_target_met": worst_cpu <= TARGET_CPU_PCT,
        "rss_target_met": peak_rss <= TARGET_RSS_MB,
        "agent_exit_code": exit_code,
        "agent_stop_s": round(stop_s, 2),
    }


def _rounded(*values: float | None) -> int | None:
    """The largest, in whole kB; None if any is unknown."""
    known = [value for value in values if value is not None]
    return round(max(known)) if known and len(known) == len(values) else None


def _phase(
    what: str,
    reached: Callable[[float, int], bool],
    *,
    telemetry: _Telemetry,
    processes: dict[str, psutil.Process],
    window_s: float,
    settle_s: float,
    agent: subprocess.Popen[bytes],
) -> tuple[dict[str, Usage], list[tuple[float, float, int]]]:
    """Wait until the telemetry shows the phase, let it settle, measure it."""

    def shown() -> bool:
        last = telemetry.last()
        return last is not None and reached(last[1], last[2])

    _wait(what, shown, PHASE_TIMEOUT_S, agent)
    time.sleep(settle_s)
    started = time.monotonic()
    usage = _measure(processes, window_s)
    return usage, telemetry.between(started, time.monotonic())


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--window-s", type=positive_float, default=20.0, help="each measured window (20 s)"
    )
    parser.add_argument(
        "--warmup-s", type=positive_float, default=5.0, help="after the first telemetry (5 s)"
    )
    parser.add_argument(
        "--settle-s",
        type=positive_float,
        default=SETTLE_S,
        help=f"once a phase shows, before its window, for the allocator to settle ({SETTLE_S:g} s)",
    )
    parser.add_argument(
        "--workers", type=positive_int, default=1, help="the agent's power.max_workers (1)"
    )
    parser.add_argument("--json", action="store_true", help="print one JSON line, no table")


def report(args: argparse.Namespace) -> int:
    result = run(
        window_s=args.window_s,
        warmup_s=args.warmup_s,
        workers=args.workers,
        settle_s=args.settle_s,
    )
    emit("overhead: the supervisor idle and controlling, against bare Python", result, args.json)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_main(DESCRIPTION, add_arguments, report, argv)
