"""The agent's configuration: one TOML file, every key overridable from the environment.

`load_config(path, env)` reads the file, lays `BOILER_AGENT_<SECTION>__<KEY>` environment
variables over it (the environment wins, as systemd's `Environment=` should), and validates the
result with one model, `AgentConfig`, composed from the parts' own sections (heater and serial
in daemon/heater_config.py, control/config.py, power/config.py, compute/config.py,
telemetry/config.py, runtime/config.py). Every problem found, not just the first, is raised
together in a `ConfigError` as `ConfigProblem`s that name the dotted key, the value and what is
allowed: an operator fixing a heater's config should need one round trip, not ten. A retired
value still loads, with a `ConfigWarning` that says what to do instead.

The descriptions and `allowed`/`example` extras of the fields are the documentation: the
example config and docs/configuration.md are generated from them (`boiler-agent config example`,
`boiler-agent config keys`), and tests keep both files equal to what is generated.

The modules: `fields` (what the parts' sections share), `model` (AgentConfig), `keys` (the
keys and their documentation), `problems` (errors in words), `loading` (file and environment).
The names below are loaded on first use, not at import: a part's section imports
`boiler_agent.config.fields`, which runs this file first, and `model` imports the parts, so an
eager import here would be a cycle whenever a part's section is imported before this package.
"""

from __future__ import annotations

import importlib
import typing

if typing.TYPE_CHECKING:
    from boiler_agent.config.keys import ENV_DELIMITER as ENV_DELIMITER
    from boiler_agent.config.keys import ENV_PREFIX as ENV_PREFIX
    from boiler_agent.config.keys import MASK as MASK
    from boiler_agent.config.keys import ConfigKey as ConfigKey
    from boiler_agent.config.keys import allowed_text as allowed_text
    from boiler_agent.config.keys import config_keys as config_keys
    from boiler_agent.config.keys import sections as sections
    from boiler_agent.config.loading import DEFAULT_CONFIG_PATH as DEFAULT_CONFIG_PATH
    from boiler_agent.config.loading import LoadedConfig as LoadedConfig
    from boiler_agent.config.loading import load_config as load_config
    from boiler_agent.config.loading import read_config as read_config
    from boiler_agent.config.model import AgentConfig as AgentConfig
    from boiler_agent.config.model import config_digest as config_digest
    from boiler_agent.config.problems import ConfigError as ConfigError
    from boiler_agent.config.problems import ConfigProblem as ConfigProblem
    from boiler_agent.config.problems import ConfigWarning as ConfigWarning
    from boiler_agent.daemon.heater_config import default_heater_id as default_heater_id

# public name -> the module that defines it
_EXPORTS = {
    "ENV_DELIMITER": "boiler_agent.config.keys",
    "ENV_PREFIX": "boiler_agent.config.keys",
    "MASK": "boiler_agent.config.keys",
    "ConfigKey": "boiler_agent.config.keys",
    "allowed_text": "boiler_agent.config.keys",
    "config_keys": "boiler_agent.config.keys",
    "sections": "boiler_agent.config.keys",
    "DEFAULT_CONFIG_PATH": "boiler_agent.config.loading",
    "LoadedConfig": "boiler_agent.config.loading",
    "load_config": "boiler_agent.config.loading",
    "read_config": "boiler_agent.config.loading",
    "AgentConfig": "boiler_agent.config.model",
    "config_digest": "boiler_agent.config.model",
    "ConfigError": "boiler_agent.config.problems",
    "ConfigProblem": "boiler_agent.config.problems",
    "ConfigWarning": "boiler_agent.config.problems",
    "default_heater_id": "boiler_agent.daemon.heater_config",
}


def __getattr__(name: str) -> object:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(module), name)


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})
