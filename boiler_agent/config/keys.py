"""The config's leaf keys and what documents them: env names, allowed values, defaults in words.

Used for environment variable names, "did you mean" suggestions, error messages, and the
generated example config and keys table (`boiler-agent config example`, `config keys`).
"""

from __future__ import annotations

import functools
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import annotated_types
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo

from boiler_agent.config.model import AgentConfig

ENV_PREFIX = "BOILER_AGENT_"
ENV_DELIMITER = "__"
MASK = "**********"  # what a secret looks like in anything printed or dumped


@dataclass(frozen=True)
class ConfigKey:
    """One leaf key of the config, with what documents it."""

    key: str  # dotted: "mqtt.url"
    field: FieldInfo

    @property
    def env_var(self) -> str:
        return ENV_PREFIX + self.key.replace(".", ENV_DELIMITER).upper()

    @property
    def section(self) -> str | None:
        return self.key.split(".")[0] if "." in self.key else None

    @property
    def name(self) -> str:
        return self.key.rsplit(".", 1)[-1]

    @property
    def secret(self) -> bool:
        return base_type(self.field.annotation) is SecretStr

    @property
    def description(self) -> str:
        return self.field.description or ""

    @property
    def default_doc(self) -> str | None:
        """Words for a default computed at load (hostname, directories, heater kind)."""
        doc = _extras(self.field).get("default_doc")
        return str(doc) if doc is not None else None

    @property
    def example(self) -> object:
        return _extras(self.field).get("example")

    @property
    def retired(self) -> dict[str, str]:
        """Values still accepted but ignored, each with what to do instead (see field_doc)."""
        return retired_values(self.field)

    def allowed(self) -> str:
        return allowed_text(self.field)


def section_model(field: FieldInfo) -> type[BaseModel] | None:
    """The model of a `[section]` field; None for a leaf key."""
    annotation = field.annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


@functools.cache
def config_keys() -> tuple[ConfigKey, ...]:
    """Every leaf key in file order: the top-level keys, then each section's."""
    keys: list[ConfigKey] = []
    for name, field in AgentConfig.model_fields.items():
        section = section_model(field)
        if section is None:
            keys.append(ConfigKey(name, field))
        else:
            keys.extend(
                ConfigKey(f"{name}.{key}", sub) for key, sub in section.model_fields.items()
            )
    return tuple(keys)


def sections() -> tuple[str, ...]:
    return tuple(n for n, f in AgentConfig.model_fields.items() if section_model(f) is not None)


def field_at(key: str) -> FieldInfo | None:
    """The field of a dotted key ("mqtt.url"), or of a section ("mqtt"); None if no such key."""
    model: type[BaseModel] = AgentConfig
    field = None
    for part in key.split("."):
        field = model.model_fields.get(part)
        if field is None:
            return None
        section = section_model(field)
        if section is not None:
            model = section
    return field


def _extras(field: FieldInfo) -> dict[str, Any]:
    extra = field.json_schema_extra
    return extra if isinstance(extra, dict) else {}


def retired_values(field: FieldInfo) -> dict[str, str]:
    retired = _extras(field).get("retired")
    return {str(k): str(v) for k, v in retired.items()} if isinstance(retired, dict) else {}


def union_args(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def base_type(annotation: Any) -> Any:
    """The type without `| None`."""
    args = [a for a in union_args(annotation) if a is not type(None)]
    return args[0] if len(args) == 1 else annotation


def choices(field: FieldInfo) -> tuple[Any, ...] | None:
    """The documented values of a Literal (or of a list of one): retired values left out."""
    base = base_type(field.annotation)
    if typing.get_origin(base) is list:
        base = typing.get_args(base)[0]
    if typing.get_origin(base) is not Literal:
        return None
    retired = retired_values(field)
    return tuple(choice for choice in typing.get_args(base) if choice not in retired)


def _num(value: float) -> str:
    return str(int(value)) if value.is_integer() else f"{value:g}"


def _range_text(field: FieldInfo) -> str:
    low = high = ""
    for item in field.metadata:
        if isinstance(item, annotated_types.Ge):
            low = f"≥ {_num(float(item.ge))}"  # type: ignore[arg-type]
        elif isinstance(item, annotated_types.Gt):
            low = f"> {_num(float(item.gt))}"  # type: ignore[arg-type]
        elif isinstance(item, annotated_types.Le):
            high = f"≤ {_num(float(item.le))}"  # type: ignore[arg-type]
        elif isinstance(item, annotated_types.Lt):
            high = f"< {_num(float(item.lt))}"  # type: ignore[arg-type]
    if low.startswith("≥") and high.startswith("≤"):
        return f"{low[2:]}..{high[2:]}"
    return " and ".join(part for part in (low, high) if part)


def allowed_text(field: FieldInfo) -> str:
    """What a key accepts, in words: from its `allowed` extra, else from its type and bounds."""
    explicit = _extras(field).get("allowed")
    if explicit is not None:
        return str(explicit)
    optional = type(None) in union_args(field.annotation)
    base = base_type(field.annotation)
    listed_choices = choices(field)
    if listed_choices is not None:
        listed = ", ".join(str(choice) for choice in listed_choices)
        text = f"a list of: {listed}" if typing.get_origin(base) is list else f"one of: {listed}"
    elif base is bool:
        text = "true or false"
    else:
        words = {int: "an integer", float: "a number", str: "a string", Path: "a path"}
        text = words.get(base, getattr(base, "__name__", str(base)))
        bounds = _range_text(field)
        text = f"{text}, {bounds}" if bounds else text
    return f"{text}, or unset" if optional else text
