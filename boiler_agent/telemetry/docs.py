"""The generated part of docs/telemetry.md: topic table and payload schemas, from the code.

`boiler-agent schema --markdown --write docs/telemetry.md` rewrites the section between the
markers; a test fails while the document and the models disagree.
"""

from __future__ import annotations

import json
from typing import Any

from boiler_agent.telemetry.payloads import PAYLOADS, all_schemas
from boiler_agent.telemetry.topics import SCHEMA_VERSION, TOPIC_TABLE

BEGIN = "<!-- BEGIN GENERATED -->"
END = "<!-- END GENERATED -->"


def render_markdown() -> str:
    """The generated section (without the markers), ending with a newline."""
    lines = [
        "## Topics",
        "",
        "| topic | direction | QoS | retained | payload | purpose |",
        "| --- | --- | --- | --- | --- | --- |",
    ]
    for spec in TOPIC_TABLE:
        payload = spec.payload
        if _is_model(payload):
            payload = f"[{payload}](#{payload.lower()})"
        retained = "yes" if spec.retain else "no"
        lines.append(
            f"| `{spec.pattern}` | {spec.direction} | {spec.qos} | {retained} | {payload} "
            f"| {spec.purpose} |"
        )
    lines += ["", f"## Payloads (schema {SCHEMA_VERSION})", ""]
    schemas = all_schemas()
    for name, schema in schemas.items():
        lines += [f"### {name}", "", schema.get("description", ""), ""]
        lines += _field_table(schema)
        for part, part_schema in schema.get("$defs", {}).items():
            lines += ["", f"`{part}`: {part_schema.get('description', '')}".rstrip(), ""]
            lines += _field_table(part_schema)
        lines += [
            "",
            "<details><summary>JSON Schema</summary>",
            "",
            "```json",
            json.dumps(schema, indent=2, ensure_ascii=False),
            "```",
            "",
            "</details>",
            "",
        ]
    return "\n".join(lines).rstrip("\n") + "\n"


def replace_generated(document: str, generated: str) -> str:
    """`document` with the text between the markers replaced by `generated`."""
    try:
        head, rest = document.split(BEGIN, 1)
        _, tail = rest.split(END, 1)
    except ValueError:
        raise ValueError(f"the document needs the markers {BEGIN} and {END}") from None
    return f"{head}{BEGIN}\n{generated}{END}{tail}"


def _is_model(name: str) -> bool:
    return name in {model.__name__ for model in PAYLOADS}


def _field_table(schema: dict[str, Any]) -> list[str]:
    required = set(schema.get("required", []))
    rows = ["| key | type | required | description |", "| --- | --- | --- | --- |"]
    for key, prop in schema.get("properties", {}).items():
        description = prop.get("description", "").replace("|", "\\|")
        mark = "yes" if key in required else "no"
        rows.append(f"| `{key}` | {_type(prop)} | {mark} | {description} |")
    return rows


def _type(prop: dict[str, Any]) -> str:
    """A short human rendering of a property's JSON Schema type and bounds."""
    if "anyOf" in prop:
        return " or ".join(_type(option) for option in prop["anyOf"])
    if "$ref" in prop:
        return "object " + str(prop["$ref"]).rsplit("/", 1)[-1]
    if "const" in prop:
        return json.dumps(prop["const"])
    if "enum" in prop:
        return " \\| ".join(json.dumps(value) for value in prop["enum"])
    kind = str(prop.get("type", "any"))
    if prop.get("format") == "date-time":
        kind = "timestamp"
    elif kind == "array":
        kind = f"list of {_type(prop.get('items', {}))}"
    elif kind == "object" and isinstance(prop.get("additionalProperties"), dict):
        kind = f"object of {_type(prop['additionalProperties'])}"
    bounds = [
        f"{symbol} {prop[key]:g}"
        for key, symbol in (
            ("minimum", "≥"),
            ("exclusiveMinimum", ">"),
            ("maximum", "≤"),
            ("exclusiveMaximum", "<"),
        )
        if key in prop
    ]
    return kind + (f" ({', '.join(bounds)})" if bounds else "")
