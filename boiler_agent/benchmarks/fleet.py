"""Fleet benchmark: do fleet jobs finish sooner when they follow the heat?

`boiler-agent bench fleet [--heaters N] [--days D] [--seeds S] [--start-day N] [--json]`

A fleet of real agents (the same `Supervisor` code a heater runs, each in this process on its
own virtual clock, on the plant's time) against one real Mosquitto. Each agent drives a
simulated heater over the real link and protocol (`InProcessHeater`) and a simulated worker
pool of 2 cores whose CPU time follows the allocation and computes a real kernel
(`SimulatedKernelPool`), so checkpoints, hand-offs and results are real. A job desk
(`fleet.dispatcher.JobDesk`, the one `fleet submit` uses) offers jobs through the shared
subscription, re-offers what is released or not taken, and counts each result once.

The scenario (fixed): heaters in the proportions 12 rooms, 6 offices, 2 boilers (the first 20
heaters are exactly that); alternately in two climates (Greensboro, NC and Sand Point, AK, the
packaged typical years), in four time zones an hour apart; jobs arrive as a Poisson stream,
200 per 20 heaters per week (1.43 per heater-day), each a Monte Carlo option price (31
checkpointed units in one shard) whose size is drawn log-uniform from 10 minutes to 6 hours of
one core. The week starts on day 15 of the weather year (mid-January, every heater wants heat
most of the day); --start-day 105 runs mid-April instead (Greensboro's sunny afternoons need no
heat while Sand Point's still do). The run lasts --days after the start (the rooms' and
offices' 07:00 warm-ups are in it), then at most one more day to let the jobs still held finish.
It runs twice on the same seed: jobs stay where taken (release after 0 s: never) and jobs
follow the heat (`compute.release_after_s` = 600 s), and reports per mode and side by side:

  heaters                  heaters in the fleet
  jobs                     jobs submitted
  jobs_done                {stay, follow}: jobs with a result
  p50_completion_h         {stay, follow}: median hours from submission to result
  p95_completion_h         {stay, follow}: 95th percentile, the target: follow <= 0.5 x stay
  p95_floor_h              95th percentile of the jobs' own run time on one core at full speed
                           (a job is one shard): no placement finishes them sooner
  fleet_valorisation       heat made while heat was wanted / all heat made, fleet-wide (follow)
  handoffs                 jobs released by one heater and resumed by another (follow)
  handoff_failures         hand-offs refused on arrival (a corrupt or foreign bundle: the job
                           restarted from zero)
  jobs_failed              {stay, follow}: jobs that ended failed (0 expected: nothing fails)
  jobs_unfinished          {stay, follow}: jobs without a result when the run ended (still held
                           or queued: the drain day was not enough); none is lost, the desk
                           still follows each
  results_identical        every result equal to the kernel's clean run (both modes)
  messages_per_heater_hour what the heaters published, per heater and simulated hour (follow)
  bytes_per_heater_hour    topic and payload bytes of the same
  heater_cpu_s_per_hour    this process's CPU seconds per heater and simulated hour (follow)
  broker_cpu_share         Mosquitto's CPU seconds per wall second while the fleet ran (follow)

With --seeds S the figures are the median over seeds 1..S (the documented run is 20 heaters, a
week, 3 seeds: `boiler-agent bench fleet --heaters 20 --days 7 --seeds 3 --json`).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import math
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from boiler_agent.benchmarks._entry import emit, positive_int, run_main
from boiler_agent.durations import DAY_S, HOUR_S

DESCRIPTION = __doc__ or ""
log = logging.getLogger(__name__)

FLEET = "bench"
MIX_OF_20 = ("room",) * 12 + ("office",) * 6 + ("boiler",) * 2
CLIMATES = ("greensboro_hourly.csv", "sand_point_hourly.csv")
ZONES_H = (0.0, 1.0, 2.0, 3.0)
CORES = 2
JOBS_PER_HEATER_DAY = 200 / (20 * 7)
MIN_JOB_CPU_S, MAX_JOB_CPU_S = 600.0, 6 * HOUR_S
START_DAY = 15  # mid-January, the heating season's heart; --start-day 105 is mid-April
START_HOUR = 0.0  # local midnight of the first zone: the first night, then the morning rises
SLICE_S = 30.0  # virtual seconds each heater runs before the next one's turn
DRAIN_S = DAY_S  # after the last day, how long the jobs still held may take to finish
RELEASE_AFTER_S = {"stay": 0.0, "follow": 600.0}
# Offers nobody answered go again after this long (a fleet's default is 60 s); on the fleet's
# fast clock the statuses take a few slices of real time to come back.
OFFER_TIMEOUT_S = 600.0
OFFER_SETTLE_S = 0.02  # real seconds for an offer to reach the heaters before they turn
# What the kernel computes for each job: a Monte Carlo option price of 31 units in one shard
# (a job runs on one core, as sized), checkpointed between units, so a hand-off carries its
# progress; a week of jobs costs seconds of real compute: the CPU cost is what the pool charges
# per unit, not what numba spends.
KERNEL = "option_mc"
OPTION = {"spot": 100.0, "rate": 0.02, "volatility": 0.25, "maturity": 1.0, "steps": 8}
PATHS = 1_000_000
# Cheaper periods than a heater's (the loop's cost per plant second is what bounds the fleet):
# the power loop every 9 s (a heater: 1 s), the control period 30 plant seconds; the lease
# (10 s, the most the MCU grants) outlasts a power period.
AGENT_SETTINGS: dict[str, dict[str, Any]] = {
    "serial": {"lease_s": 10.0},
    "control": {"period_s": 30.0, "stall_after_s": 30.0},
    "power": {"period_s": 9.0},
    "compute": {"accept_jobs": True, "filler": True, "checkpoint_interval_s": 1800.0},
    "mqtt": {"telemetry_period_s": 300.0},
    "homeassistant": {"discovery": False},
}
REPORT_INTERVAL_MS = 1000
# One turn of the loop per power period (a heater: ten); duty windows stretch to span a turn.
TURN_S = 9.0
FILLER_CPU_S_PER_UNIT = 600.0  # the filler computes rarely: its heat is what matters
SIMULATED_CPU_MHZ = 2400.0


@dataclass(frozen=True)
class HeaterSpec:
    name: str
    preset: str
    climate: str
    zone_h: float
    start_day: int = START_DAY  # the day of the weather year the run starts on


@dataclass(frozen=True)
class JobSpec:
    job_id: str
    arrival_s: float
    params: dict[str, Any]
    cpu_s: float


def heaters_for(count: int, start_day: int = START_DAY) -> list[HeaterSpec]:
    """The fleet's heaters: the 20-heater mix repeated, climates and zones alternating."""
    return [
        HeaterSpec(
            f"h{i:03d}",
            MIX_OF_20[i % len(MIX_OF_20)],
            CLIMATES[i % len(CLIMATES)],
            ZONES_H[(i // len(CLIMATES)) % len(ZONES_H)],
            start_day,
        )
        for i in range(count)
    ]


def jobs_for(seed: int, heaters: int, days: float) -> list[JobSpec]:
    """A Poisson stream over the run's days, sizes log-uniform; the same seed, the same jobs."""
    rng = random.Random(f"fleet-jobs-{seed}")
    rate_per_s = JOBS_PER_HEATER_DAY * heaters / DAY_S
    jobs: list[JobSpec] = []
    at = rng.expovariate(rate_per_s)
    while at < days * DAY_S:
        cpu_s = math.exp(rng.uniform(math.log(MIN_JOB_CPU_S), math.log(MAX_JOB_CPU_S)))
        params = {
            **OPTION,
            "strike": rng.choice((95.0, 100.0, 105.0)),
            "paths": PATHS,
            "seed": rng.randrange(1, 1_000_000),
        }
        jobs.append(JobSpec(f"s{seed}-j{len(jobs):03d}", at, params, cpu_s))
        at += rng.expovariate(rate_per_s)
    return jobs


@dataclass
class ModeResult:
    completion_h: list[float]
    jobs: int
    done: int
    unfinished: int
    handoffs: int
    refused_handoffs: int
    identical: bool
    total_kwh: float
    wanted_kwh: float
    messages: int
    message_bytes: int
    heater_hours: float
    wall_s: float
    cpu_s: float  # this process: every heater, the desk and the subscriber
    broker_cpu_s: float
    failed: list[str] = field(default_factory=list)


class FleetHeater:
    """One agent on its own virtual clock, with its heater and its computing pool."""

    def __init__(
        self,
        spec: HeaterSpec,
        root: Path,
        url: str,
        release_after_s: float,
        cpu_s_of: Any,
        *,
        overrides: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        from boiler_agent.config import AgentConfig
        from boiler_agent.daemon.clocks import VirtualClock
        from firmware_bridge.simulator.in_process import InProcessHeater
        from heater_physics.weather import WeatherSeries

        self.spec = spec
        self.clock = VirtualClock()
        self.cpu_s_of = cpu_s_of
        weather_text = (resources.files("heater_physics") / "data" / spec.climate).read_text()
        self.heater = InProcessHeater(
            spec.preset,
            clock=self.clock.now,
            weather=WeatherSeries.from_text(weather_text, source=spec.climate),
            start_day=spec.start_day,
            start_hour=(START_HOUR + spec.zone_h) % 24,
            seed=int(spec.name[1:]),
            report_interval_ms=REPORT_INTERVAL_MS,
            serial_number=f"SN-{spec.name}",
        )
        kind = "boiler" if spec.preset == "boiler" else "room"
        document: dict[str, Any] = {
            "state_dir": root / spec.name / "state",
            "cache_dir": root / "cache",
            "heater": {"id": spec.name, "fleet": FLEET, "kind": kind},
            "serial": {"port": "/dev/fleet-bench"},
            "mqtt": {"enabled": True, "url": url},
            "status": {
                "socket": root / spec.name / "status.sock",
                "control_socket": root / spec.name / "control.sock",
            },
        }
        for section, values in AGENT_SETTINGS.items():
            document[section] = {**document.get(section, {}), **values}
        document["compute"] = {**document["compute"], "release_after_s": release_after_s}
        for section, values in (overrides or {}).items():
            document[section] = {**document.get(section, {}), **values}
        self.config = AgentConfig.model_validate(document)
        self.boots = 0
        self.alive = True
        self.agent = self._start()

    def _start(self) -> Any:
        from boiler_agent.compute.simulated_kernel_pool import SimulatedKernelPool
        from boiler_agent.daemon.supervisor import Supervisor

        pool = SimulatedKernelPool(
            CORES, clock=self.clock.now, sleep=self.clock.sleep, cpu_s_per_unit=self.cpu_s_of
        )
        agent = Supervisor(
            self.config,
            clocks=self.clock.clocks(),
            serve_status=False,
            link=self.heater.new_link() if self.boots else self.heater.link,
            pool=pool,
            cpu_sensor=lambda: None,
            cpu_clock=lambda: SIMULATED_CPU_MHZ,  # not this machine's: /proc/cpuinfo costs
            turn_s=TURN_S,
            idle_turn_s=TURN_S,
        )
        agent.start()
        self.boots += 1
        return agent

    def kill(self) -> None:
        """What kill -9 leaves: no checkpoint, no release, no goodbye (the broker's will)."""
        self.agent.abandon()
        self.alive = False

    def restart(self) -> None:
        """Started again on the same state directory, as systemd would."""
        self.agent = self._start()
        self.alive = True

    def wants_heat(self, yes: bool) -> None:
        """The occupant turns the knob far up or far down."""
        self.heater.world.turn_knob(26.0 if yes else 5.0)

    def run_until(self, at_s: float) -> None:
        """Run the agent to `at_s` on its clock; a killed one's clock runs on, as the world's."""
        if not self.alive:
            self.clock.sleep(max(0.0, at_s - self.clock.now()))
            return

        def reached() -> bool:
            self.heater.pump()
            return self.clock.now() >= at_s

        self.agent.run_turns(until=reached)

    def energy_kwh(self) -> tuple[float, float]:
        loop = self.agent.loop
        if loop is None:
            return 0.0, 0.0
        return loop.parts.energy.total_kwh, loop.parts.energy.wanted_kwh


class FleetRig:
    """Heaters, the job desk and the fleet's subscriber, turned together on the fleet's clock.

    Each turn runs every heater to the fleet's time, hands what the broker brought to the desk
    (counting refused hand-offs), and publishes the offers due. `on_message` sees every message
    first; `before_offers` runs just before the offers go (a test changes one in flight).
    """

    def __init__(self, heaters: list[FleetHeater], desk: Any, watcher: Any) -> None:
        self.heaters = heaters
        self.desk = desk
        self.watcher = watcher
        self.now = 0.0
        self.refused_handoffs = 0
        self.on_message: Callable[[Any], None] | None = None
        self.before_offers: Callable[[], None] | None = None

    def turn(self, slice_s: float = SLICE_S) -> None:
        self.now += slice_s
        for heater in self.heaters:
            heater.run_until(self.now)
        for message in self.watcher.take(0.0):
            if message.kind == "events" and message.body.get("reason") == "handoff_refused":
                self.refused_handoffs += 1
            if self.on_message is not None:
                self.on_message(message)
            self.desk.handle(message, self.now)
        if self.before_offers is not None:
            self.before_offers()
        offer_due(self.desk, self.watcher, self.now)

    def close(self) -> None:
        for heater in self.heaters:
            heater.agent.shutdown()
        self.watcher.stop()


def run_mode(
    mode: str,
    heaters: list[HeaterSpec],
    jobs: list[JobSpec],
    days: float,
    url: str,
    *,
    drain_s: float = DRAIN_S,
    broker_pid: int | None = None,
) -> ModeResult:
    """One run of the fleet in one mode; the desk runs on the fleet's virtual time."""
    from boiler_agent.compute.jobs import validate_job
    from boiler_agent.compute.kernels import run_job
    from boiler_agent.fleet.dispatcher import FINAL, JobDesk
    from boiler_agent.fleet.subscriber import FleetSubscriber

    started = time.monotonic()
    cpu_started = time.process_time()
    broker_started = _cpu_of(broker_pid)
    cpu_s_per_unit: dict[str, float] = {}
    for job in jobs:
        units = sum(s.units for s in validate_job(KERNEL, job.params).shards)
        cpu_s_per_unit[job.job_id] = job.cpu_s / units

    def cpu_s_of(task: Any) -> float:
        return cpu_s_per_unit.get(task.job_id, FILLER_CPU_S_PER_UNIT)

    desk = JobDesk(FLEET, offer_timeout_s=OFFER_TIMEOUT_S)
    watcher = FleetSubscriber(url, fleet=FLEET).start()
    if not watcher.subscribed.wait(30):
        raise RuntimeError(f"the fleet's subscriber could not subscribe at {url}")
    with tempfile.TemporaryDirectory(prefix=f"bench-fleet-{mode}-") as scratch:
        rig = FleetRig(
            [
                FleetHeater(spec, Path(scratch), url, RELEASE_AFTER_S[mode], cpu_s_of)
                for spec in heaters
            ],
            desk,
            watcher,
        )
        pending = sorted(jobs, key=lambda j: j.arrival_s)
        end = days * DAY_S
        try:
            while rig.now < end + drain_s:
                rig.turn()
                while pending and pending[0].arrival_s <= rig.now:
                    job = pending.pop(0)
                    desk.submit(KERNEL, job.params, job.arrival_s, job.job_id)
                if rig.now >= end and not pending and desk.finished():
                    break
                if int(rig.now) % (6 * 3600) < SLICE_S:
                    _progress(mode, rig.now, desk)
            total = sum(h.energy_kwh()[0] for h in rig.heaters)
            wanted = sum(h.energy_kwh()[1] for h in rig.heaters)
        finally:
            rig.close()
    finished = [j for j in desk.jobs.values() if j.state == "done" and j.finished_s is not None]
    identical = all(json.loads(json.dumps(run_job(KERNEL, j.params))) == j.result for j in finished)
    return ModeResult(
        completion_h=[((j.finished_s or 0.0) - j.submitted_s) / HOUR_S for j in finished],
        jobs=len(desk.jobs),
        done=len(finished),
        unfinished=sum(1 for j in desk.jobs.values() if j.state not in FINAL),
        handoffs=sum(j.handoffs for j in desk.jobs.values()),
        refused_handoffs=rig.refused_handoffs,
        identical=identical,
        total_kwh=total,
        wanted_kwh=wanted,
        messages=watcher.received,
        message_bytes=watcher.received_bytes,
        heater_hours=len(heaters) * rig.now / HOUR_S,
        wall_s=time.monotonic() - started,
        cpu_s=time.process_time() - cpu_started,
        broker_cpu_s=_cpu_of(broker_pid) - broker_started,
        failed=[j.job_id for j in desk.jobs.values() if j.state == "failed"],
    )


def _cpu_of(pid: int | None) -> float:
    """CPU seconds (user + system) a process has used; 0 when there is none to measure."""
    if pid is None:
        return 0.0
    import psutil

    try:
        times = psutil.Process(pid).cpu_times()
    except psutil.Error:
        return 0.0
    return float(times.user + times.system)


def offer_due(desk: Any, watcher: Any, now: float) -> None:
    """Publish what the desk offers now, and give the broker a moment of real time to carry
    it: the fleet's clock runs thousands of times faster than the messages, and an offer still
    in flight when its timeout comes round is offered again, to a second heater."""
    offers = desk.due(now)
    for offer in offers:
        watcher.publish(offer.topic, offer.payload)
    if offers:
        time.sleep(OFFER_SETTLE_S)


def _progress(mode: str, now: float, desk: Any) -> None:
    counts = desk.counts()
    print(
        f"fleet bench [{mode}] day {now / DAY_S:4.2f}: {json.dumps(counts, sort_keys=True)}",
        file=sys.stderr,
        flush=True,
    )


def _percentile(values: list[float], share: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(share * len(ordered)) - 1))]


@contextlib.contextmanager
def _broker() -> Iterator[tuple[str, int | None]]:
    from boiler_agent.telemetry.local_broker import LocalBroker

    with tempfile.TemporaryDirectory(prefix="bench-fleet-broker-") as scratch:
        broker = LocalBroker(workdir=Path(scratch))
        broker.start()
        try:
            yield broker.url, broker.pid
        finally:
            broker.stop()


MODES = ("stay", "follow")


def run_seed(
    seed: int,
    heaters: int,
    days: float,
    drain_s: float = DRAIN_S,
    modes: tuple[str, ...] = MODES,
    *,
    start_day: int = START_DAY,
) -> dict[str, Any]:
    """Both modes side by side on one seed; with one mode only (a scale run), the per-mode keys
    hold that mode and the fleet-wide figures are its own."""
    fleet = heaters_for(heaters, start_day)
    jobs = jobs_for(seed, heaters, days)
    results: dict[str, ModeResult] = {}
    with _broker() as (url, pid):
        for mode in modes:
            results[mode] = run_mode(mode, fleet, jobs, days, url, drain_s=drain_s, broker_pid=pid)
    # The fleet-wide figures are the product's: jobs following the heat, when it ran.
    main = results.get("follow") or results["stay"]
    return {
        "seed": seed,
        "heaters": heaters,
        "days": days,
        "start_day": start_day,
        "jobs": len(jobs),
        "jobs_done": {mode: r.done for mode, r in results.items()},
        "p50_completion_h": {
            mode: _round(_percentile(r.completion_h, 0.5)) for mode, r in results.items()
        },
        "p95_completion_h": {
            mode: _round(_percentile(r.completion_h, 0.95)) for mode, r in results.items()
        },
        "p95_floor_h": _round(_percentile([job.cpu_s / HOUR_S for job in jobs], 0.95)),
        "fleet_valorisation": _round(main.wanted_kwh / main.total_kwh, 4)
        if main.total_kwh > 0
        else None,
        "handoffs": main.handoffs,
        "handoff_failures": main.refused_handoffs,
        "jobs_failed": {mode: len(r.failed) for mode, r in results.items()},
        "jobs_unfinished": {mode: r.unfinished for mode, r in results.items()},
        "results_identical": all(r.identical for r in results.values()),
        "messages_per_heater_hour": _round(main.messages / main.heater_hours, 1),
        "bytes_per_heater_hour": round(main.message_bytes / main.heater_hours),
        "wall_s": {mode: round(r.wall_s, 1) for mode, r in results.items()},
        # CPU per heater and simulated hour (agent, heater simulation, kernel), and the broker's
        # share of one core while the fleet ran (follow, when it ran).
        "heater_cpu_s_per_hour": _round(main.cpu_s / main.heater_hours, 3),
        "broker_cpu_share": _round(main.broker_cpu_s / main.wall_s, 4),
    }


def _round(value: float | None, digits: int = 2) -> float | None:
    return None if value is None else round(value, digits)


def run(
    heaters: int = 4,
    days: float = 1.0,
    seeds: int = 1,
    drain_s: float = DRAIN_S,
    modes: tuple[str, ...] = MODES,
    *,
    seed: int | None = None,
    start_day: int = START_DAY,
) -> dict[str, Any]:
    """One seed's figures, or with several the median of each figure over the seeds; `seed`
    runs that one seed alone (a week per seed outlasts a working session: seeds can run one by
    one, or side by side on a machine with the cores)."""
    chosen = [seed] if seed is not None else list(range(1, seeds + 1))
    runs = [run_seed(one, heaters, days, drain_s, modes, start_day=start_day) for one in chosen]
    if len(runs) == 1:
        return runs[0]
    summary = _median_of(runs)
    summary["seeds"] = [r["seed"] for r in runs]
    summary["runs"] = runs
    return summary


def _median_of(runs: list[dict[str, Any]]) -> dict[str, Any]:
    def median(values: list[Any]) -> Any:
        if all(isinstance(v, bool) for v in values):
            return all(values)
        numbers = [v for v in values if isinstance(v, int | float)]
        return statistics.median(numbers) if numbers else None

    out: dict[str, Any] = {}
    for key, value in runs[0].items():
        if isinstance(value, dict):
            out[key] = {k: median([r[key][k] for r in runs]) for k in value}
        elif key != "seed":
            out[key] = median([r[key] for r in runs])
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--heaters", type=positive_int, default=4, help="heaters in the fleet (default 4)"
    )
    parser.add_argument(
        "--days", type=float, default=1.0, help="simulated days of job arrivals (default 1)"
    )
    # One or the other: a --seed given beside --seeds would silently win.
    seeds = parser.add_mutually_exclusive_group()
    seeds.add_argument(
        "--seeds", type=positive_int, default=1, help="seeds 1..S, figures are the median"
    )
    seeds.add_argument("--seed", type=positive_int, help="this one seed alone, instead of --seeds")
    parser.add_argument(
        "--drain-h",
        type=float,
        default=DRAIN_S / HOUR_S,
        help="after the last day, hours the jobs still held may take to finish (default 24)",
    )
    parser.add_argument(
        "--mode",
        choices=("both", *MODES),
        default="both",
        help="both side by side (default), or one alone: a scale run needs only 'follow'",
    )
    parser.add_argument(
        "--start-day",
        type=int,
        default=START_DAY,
        help=f"day of the weather year the run starts on, 1..365 (default {START_DAY}, "
        "mid-January; 105 is mid-April, when sunny afternoons need no heat)",
    )
    parser.add_argument("--json", action="store_true", help="one JSON line, no table")


def report(args: argparse.Namespace) -> int:
    from boiler_agent.telemetry.local_broker import find_mosquitto

    if find_mosquitto() is None:
        print("bench fleet: needs mosquitto (Debian: apt-get install mosquitto)", file=sys.stderr)
        return 2
    if not 0 < args.days <= 28:
        print(f"bench fleet: --days must be in (0, 28], got {args.days}", file=sys.stderr)
        return 2
    if not 1 <= args.start_day <= 365:
        print(
            f"bench fleet: --start-day must be in [1, 365], got {args.start_day}", file=sys.stderr
        )
        return 2
    modes = MODES if args.mode == "both" else (args.mode,)
    if not 0 <= args.drain_h <= 24 * 28:
        print(f"bench fleet: --drain-h must be in [0, 672], got {args.drain_h}", file=sys.stderr)
        return 2
    result = run(
        heaters=args.heaters,
        days=args.days,
        seeds=args.seeds,
        drain_s=args.drain_h * HOUR_S,
        modes=modes,
        seed=args.seed,
        start_day=args.start_day,
    )
    emit("fleet: jobs stay against jobs follow the heat", result, args.json)
    return 0


def main(argv: list[str] | None = None) -> int:
    return run_main(DESCRIPTION, add_arguments, report, argv)
