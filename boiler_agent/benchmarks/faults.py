"""The fault campaign as a benchmark: `boiler-agent bench faults --seed N [--faults K]
[--duration D] [--seeds S] --json`.

One JSON line per run: `seed`, `faults_injected` (by kind), `invariants_checked`,
`violations` (each with its time, invariant and the fault before it), `sim_hours`, `wall_s`.
The same seed replays the same schedule. With `--seeds S`, seeds N..N+S-1 run one after the
other and a last line sums them up. Exit 1 when any invariant was violated.

`--revert defect-N` (or `all`) shows that the campaign catches the defect a fix of issue 11
removed: the defect's campaign runs with the fix in place, then with it reverted, one JSON line
each (`fixed`, `reverted`, `caught`). Exit 1 when a reverted fix went unseen.
"""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Any

from boiler_agent.benchmarks._entry import emit, positive_int, run_main
from boiler_agent.durations import parse_duration

DESCRIPTION = __doc__ or ""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--seed", type=int, default=1, help="the schedule's seed (default 1)")
    parser.add_argument(
        "--faults", type=positive_int, default=50, help="faults per seed (default %(default)s)"
    )
    parser.add_argument(
        "--duration",
        default="",
        help="simulated campaign time per seed, e.g. 6h (default: 2.5 min per fault plus 25 min)",
    )
    parser.add_argument(
        "--seeds", type=positive_int, default=1, help="how many seeds from --seed (default 1)"
    )
    parser.add_argument(
        "--no-broker", action="store_true", help="without Mosquitto: no broker faults, no I4"
    )
    parser.add_argument(
        "--healthy",
        action="store_true",
        help="no faults: each preset (room, office, boiler) for --duration (default 1d); "
        "any trip is a violation (I8)",
    )
    parser.add_argument(
        "--revert",
        metavar="DEFECT",
        help="run a defect's campaign with its fix in place and reverted: "
        + ", ".join(_regression_names())
        + " or all",
    )
    parser.add_argument("--json", action="store_true", help="one JSON line per seed, no table")


def _regression_names() -> list[str]:
    from boiler_agent.faults.regressions import REGRESSIONS

    return list(REGRESSIONS)


def report(args: argparse.Namespace) -> int:
    from boiler_agent.faults.campaign import run_campaign
    from boiler_agent.faults.schedule import COOLDOWN_S, MIN_GAP_S, WARMUP_S

    logging.getLogger().setLevel(max(logging.getLogger().level, logging.CRITICAL))  # quiet
    if args.revert:
        return _revert(args)
    if args.healthy:
        return _healthy(args)
    try:
        duration_s = (
            parse_duration(args.duration)
            if args.duration
            else args.faults * (MIN_GAP_S + 30.0) + WARMUP_S + COOLDOWN_S
        )
    except ValueError as error:
        print(f"boiler-agent bench faults: --duration: {error}", file=sys.stderr)
        return 2
    results: list[dict[str, Any]] = []
    for seed in range(args.seed, args.seed + args.seeds):
        try:
            result = run_campaign(seed, args.faults, duration_s, use_broker=not args.no_broker)
        except ValueError as error:
            print(f"boiler-agent bench faults: {error}", file=sys.stderr)
            return 2
        results.append(result)
        emit(f"fault campaign, seed {seed}", result, args.json)
    if len(results) > 1:
        total: dict[str, int] = {}
        for result in results:
            for kind, count in result["faults_injected"].items():
                total[kind] = total.get(kind, 0) + count
        summary = {
            "seeds": [r["seed"] for r in results],
            "faults_total": sum(total.values()),
            "faults_injected": dict(sorted(total.items())),
            "invariants_checked": sum(r["invariants_checked"] for r in results),
            "violations_total": sum(r["violations_total"] for r in results),
            "sim_hours": round(sum(r["sim_hours"] for r in results), 2),
            "wall_s": round(sum(r["wall_s"] for r in results), 1),
        }
        emit("fault campaign, all seeds", summary, args.json)
    return 1 if any(r["violations_total"] for r in results) else 0


def _healthy(args: argparse.Namespace) -> int:
    from boiler_agent.faults.campaign import run_campaign

    duration_s = parse_duration(args.duration or "1d")
    failed = False
    for preset in ("room", "office", "boiler"):
        result = run_campaign(args.seed, 0, duration_s, use_broker=False, preset=preset)
        failed = failed or bool(result["violations_total"])
        emit(f"healthy {preset}", result, args.json)
    return 1 if failed else 0


def _revert(args: argparse.Namespace) -> int:
    from boiler_agent.faults.regressions import demonstrate

    names = _regression_names() if args.revert == "all" else [args.revert]
    unknown = [name for name in names if name not in _regression_names()]
    if unknown:
        print(
            f"boiler-agent bench faults: --revert {unknown[0]!r} is not one of "
            f"{', '.join(_regression_names())}, all",
            file=sys.stderr,
        )
        return 2
    missed = []
    for index, name in enumerate(names, 1):
        if len(names) > 1 and not args.json:
            print(f"[{index}/{len(names)}] {name}", file=sys.stderr)
        result = demonstrate(name, args.seed)
        emit(f"fault campaign, {name} fixed and reverted", result, args.json)
        if not result["caught"]:
            missed.append(name)
    if len(names) > 1:
        emit(
            "reverted fixes",
            {"reverted": len(names), "caught": len(names) - len(missed), "missed": missed},
            args.json,
        )
    return 1 if missed else 0


def main(argv: list[str] | None = None) -> int:
    return run_main(DESCRIPTION, add_arguments, report, argv)
