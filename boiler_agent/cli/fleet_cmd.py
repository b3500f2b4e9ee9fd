"""`boiler-agent fleet watch|record|report|submit|jobs|cancel|weather`: the fleet's side, for
whoever runs heaters."""

from __future__ import annotations

import argparse
import json
import signal
import socket
import sys
import threading
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from rich.live import Live
from rich.table import Table

from boiler_agent.compute.specs import get_spec
from boiler_agent.fleet.dispatcher import OFFER_TIMEOUT_S, JobDesk
from boiler_agent.fleet.job_file import JobFile
from boiler_agent.fleet.report import build_report, plot_power
from boiler_agent.fleet.store import FleetStore
from boiler_agent.fleet.subscriber import FleetSubscriber
from boiler_agent.fleet.view import FleetView, HeaterRow
from boiler_agent.runtime.sqlite_schema import SchemaVersionError
from boiler_agent.telemetry.payloads import Weather, dump
from boiler_agent.telemetry.topics import DEFAULT_ROOT, Topics, check_id
from boiler_agent.terminal import console

PRUNE_EVERY_S = 3600.0
JOBS_FILE = "fleet-jobs.sqlite"
PROGRESS_EVERY_S = 5.0
WEATHER_TIMEOUT_S = 10.0  # to connect, publish and see the retained copy (default --seconds)


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "fleet",
        help="watch, record and report on a fleet of heaters through its broker",
        description="The fleet's side of the protocol: a live table of every heater, a recorder "
        "that keeps every message, and a report from what was recorded.",
    )
    sub = parser.add_subparsers(dest="fleet_command", required=True, metavar="COMMAND")

    def broker_options(command: argparse.ArgumentParser) -> None:
        command.add_argument("--broker", required=True, help="e.g. mqtt://127.0.0.1:1883")
        command.add_argument("--fleet", help="one fleet (default: every fleet under the root)")
        command.add_argument("--root", default=DEFAULT_ROOT, help="topic root (%(default)s)")
        command.add_argument(
            "--username", help="broker user (password: $BOILER_AGENT_MQTT_PASSWORD)"
        )
        command.add_argument(
            "--seconds", type=float, default=0.0, help="stop after this long (default: until ^C)"
        )

    watch = sub.add_parser(
        "watch",
        help="a live table of every heater",
        description="Every heater's availability, temperatures, setpoint, heat demand, power, "
        "valorisation (wanted/total energy), jobs, outbox backlog, safety trips and link. "
        "Messages are de-duplicated by msg_id; seq gaps per (heater, stream, boot) are "
        "reported as missing, or late when they arrive after.",
    )
    broker_options(watch)
    watch.add_argument("--json", action="store_true", help="a JSON line per refresh, no table")
    watch.add_argument("--every", type=float, default=2.0, help="refresh period, s (%(default)g)")
    watch.set_defaults(handler=run_watch)

    record = sub.add_parser(
        "record",
        help="keep every message in an SQLite file",
        description="Subscribe with a persistent session (a restarted recorder gets what the "
        "broker kept for it) and store every message, de-duplicated by msg_id. The file "
        "holds heat patterns, which show when people are home: keep --retention-days short.",
    )
    broker_options(record)
    record.add_argument("--db", type=Path, required=True, help="the SQLite file (created)")
    record.add_argument(
        "--retention-days", type=float, default=30.0, help="delete older messages (%(default)g)"
    )
    record.add_argument(
        "--client-id",
        default=f"fleet-recorder-{socket.gethostname()}"[:64],
        help="the session's name at the broker (%(default)s)",
    )
    record.set_defaults(handler=run_record)

    report = sub.add_parser(
        "report",
        help="energy, valorisation, compute, gaps and trips from a recording",
        description="Per heater and fleet-wide: energy, valorisation, compute delivered "
        "(core-hours, jobs), stream gaps and safety trips, from `fleet record`'s file.",
    )
    report.add_argument("--db", type=Path, required=True, help="the file `fleet record` wrote")
    report.add_argument("--json", action="store_true", help="one JSON line, no table")
    report.add_argument("--plot", type=Path, help="also draw each heater's power into this PNG")
    report.set_defaults(handler=run_report)

    submit = sub.add_parser(
        "submit",
        help="offer jobs to the fleet's heaters and follow them to their results",
        description="Offer --count jobs of --kernel with --params on the fleet's job queue (one "
        "heater of the pool takes each), follow their status, count each result once, and "
        "offer again what no heater takes within --offer-timeout or rejects for want of "
        "room. Who may offer is the broker's ACL (docs/fleet.md). Ends when every job is "
        "done or failed (exit 0 only if all are done), or after --seconds.",
    )
    broker_options(submit)
    submit.add_argument("--kernel", required=True, help="see `boiler-agent job kernels`")
    submit.add_argument("--params", required=True, help="the kernel's parameters, as JSON")
    submit.add_argument("--count", type=int, default=1, help="how many such jobs (%(default)s)")
    submit.add_argument(
        "--offer-timeout", type=float, default=OFFER_TIMEOUT_S, help="seconds (%(default)g)"
    )
    submit.add_argument("--jobs-file", type=Path, default=Path(JOBS_FILE), help="(%(default)s)")
    submit.add_argument("--json", action="store_true", help="one JSON line at the end")
    submit.set_defaults(handler=run_submit)

    jobs = sub.add_parser("jobs", help="the jobs `fleet submit` sent, and where they are")
    jobs.add_argument("--jobs-file", type=Path, default=Path(JOBS_FILE), help="(%(default)s)")
    jobs.add_argument("--json", action="store_true", help="one JSON line")
    jobs.set_defaults(handler=run_jobs)

    cancel = sub.add_parser(
        "cancel",
        help="offer a job no more",
        description="The running `fleet submit` stops offering the job and does not count its "
        "result; a heater that already holds it finishes it (the agent has no cancel command).",
    )
    cancel.add_argument("job_id")
    cancel.add_argument("--jobs-file", type=Path, default=Path(JOBS_FILE), help="(%(default)s)")
    cancel.set_defaults(handler=run_cancel)

    weather = sub.add_parser(
        "weather",
        help="tell the fleet's heaters the outdoor temperature (retained)",
        description="Publish the outdoor temperature on <root>/<fleet>/weather, retained: room "
        "heaters without an outdoor sensor use it for their heat-loss estimate while it is at "
        "most control.weather_max_age_s old (3 h by default). A weather service runs this "
        "every hour or so. With --zone, on <root>/<fleet>/weather/<zone> instead: the heaters "
        "whose heater.weather_zone names it (a fleet that spans climates). Ends when the broker "
        "has sent the retained message back.",
    )
    broker_options(weather)
    weather.add_argument("--outdoor-c", type=float, required=True, help="outdoor air, °C")
    weather.add_argument("--observed-at", help="when, ISO 8601 with a time zone (default: now)")
    weather.add_argument(
        "--zone", help="one weather zone's heaters (heater.weather_zone); default: the whole fleet"
    )
    weather.set_defaults(handler=run_weather)


def _subscriber(
    args: argparse.Namespace, client_id: str | None, topic_filter: list[str] | None = None
) -> FleetSubscriber:
    import os

    return FleetSubscriber(
        args.broker,
        fleet=args.fleet,
        root=args.root,
        client_id=client_id,
        username=args.username,
        password=os.environ.get("BOILER_AGENT_MQTT_PASSWORD"),
        topic_filter=topic_filter,
    )


def _stop_event(seconds: float) -> tuple[threading.Event, float]:
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    deadline = time.monotonic() + seconds if seconds > 0 else float("inf")
    return stop, deadline


def run_watch(args: argparse.Namespace) -> int:
    try:
        subscriber = _subscriber(args, None).start()
    except ValueError as error:
        print(f"boiler-agent fleet watch: --broker {error}", file=sys.stderr)
        return 2
    view = FleetView()
    stop, deadline = _stop_event(args.seconds)
    live = None if args.json or not console.is_terminal else Live(console=console)
    if live is not None:
        live.start()
    next_refresh = time.monotonic()
    try:
        while not stop.is_set() and time.monotonic() < deadline:
            for message in subscriber.take(min(0.5, args.every)):
                view.apply(message)
            if time.monotonic() >= next_refresh:
                next_refresh = time.monotonic() + args.every
                if args.json:
                    rows = [row.as_dict() for row in view.rows()]
                    print(json.dumps({"summary": view.summary(), "heaters": rows}), flush=True)
                elif live is not None:
                    live.update(_table(view))
    finally:
        if live is not None:
            live.stop()
        subscriber.stop()
    if not args.json:
        console.print(_table(view))
    return 0


def _table(view: FleetView) -> Table:
    summary = view.summary()
    table = Table(
        title=f"fleet: {summary['online']}/{summary['heaters']} online, "
        f"{summary['power_w']:.0f} W, valorisation {_pct(summary['fleet_valorisation'])}, "
        f"{summary['missing']} missing, {summary['late']} late, "
        f"{summary['duplicates']} duplicates"
    )
    for column in (
        "heater", "avail", "kind", "temp °C", "set °C", "demand W", "power W", "valor.",
        "jobs r/q/d", "outbox", "trips", "link",
    ):  # fmt: skip
        table.add_column(column, justify="left" if column in ("heater", "trips") else "right")
    for row in view.rows():
        table.add_row(*_cells(row))
    return table


def _cells(row: HeaterRow) -> list[str]:
    def number(value: float | None, digits: int = 1) -> str:
        return "-" if value is None else f"{value:.{digits}f}"

    jobs = "/".join(
        "-" if v is None else str(v) for v in (row.jobs_running, row.jobs_queued, row.jobs_done)
    )
    link = "-" if row.link_up is None else ("up" if row.link_up else "DOWN")
    if row.link_reconnects:
        link += f" ({row.link_reconnects} reconnects)"
    return [
        row.heater,
        row.available or "-",
        row.kind or "-",
        number(row.temperature_c),
        number(row.setpoint_c),
        number(row.heat_demand_w, 0),
        number(row.power_w, 0),
        _pct(row.valorisation),
        jobs,
        "-" if row.outbox_queued is None else str(row.outbox_queued),
        ", ".join(row.trips) or "-",
        link,
    ]


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{value:.1%}"


def run_record(args: argparse.Namespace) -> int:
    if args.retention_days <= 0:
        print("boiler-agent fleet record: --retention-days must be > 0", file=sys.stderr)
        return 2
    try:
        store = FleetStore(args.db)
    except (SchemaVersionError, OSError) as error:
        print(f"boiler-agent fleet record: {error}", file=sys.stderr)
        return 1
    try:
        subscriber = _subscriber(args, args.client_id).start()
    except ValueError as error:
        print(f"boiler-agent fleet record: --broker {error}", file=sys.stderr)
        return 2
    stop, deadline = _stop_event(args.seconds)
    next_prune = time.monotonic()
    next_progress = time.monotonic() + 60.0
    console.print(f"recording {subscriber.filter} from {args.broker} into {args.db}; ^C ends it")
    try:
        while not stop.is_set() and time.monotonic() < deadline:
            messages = subscriber.take(0.5)
            store.add(messages, time.time())
            now = time.monotonic()
            if now >= next_prune:
                next_prune = now + PRUNE_EVERY_S
                store.prune(time.time(), args.retention_days)
            if now >= next_progress:
                next_progress = now + 60.0
                console.print(
                    f"{store.count()} messages stored, {store.duplicates} duplicates skipped, "
                    f"{subscriber.unreadable} unreadable"
                )
        store.add(subscriber.take(0.0), time.time())
    finally:
        subscriber.stop()
        store.close()
    return 0


def run_report(args: argparse.Namespace) -> int:
    if not args.db.is_file():
        print(f"boiler-agent fleet report: {args.db} does not exist", file=sys.stderr)
        return 2
    try:
        store = FleetStore(args.db)
    except (SchemaVersionError, OSError) as error:
        print(f"boiler-agent fleet report: {error}", file=sys.stderr)
        return 1
    try:
        result = build_report(store)
        if args.plot is not None:
            plot_power(store, sorted(result["heaters"]), args.plot)
            result["plot"] = str(args.plot)
    finally:
        store.close()
    if args.json:
        print(json.dumps(result), flush=True)
        return 0
    table = Table(title=f"fleet report: {args.db}")
    keys = ["energy_kwh", "valorisation", "core_hours", "jobs_done", "trips", "missing", "late"]
    table.add_column("heater")
    for key in keys:
        table.add_column(key, justify="right")
    for name, row in result["heaters"].items():
        table.add_row(name, *(str(row[key]) for key in keys))
    console.print(table)
    console.print(result["fleet"])
    return 0


def run_submit(args: argparse.Namespace) -> int:
    try:
        params = json.loads(args.params)
        if not isinstance(params, dict):
            raise ValueError("must be a JSON object")
        spec = get_spec(args.kernel)
        spec.params_model.model_validate(params)
        if args.count < 1:
            raise ValueError(f"--count must be >= 1, got {args.count}")
        if args.fleet is None:
            raise ValueError("--fleet is required to submit: jobs go to one fleet's queue")
        desk = JobDesk(args.fleet, root=args.root, offer_timeout_s=args.offer_timeout)
        subscriber = _subscriber(args, None, desk.filters)
    except (ValueError, ValidationError) as error:
        print(f"boiler-agent fleet submit: {_one_line(error)}", file=sys.stderr)
        return 2
    job_file = JobFile(args.jobs_file)
    now = time.monotonic
    for _ in range(args.count):
        desk.submit(args.kernel, params, now())
    job_file.save(list(desk.jobs.values()))
    subscriber.start()
    stop, deadline = _stop_event(args.seconds)
    next_progress = now()
    try:
        # Statuses of our first offers must not go unheard: subscribe before offering.
        while not subscriber.subscribed.wait(0.5):
            if stop.is_set() or now() > deadline:
                print(f"boiler-agent fleet submit: no broker at {args.broker}", file=sys.stderr)
                return 1
        while not desk.finished() and not stop.is_set() and now() < deadline:
            for message in subscriber.take(0.2):
                desk.handle(message, now())
            for job_id in job_file.take_cancels():
                if job_id in desk.jobs:
                    desk.cancel(job_id)
            for offer in desk.due(now()):
                subscriber.publish(offer.topic, offer.payload)
            job_file.save(list(desk.jobs.values()))
            if not args.json and now() >= next_progress:
                next_progress = now() + PROGRESS_EVERY_S
                console.print(f"jobs: {desk.counts()}")
    finally:
        subscriber.stop()
        job_file.save(list(desk.jobs.values()))
        job_file.close()
    counts = desk.counts()
    summary = {
        "jobs": len(desk.jobs),
        "states": counts,
        "duplicate_results": desk.duplicate_results,
        "results": {job.job_id: job.result for job in desk.jobs.values() if job.state == "done"},
    }
    if args.json:
        print(json.dumps(summary), flush=True)
    else:
        console.print(f"jobs: {counts}; results in {args.jobs_file}")
    return 0 if counts.get("done", 0) == len(desk.jobs) else 1


def run_jobs(args: argparse.Namespace) -> int:
    if not args.jobs_file.is_file():
        print(f"boiler-agent fleet jobs: {args.jobs_file} does not exist", file=sys.stderr)
        return 2
    job_file = JobFile(args.jobs_file)
    try:
        jobs = job_file.jobs()
    finally:
        job_file.close()
    if args.json:
        print(json.dumps({"jobs": jobs}), flush=True)
        return 0
    table = Table(title=f"fleet jobs: {args.jobs_file}")
    for column in ("job_id", "kernel", "state", "heater", "progress", "offers", "handoffs"):
        table.add_column(column)
    for job in jobs:
        table.add_row(
            job["job_id"],
            job["kernel"],
            job["state"],
            job["heater"] or "-",
            f"{job['progress']:.0%}",
            str(job["offers"]),
            str(job["handoffs"]),
        )
    console.print(table)
    return 0


def run_cancel(args: argparse.Namespace) -> int:
    if not args.jobs_file.is_file():
        print(f"boiler-agent fleet cancel: {args.jobs_file} does not exist", file=sys.stderr)
        return 2
    job_file = JobFile(args.jobs_file)
    try:
        known = job_file.request_cancel(args.job_id)
    finally:
        job_file.close()
    if not known:
        print(
            f"boiler-agent fleet cancel: no job {args.job_id!r} in {args.jobs_file}",
            file=sys.stderr,
        )
        return 2
    console.print(f"cancel of {args.job_id} asked: the running `fleet submit` takes it next")
    return 0


def run_weather(args: argparse.Namespace) -> int:
    try:
        if args.fleet is None:
            raise ValueError("--fleet is required: the weather goes to one fleet's heaters")
        observed_at = datetime.now(UTC)
        if args.observed_at:
            try:
                observed_at = datetime.fromisoformat(args.observed_at)
            except ValueError:
                raise ValueError(
                    f"--observed-at must be ISO 8601 with a time zone, e.g. "
                    f"2026-01-15T07:00+01:00, got {args.observed_at!r}"
                ) from None
        report = Weather(outdoor_c=args.outdoor_c, observed_at=observed_at)
        if args.zone is not None:
            check_id("--zone", args.zone)  # named as the user typed it
        topic = Topics(args.fleet, "weather", root=args.root).weather_in(args.zone)
        subscriber = _subscriber(args, None, [topic])
    except ValidationError as error:
        first = error.errors()[0]
        where = {"outdoor_c": "--outdoor-c", "observed_at": "--observed-at"}.get(
            str(first["loc"][0]) if first["loc"] else "", "weather"
        )
        given = {"--outdoor-c": args.outdoor_c, "--observed-at": args.observed_at}
        print(
            f"boiler-agent fleet weather: {where}: {first['msg']} "
            f"(got {given.get(where, first.get('input'))!r})",
            file=sys.stderr,
        )
        return 2
    except ValueError as error:
        print(f"boiler-agent fleet weather: {error}", file=sys.stderr)
        return 2
    payload = dump(report)
    sent = json.loads(payload)
    subscriber.start()
    deadline = time.monotonic() + (args.seconds or WEATHER_TIMEOUT_S)
    try:
        if not subscriber.subscribed.wait(max(0.0, deadline - time.monotonic())):
            print(f"boiler-agent fleet weather: no broker at {args.broker}", file=sys.stderr)
            return 1
        subscriber.publish(topic, payload, retain=True)
        # The retained copy coming back is the proof the broker keeps it for later heaters.
        while time.monotonic() < deadline:
            if any(m.topic == topic and m.body == sent for m in subscriber.take(0.2)):
                console.print(f"{topic}: {report.outdoor_c:g} °C at {observed_at.isoformat()}")
                return 0
    finally:
        subscriber.stop()
    print(f"boiler-agent fleet weather: {args.broker} did not confirm {topic}", file=sys.stderr)
    return 1


def _one_line(error: Exception) -> str:
    if isinstance(error, ValidationError):
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "params"
        return f"--params {where}: {first['msg']} (got {first.get('input')!r})"
    return str(error)
