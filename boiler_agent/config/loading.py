"""Reading the config: the TOML file, the BOILER_AGENT_* environment over it, one validation.

The file and the environment are read here rather than by pydantic-settings' own sources so
that a problem can name where its value came from, and so that a `BOILER_AGENT_*` variable
that names no key is an error (pydantic-settings silently ignores those; a typo in a unit's
`Environment=` would otherwise go unnoticed).
"""

from __future__ import annotations

import json
import logging
import os
import re
import tomllib
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from boiler_agent.config.keys import (
    ENV_DELIMITER,
    ENV_PREFIX,
    ConfigKey,
    base_type,
    config_keys,
    union_args,
)
from boiler_agent.config.model import AgentConfig
from boiler_agent.config.problems import (
    ConfigError,
    ConfigProblem,
    ConfigWarning,
    problems_from,
    show,
    unknown_env_message,
    unknown_message,
)

DEFAULT_CONFIG_PATH = Path("/etc/boiler-agent/agent.toml")

# The package's name, not this module's: operators filter on "boiler_agent.config".
log = logging.getLogger("boiler_agent.config")


@dataclass(frozen=True)
class LoadedConfig:
    """A valid config, what it was read from, and what in it should change."""

    config: AgentConfig
    source: str  # the file, or "config" without one
    warnings: tuple[ConfigWarning, ...] = ()

    def warning_lines(self) -> list[str]:
        """One line per warning, prefixed with the file like ConfigError's lines."""
        return [f"{self.source}: warning: {warning.describe()}" for warning in self.warnings]


def load_config(path: Path | None, env: Mapping[str, str] | None = None) -> AgentConfig:
    """The config from `path` (None: DEFAULT_CONFIG_PATH if it exists) and `env` (os.environ).

    Raises ConfigError with every problem found; logs every warning (`read_config` returns
    them instead).
    """
    loaded = read_config(path, env)
    for line in loaded.warning_lines():
        log.warning("%s", line)
    return loaded.config


def read_config(path: Path | None, env: Mapping[str, str] | None = None) -> LoadedConfig:
    """Like `load_config`, with the source and the warnings instead of logging them."""
    source = str(path) if path is not None else "config"
    if path is None and DEFAULT_CONFIG_PATH.is_file():
        path, source = DEFAULT_CONFIG_PATH, str(DEFAULT_CONFIG_PATH)
    problems: list[ConfigProblem] = []
    file_data = _read_toml(path, problems) if path is not None else {}
    env_data, env_vars = _read_env(os.environ if env is None else env, problems)
    if file_data is None:  # unreadable: there is nothing to validate beyond the environment
        raise ConfigError(problems, source)
    merged = _merge(file_data, env_data)
    for key in [k for k in merged if k.startswith("_")]:
        # pydantic-settings would take these as its own init options: never let a file do so.
        problems.append(ConfigProblem(key, show(key, merged.pop(key)), unknown_message(key)))
    warnings = _retired(merged, env_vars)
    try:
        config = AgentConfig(**merged)
    except ValidationError as exc:
        problems.extend(problems_from(exc, env_vars))
    if problems:
        raise ConfigError(problems, source)
    return LoadedConfig(config, source, tuple(warnings))


def _read_toml(path: Path, problems: list[ConfigProblem]) -> dict[str, Any] | None:
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        problems.append(ConfigProblem("", repr(str(path)), "config file not found"))
        return None
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        problems.append(ConfigProblem("", repr(str(path)), f"cannot read config file: {reason}"))
        return None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # Python 3.11's message ends with "(at line L, column C)"; quote that line.
        where = re.search(r"at line (\d+), column (\d+)", str(exc))
        reason = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", str(exc))
        if where is None:
            problems.append(ConfigProblem("", "", f"invalid TOML: {reason}"))
            return None
        line, column = int(where.group(1)), int(where.group(2))
        lines = text.splitlines()
        quoted = repr(lines[line - 1]) if 0 < line <= len(lines) else ""
        message = f"invalid TOML at line {line}, column {column}: {reason}"
        problems.append(ConfigProblem("", quoted, message))
        return None


def _read_env(
    env: Mapping[str, str], problems: list[ConfigProblem]
) -> tuple[dict[str, Any], dict[str, str]]:
    """BOILER_AGENT_<SECTION>__<KEY> variables as a nested dict, and the key -> variable map."""
    by_key = {key.key: key for key in config_keys()}
    data: dict[str, Any] = {}
    used: dict[str, str] = {}
    for name in sorted(env):
        if not name.startswith(ENV_PREFIX):
            continue
        raw = env[name]
        dotted = name[len(ENV_PREFIX) :].lower().replace(ENV_DELIMITER, ".")
        key = by_key.get(dotted)
        if key is None:
            problems.append(
                ConfigProblem(dotted, repr(raw), unknown_env_message(name, dotted), env_var=name)
            )
            continue
        try:
            value = _env_value(key, raw)
        except ValueError as exc:
            problems.append(ConfigProblem(dotted, show(dotted, raw), str(exc), env_var=name))
            continue
        target = data.setdefault(key.section, {}) if key.section else data
        target[key.name] = value
        used[dotted] = name
    return data, used


def _env_value(key: ConfigKey, raw: str) -> Any:
    """An environment string as the file would have given it, for the few types that differ."""
    if raw == "" and type(None) in union_args(key.field.annotation):
        return None  # an empty variable unsets an optional key
    if typing.get_origin(base_type(key.field.annotation)) is list:
        if raw.lstrip().startswith("["):
            try:
                return json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ValueError(f"is not a JSON list ({exc.msg}); or give a,b,c") from None
        return [item.strip() for item in raw.split(",") if item.strip()]
    return raw  # pydantic parses numbers and booleans from strings


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for name, value in over.items():
        current = merged.get(name)
        if isinstance(value, dict) and isinstance(current, dict):
            merged[name] = {**current, **value}
        elif isinstance(value, dict) and name in merged:
            continue  # the file's non-table section is reported; the environment can't fix it
        else:
            merged[name] = value
    return merged


def _retired(merged: Mapping[str, Any], env_vars: Mapping[str, str]) -> list[ConfigWarning]:
    """A warning for each retired value used (the model ignores them), saying what to do."""
    warnings = []
    for key in config_keys():
        retired = key.retired
        holder = merged.get(key.section) if key.section else merged
        if not retired or not isinstance(holder, dict) or key.name not in holder:
            continue
        value = holder[key.name]
        items = list(enumerate(value)) if isinstance(value, list) else [(None, value)]
        for index, item in items:
            if isinstance(item, str) and item in retired:
                warnings.append(
                    ConfigWarning(
                        key.key if index is None else f"{key.key}[{index}]",
                        repr(item),
                        f"deprecated and ignored: {retired[item]}",
                        env_var=env_vars.get(key.key),
                    )
                )
    return warnings
