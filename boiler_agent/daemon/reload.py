"""SIGHUP: read the config file again, say which keys apply live and which wait for a restart."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from boiler_agent.config import AgentConfig, ConfigError, load_config

log = logging.getLogger(__name__)

# What SIGHUP applies without a restart; everything else needs one (and the log says which).
RELOADABLE = frozenset(
    {
        "log.level",
        "mqtt.telemetry_period_s",
        "control.setpoint_min_c",
        "control.setpoint_max_c",
        "control.weather_max_age_s",  # read by the loop at each control step
    }
)


@dataclass(frozen=True)
class Reloaded:
    config: AgentConfig  # the running config with the live keys of the new file
    live: list[str]  # changed keys applied now
    later: list[str]  # changed keys that apply at the next start


def reload_config(path: Path | None, running: AgentConfig) -> Reloaded | None:
    """The config to run with after a SIGHUP; None (logged) when the file is refused."""
    try:
        fresh = load_config(path)
    except ConfigError as error:
        for line in error.lines():
            log.error("reload refused, the running configuration stays: %s", line)
        return None
    in_force = running.control.max_temp_c  # max_temp_c itself changes at the next restart
    if fresh.control.setpoint_max_c >= in_force:
        log.error(
            "reload refused, the running configuration stays: control.setpoint_max_c = %g must "
            "be below control.max_temp_c = %g in force (a new max_temp_c applies at the next "
            "restart, not now)",
            fresh.control.setpoint_max_c,
            in_force,
        )
        return None
    changed = changed_keys(running, fresh)
    # Keep the running config for everything else: those keys apply at the next start.
    sections: dict[str, dict[str, Any]] = {}
    for dotted in RELOADABLE:
        section, key = dotted.split(".")
        sections.setdefault(section, {})[key] = getattr(getattr(fresh, section), key)
    config = running.model_copy(
        update={
            section: getattr(running, section).model_copy(update=values)
            for section, values in sections.items()
        }
    )
    return Reloaded(config, sorted(changed & RELOADABLE), sorted(changed - RELOADABLE))


def changed_keys(old: AgentConfig, new: AgentConfig) -> set[str]:
    """Dotted keys whose values differ (a password is compared, never shown)."""
    before, after = old.model_dump(mode="json"), new.model_dump(mode="json")
    changed: set[str] = set()
    if old.mqtt.resolved_password() != new.mqtt.resolved_password():
        changed.add("mqtt.password")
    for section in before.keys() | after.keys():
        a, b = before.get(section), after.get(section)
        if isinstance(a, dict) and isinstance(b, dict):
            changed |= {
                f"{section}.{key}" for key in a.keys() | b.keys() if a.get(key) != b.get(key)
            }
        elif a != b:
            changed.add(section)
    return changed
