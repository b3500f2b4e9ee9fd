"""What is wrong with a config, in words: each problem names the key, the value, what is allowed.

pydantic's errors are turned into `ConfigProblem`s here, so that every message an operator
reads has the same shape: `mqtt.url = 'htp://x': scheme must be mqtt or mqtts, got 'htp'`.
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import SecretStr, ValidationError

from boiler_agent.config.fields import BlameError
from boiler_agent.config.keys import (
    ENV_DELIMITER,
    ENV_PREFIX,
    MASK,
    allowed_text,
    base_type,
    choices,
    config_keys,
    field_at,
    section_model,
    sections,
)


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a config: the dotted key, the value (a repr), what is allowed."""

    key: str  # "mqtt.url"; "" for the file as a whole (missing, bad TOML syntax)
    value: str
    message: str
    env_var: str | None = None  # set when the value came from this environment variable

    def describe(self) -> str:
        if not self.key:
            return f"{self.message}: {self.value}" if self.value else self.message
        source = f" (from {self.env_var})" if self.env_var else ""
        return f"{self.key} = {self.value}{source}: {self.message}"


@dataclass(frozen=True)
class ConfigWarning(ConfigProblem):
    """Something that still works but should change (a retired value), with what to do."""


class ConfigError(Exception):
    """Everything wrong with a config at once."""

    def __init__(self, problems: Sequence[ConfigProblem], source: str = "config") -> None:
        self.problems = list(problems)
        self.source = source
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        """One line per problem, prefixed with the file (or "config" without one)."""
        return [f"{self.source}: {problem.describe()}" for problem in self.problems]


TYPE_ERRORS = {
    "int_type",
    "int_parsing",
    "int_from_float",
    "float_type",
    "float_parsing",
    "finite_number",
    "bool_type",
    "bool_parsing",
    "string_type",
    "list_type",
    "path_type",
    "model_type",
    "model_attributes_type",
    "dict_type",
}
RANGE_ERRORS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}
LENGTH_ERRORS = {"too_short", "too_long", "string_too_short", "string_too_long"}


def problems_from(exc: ValidationError, env_vars: Mapping[str, str]) -> list[ConfigProblem]:
    """pydantic's errors as problems; `env_vars` maps a dotted key to the variable that set it."""
    problems = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        key = ".".join(str(part) for part in loc if isinstance(part, str))
        index = "".join(f"[{part}]" for part in loc if isinstance(part, int))
        value: object = error.get("input")
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, BlameError):
            prefix = f"{key}." if key else ""
            key, value, message = prefix + cause.key, cause.value, cause.message
            for other in (prefix + name for name in cause.others):
                if other in env_vars and other != key:
                    message += f" ({other} is set by {env_vars[other]})"
        else:
            message = _message(error["type"], error["msg"], key, loc, cause)
        problems.append(
            ConfigProblem(key + index, show(key, value), message, env_var=env_vars.get(key))
        )
    return problems


def _message(kind: str, msg: str, key: str, loc: tuple[Any, ...], cause: object) -> str:
    if kind == "extra_forbidden":
        return unknown_message(key)
    field = field_at(key)
    if kind == "literal_error" and field is not None:
        return "must be one of: " + ", ".join(str(choice) for choice in choices(field) or ())
    if kind in RANGE_ERRORS and field is not None:
        return f"out of range: must be {allowed_text(field)}"
    if kind in TYPE_ERRORS:
        if field is None or section_model(field) is not None:
            return "must be a table ([section] with keys)"
        item = any(isinstance(part, int) for part in loc)
        return f"wrong type: must be {'an item of ' if item else ''}{allowed_text(field)}"
    if kind in LENGTH_ERRORS and field is not None:
        return f"{msg}; allowed: {allowed_text(field)}"
    if kind == "value_error" and cause is not None:
        return str(cause)
    return msg


def unknown_message(key: str) -> str:
    """'unknown key', with the closest known key or section when there is one."""
    names = [k.key for k in config_keys()] + list(sections())
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    if not close:  # the right key in the wrong section: [mqtt] discovery
        leaf = key.rsplit(".", 1)[-1]
        by_leaf = {k.name: k.key for k in config_keys()}
        near = difflib.get_close_matches(leaf, list(by_leaf), n=1, cutoff=0.8)
        close = [by_leaf[near[0]]] if near else []
    return f"unknown key; did you mean {close[0]}?" if close else "unknown key"


def unknown_env_message(name: str, dotted: str) -> str:
    """Why a BOILER_AGENT_* variable names no key, with the closest variable that does."""
    if dotted in sections():
        return (
            f"unknown key: {name} names a section; set one key as "
            f"{name}{ENV_DELIMITER}<KEY>, e.g. {ENV_PREFIX}MQTT__URL"
        )
    # Compare without the prefix every name shares, or everything looks close.
    names = {key.env_var[len(ENV_PREFIX) :]: key.env_var for key in config_keys()}
    close = difflib.get_close_matches(name[len(ENV_PREFIX) :], list(names), n=1, cutoff=0.75)
    hint = f"; did you mean {names[close[0]]}?" if close else ""
    return (
        f"unknown key: {ENV_PREFIX}* variables must name a key as "
        f"{ENV_PREFIX}<SECTION>{ENV_DELIMITER}<KEY>{hint}"
    )


def show(key: str, value: object) -> str:
    """A value for a message: a short repr, never a secret."""
    field = field_at(key)
    if value is not None and field is not None and base_type(field.annotation) is SecretStr:
        return repr(MASK)
    if isinstance(value, dict):
        return "a table with keys " + ", ".join(map(str, value)) if value else "an empty table"
    if isinstance(value, Path):
        value = str(value)
    text = str(value).lower() if isinstance(value, bool) else repr(value)  # TOML's spelling
    return text if len(text) <= 80 else text[:77] + "..."
