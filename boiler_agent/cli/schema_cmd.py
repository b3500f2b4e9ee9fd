"""`boiler-agent schema`: the JSON Schema of every MQTT payload, or the generated telemetry doc."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from boiler_agent.telemetry.docs import render_markdown, replace_generated
from boiler_agent.telemetry.payloads import all_schemas


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "schema",
        help="print the JSON Schema of every MQTT payload",
        description=(
            "Print every MQTT payload's JSON Schema as one JSON object keyed by model name, "
            "one of them with --name, or the generated topic and payload reference with "
            "--markdown. With --markdown --write FILE, rewrite the generated section of FILE "
            "(between <!-- BEGIN GENERATED --> and <!-- END GENERATED -->) instead."
        ),
    )
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--name", help="only this payload, e.g. Telemetry")
    which.add_argument("--markdown", action="store_true", help="the topic and payload reference")
    parser.add_argument(
        "--write", type=Path, metavar="FILE", help="with --markdown: update FILE in place"
    )
    parser.set_defaults(handler=_schema)


def _fail(message: str) -> int:
    print(f"boiler-agent schema: {message}", file=sys.stderr)
    return 2


def _schema(args: argparse.Namespace) -> int:
    if args.write is not None and not args.markdown:
        return _fail("--write needs --markdown")
    if args.markdown:
        generated = render_markdown()
        if args.write is None:
            sys.stdout.write(generated)
            return 0
        try:
            updated = replace_generated(args.write.read_text(encoding="utf-8"), generated)
        except (OSError, ValueError) as exc:
            return _fail(f"cannot update {args.write}: {exc}")
        args.write.write_text(updated, encoding="utf-8")
        print(f"updated the generated section of {args.write}", file=sys.stderr)
        return 0
    schemas = all_schemas()
    if args.name is None:
        print(json.dumps(schemas, indent=2, ensure_ascii=False))
        return 0
    if args.name not in schemas:
        return _fail(f"no payload named {args.name!r}; known: {', '.join(schemas)}")
    print(json.dumps(schemas[args.name], indent=2, ensure_ascii=False))
    return 0
