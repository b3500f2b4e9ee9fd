"""`boiler-agent simulate`: the whole system on this machine, in one command.

The heater simulator runs on a pseudo-terminal; the real agent drives it with real compute
workers (hardware in the loop: the workers' measured CPU use, mapped to the heater's rated
power, is the heat the simulated room or tank receives); a private Mosquitto on a free loopback
port takes the telemetry when `mosquitto` is installed, or an existing broker (`--broker`), or
else the telemetry waits in the outbox. A winter day passes in about ten minutes; a live table
shows it; a summary and a PNG plot end it.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from rich.console import Group
from rich.live import Live
from rich.table import Table

from boiler_agent.config import AgentConfig
from boiler_agent.daemon.clocks import Clocks
from boiler_agent.daemon.lock import AgentStartError
from boiler_agent.daemon.loop import next_deadline
from boiler_agent.daemon.supervisor import Supervisor
from boiler_agent.durations import DAY_S, parse_duration
from boiler_agent.paths import default_cache_dir
from boiler_agent.runtime.status_view import render_status
from boiler_agent.simulation.scores import RunScores
from boiler_agent.simulation.trace import Trace, TraceSample
from boiler_agent.simulation.weather_service import SimulatedWeatherService
from boiler_agent.telemetry.local_broker import (
    BrokerUnavailableError,
    LocalBroker,
    find_mosquitto,
    free_loopback_port,
)
from boiler_agent.telemetry.topics import Topics
from boiler_agent.terminal import console
from firmware_bridge.protocol import SensorKind
from firmware_bridge.simulator.server import (
    DEFAULT_SPEED,
    DEFAULT_START_DAY,
    DEFAULT_START_HOUR,
    HeaterSimulator,
)
from heater_physics.plant import PRESETS
from heater_physics.weather import WeatherFileError, WeatherSeries, default_weather

log = logging.getLogger(__name__)

TRACE_EVERY_SIM_S = 60.0
TELEMETRY_PERIOD_S = 5.0
SHORT_OF_HEAT = 0.9  # below this share of the heat asked, the summary says the machine was busy
SIM_CONTROL_PERIOD_S = 30.0  # plant seconds, as `bench control` runs the controllers
MIN_POWER_PERIOD_S = 0.1  # the power loop's floor (power.period_s), real seconds
MAX_POWER_PERIOD_S = 1.0  # a heater's default


def power_period_s(speed: float) -> float:
    """Real seconds per power period, so that one period is at most a control period of plant
    time; at high speeds the floor wins and a period is `speed` x 0.1 plant seconds."""
    wanted = SIM_CONTROL_PERIOD_S / speed
    return min(MAX_POWER_PERIOD_S, max(MIN_POWER_PERIOD_S, round(wanted, 3)))


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "simulate",
        help="run the agent against the heater simulator, with real workers and a broker",
        description=(
            "Start a software heater on a pseudo-terminal and run the real agent against it: "
            "real compute workers make the heat (their CPU use, mapped to the heater's rating, "
            "warms the simulated room or tank), telemetry goes to a private Mosquitto when it "
            "is installed (or --broker). A winter day passes in about ten minutes, shown live; "
            "a summary and a PNG plot end the run."
        ),
    )
    parser.add_argument(
        "--preset", default="room", choices=sorted(PRESETS), help="heater (default %(default)s)"
    )
    parser.add_argument(
        "--duration", default="1d", help="simulated time to run: 90m, 2h, 1d (default 1d)"
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=DEFAULT_SPEED,
        help="simulated seconds per real second (default %(default)g: a day in 10 minutes)",
    )
    parser.add_argument("--weather", type=Path, help="hourly weather CSV (default: Greensboro)")
    parser.add_argument(
        "--start-day", type=int, default=DEFAULT_START_DAY, help="day of year, 1..365"
    )
    parser.add_argument(
        "--start-hour",
        type=float,
        default=DEFAULT_START_HOUR,
        help="time of day the run starts, in hours 0..24 (default %(default)g)",
    )
    parser.add_argument(
        "--broker", help="use this broker instead of a private one, e.g. mqtt://127.0.0.1:1883"
    )
    parser.add_argument("--heater-id", default="sim-heater", help="heater id in the topics")
    parser.add_argument(
        "--plot",
        type=Path,
        default=Path("boiler-agent-simulate.png"),
        help="PNG plot written at the end (default %(default)s)",
    )
    parser.add_argument("--workers", type=int, default=0, help="compute workers (default: CPUs)")
    parser.add_argument(
        "--state-dir", type=Path, help="keep the agent's state here (default: a temporary one)"
    )
    parser.add_argument("--json", action="store_true", help="print the summary as one JSON line")
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    try:
        duration_s = parse_duration(args.duration)
        weather = WeatherSeries.from_file(args.weather) if args.weather else default_weather()
        if args.speed <= 0:
            raise ValueError(f"--speed must be > 0, got {args.speed}")
        if not 1 <= args.start_day <= 365:
            raise ValueError(f"--start-day must be 1..365, got {args.start_day}")
        if not 0.0 <= args.start_hour < 24.0:
            raise ValueError(f"--start-hour must be 0..24 (not 24), got {args.start_hour}")
    except (ValueError, WeatherFileError, OSError) as error:
        print(f"boiler-agent simulate: {error}", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="boiler-agent-sim-") as scratch:
        workdir = Path(scratch)
        with _broker(args.broker, workdir) as broker_url:
            simulator = HeaterSimulator(
                args.preset,
                weather=weather,
                speed=args.speed,
                start_day=args.start_day,
                start_hour=args.start_hour,
                link_path=workdir / "heater-tty",
            )
            with simulator:
                return _run_agent(args, simulator, broker_url, workdir, duration_s)


@contextlib.contextmanager
def _broker(url: str | None, workdir: Path) -> Iterator[str | None]:
    """The broker URL to use; a private Mosquitto when none is given and one is installed."""
    if url is not None:
        console.print(f"[bold]broker[/] {url} (given)")
        yield url
        return
    if find_mosquitto() is None:
        console.print(
            "[yellow]mosquitto is not installed:[/] telemetry stays in the agent's outbox "
            "(Debian: apt-get install mosquitto)"
        )
        yield None
        return
    broker = LocalBroker(workdir=workdir / "mosquitto")
    try:
        broker.start()
    except BrokerUnavailableError as error:
        console.print(f"[yellow]private broker did not start:[/] {error}; telemetry stays queued")
        yield None
        return
    console.print(f"[bold]broker[/] private Mosquitto on {broker.url}")
    try:
        yield broker.url
    finally:
        broker.stop()


def _config(
    args: argparse.Namespace, simulator: HeaterSimulator, broker_url: str | None, workdir: Path
) -> AgentConfig:
    kind = "boiler" if simulator.preset.kind.name == "WATER_BOILER" else "room"
    state_dir = args.state_dir or workdir / "state"
    return AgentConfig.model_validate(
        {
            "state_dir": state_dir,
            # numba's cache outlives the run: the next start is fast.
            "cache_dir": default_cache_dir(),
            "heater": {"id": args.heater_id, "fleet": "sim", "kind": kind},
            "serial": {"port": simulator.port},
            # The control period is fixed in plant seconds, whatever the speed; the power loop
            # runs often enough in real time to honour it (its floor, 0.1 s, is 14 plant
            # seconds at x144).
            "control": {"period_s": SIM_CONTROL_PERIOD_S},
            # The simulated heater's rating, not this machine's RAPL counters, sets the watts.
            "power": {
                "max_workers": args.workers,
                "period_s": power_period_s(args.speed),
                "meter": "model",
            },
            "mqtt": {
                "enabled": True,
                # Nothing listens there: the outbox keeps everything, as during an outage.
                "url": broker_url or f"mqtt://127.0.0.1:{free_loopback_port()}",
                "telemetry_period_s": TELEMETRY_PERIOD_S,
            },
            "status": {
                "socket": workdir / "status.sock",
                "control_socket": workdir / "control.sock",
                "state_file": state_dir / "status.json",
            },
        }
    )


def _run_agent(
    args: argparse.Namespace,
    simulator: HeaterSimulator,
    broker_url: str | None,
    workdir: Path,
    duration_s: float,
) -> int:
    config = _config(args, simulator, broker_url, workdir)
    world = simulator.world
    weather = (
        SimulatedWeatherService(
            broker_url,
            Topics(config.heater.fleet, config.heater.id).weather,
            outdoor_c=lambda: world.snapshot().outdoor_c,
            plant_now=lambda: world.sim_time_s,
        ).start()
        if broker_url is not None
        else None
    )
    try:
        return _run_started_agent(args, simulator, broker_url, config, duration_s, weather=weather)
    finally:
        if weather is not None:
            weather.stop()


def _run_started_agent(
    args: argparse.Namespace,
    simulator: HeaterSimulator,
    broker_url: str | None,
    config: AgentConfig,
    duration_s: float,
    *,
    weather: SimulatedWeatherService | None,
) -> int:
    world = simulator.world
    agent = Supervisor(config, clocks=Clocks(plant=lambda: world.sim_time_s))
    try:
        agent.start()
    except AgentStartError as error:
        print(f"boiler-agent simulate: {error}", file=sys.stderr)
        return 1
    console.print(
        f"[bold]heater[/] {simulator.preset.name} on {simulator.port}; "
        f"{duration_s / 3600:g} h simulated at x{args.speed:g} "
        f"(about {duration_s / args.speed / 60:.0f} min); Ctrl-C ends it early"
    )
    start_sim = world.sim_time_s
    day_start = (args.start_day - 1) * DAY_S
    trace = Trace()
    scores = RunScores(
        period_s=TRACE_EVERY_SIM_S,
        max_power_w=float(simulator.preset.rated_power_w),
        cores=max(1, agent.workers),
    )
    next_sample = [start_sim]

    def finished() -> bool:
        now = world.sim_time_s
        if weather is not None:
            weather.tick()
        if now >= next_sample[0]:
            next_sample[0] = next_deadline(next_sample[0], TRACE_EVERY_SIM_S, now)
            sample = _sample(agent, simulator, now - day_start)
            trace.append(sample)
            _score(scores, simulator, sample)
        return now - start_sim >= duration_s

    show_live = console.is_terminal and not args.json
    live = Live(
        get_renderable=lambda: _view(agent, simulator, start_sim),
        console=console,
        refresh_per_second=2,
        transient=False,
    )
    started = time.monotonic()
    try:
        if show_live:
            live.start()
        agent.run(until=finished)
    except KeyboardInterrupt:
        agent.request_stop("interrupted")
        agent.shutdown()
    finally:
        if show_live:
            live.stop()
    summary = _summary(agent, simulator, start_sim, broker_url, time.monotonic() - started)
    summary.update(scores.scores())
    # The fleet's weather the room heater controlled with (no outdoor sensor on it): reports sent.
    summary["weather_reports"] = weather.published if weather is not None else 0
    if len(trace):
        # matplotlib costs ~30 MB and most of a second: only the run that plots loads it.
        from boiler_agent.simulation.plot import plot_trace

        plot_trace(
            trace,
            args.plot,
            title=f"boiler-agent simulate: {simulator.preset.name}, day {args.start_day}"
            + _scores_caption(summary),
            temp_label="tank temperature"
            if summary["heater_kind"] == "boiler"
            else "room temperature",
            rated_power_w=float(simulator.preset.rated_power_w),
        )
        summary["plot"] = str(args.plot)
    short = summary.get("heat_delivered_share", 1.0)
    if short < SHORT_OF_HEAT:
        # Not the agent's doing: the workers run at idle priority and other work took the CPUs.
        log.warning(
            "the workers made %.0f%% of the heat asked for: this machine was busy (load %s); "
            "the scores show a heater short of power, not the control",
            100 * short,
            " ".join(f"{load:.1f}" for load in os.getloadavg()),
        )
    if args.json:
        print(json.dumps(summary), flush=True)
    else:
        table = Table(title="boiler-agent simulate: summary", show_header=False)
        for key, value in summary.items():
            table.add_row(key, str(value))
        console.print(table)
    return 0


def _sample(agent: Supervisor, simulator: HeaterSimulator, time_of_run_s: float) -> TraceSample:
    world = simulator.world.snapshot()
    first = simulator.preset.sensors[0]
    latest = agent.latest
    target = latest.target if latest else None
    return TraceSample(
        sim_time_s=time_of_run_s,
        temp_c=world.temperatures_c.get(first),
        setpoint_c=target.setpoint_c if target else None,
        outdoor_c=world.outdoor_c,
        heat_demand_w=latest.demand_w if latest else 0.0,
        power_w=latest.measured_w if latest else 0.0,
        workers=latest.workers_running if latest else 0,
    )


def _scores_caption(summary: dict[str, Any]) -> str:
    """A second title line with the run's scores, so a plot shared alone says how it went."""
    if "tracking_rms_k" not in summary:
        return ""
    return (
        f"\ntracking {summary['tracking_rms_k']:.2f} K rms, "
        f"discomfort {summary['discomfort_kh']:.2f} Kh, "
        f"overshoot {summary['overshoot_k']:.2f} K, "
        f"{summary['demand_reversals']} demand reversals, "
        f"valorisation {summary['valorisation']:.1%}"
    )


def _score(scores: RunScores, simulator: HeaterSimulator, sample: TraceSample) -> None:
    """One fixed-period sample of the plant's truth: what the occupant set and felt."""
    world = simulator.world.snapshot()
    temp = world.temperatures_c.get(simulator.preset.sensors[0])
    if temp is None:
        return
    scores.add(world.sim_time_s, temp, world.setpoint_c, world.heater_power_w, sample.heat_demand_w)


def _view(agent: Supervisor, simulator: HeaterSimulator, start_sim: float) -> Group:
    world = simulator.world.snapshot()
    hours = (world.sim_time_s - start_sim) / 3600.0
    day, rest = divmod(world.sim_time_s, DAY_S)
    clock = f"day {int(day) + 1} {int(rest // 3600):02d}:{int(rest % 3600 // 60):02d}"
    extra = Table(show_header=False, box=None)
    extra.add_row("simulated time", f"{clock} ({hours:.1f} h run, x{simulator.world.speed:g})")
    extra.add_row("outdoor (weather)", f"{world.outdoor_c:.1f} °C")
    latest = agent.latest
    extra.add_row("telemetry sent", str(latest.telemetry_sent if latest else 0))
    return Group(render_status(agent.status()), extra)


def _summary(
    agent: Supervisor,
    simulator: HeaterSimulator,
    start_sim: float,
    broker_url: str | None,
    wall_s: float,
) -> dict[str, Any]:
    world = simulator.world.snapshot()
    first = simulator.preset.sensors[0]
    latest = agent.latest
    target = latest.target if latest else None
    return {
        "preset": simulator.preset.name,
        "heater_kind": agent.config.heater.kind,
        "simulated_hours": round((world.sim_time_s - start_sim) / 3600.0, 2),
        "wall_minutes": round(wall_s / 60.0, 2),
        "final_temp_c": round(world.temperatures_c[first], 2),
        "setpoint_c": target.setpoint_c if target else world.setpoint_c,
        "outdoor_c": round(world.outdoor_c, 2),
        "energy_kwh": round(world.heat_delivered_kwh, 3),
        "agent_energy_kwh": round(latest.energy_total_kwh if latest else 0.0, 3),
        "jobs_done": agent.jobs_done,
        "telemetry_sent": latest.telemetry_sent if latest else 0,
        "broker": broker_url or "none (outbox only)",
        "safety_trips": sorted(latest.trips if latest else {}),
        "workers": agent.workers,
        "link_frames_rx": latest.link.frames_rx if latest else 0,
        "sensor": SensorKind(first).name.lower(),
        "pid": os.getpid(),
    }
