"""The parts' sections: each its own module, in step with the code that uses its values."""

from __future__ import annotations

import ast
import dataclasses
import re
import subprocess
import sys
import tomllib
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from boiler_agent.cli.config_cmd import render_example
from boiler_agent.config import AgentConfig, load_config
from boiler_agent.telemetry.config import BrokerUrl

# --- aligned with the code that uses the values ----------------------------------------------


def test_names_and_defaults_match_the_code_that_uses_them() -> None:
    from boiler_agent.compute.scheduler import DEFAULT_CHECKPOINT_INTERVAL_S
    from boiler_agent.control.config import Controller
    from boiler_agent.control.controllers import KINDS
    from boiler_agent.control.safety import SafetyLimits
    from boiler_agent.daemon.heater_config import SerialConfig
    from firmware_bridge.link import DEFAULT_BAUDRATE, DEFAULT_LEASE_S, MAX_LEASE_S, RECONNECT_MAX_S

    config = AgentConfig()
    assert typing.get_args(Controller) == KINDS
    assert config.serial.baudrate == DEFAULT_BAUDRATE
    assert config.serial.lease_s == DEFAULT_LEASE_S
    assert upper_bound(SerialConfig, "lease_s") == MAX_LEASE_S
    assert config.serial.reconnect_max_s == RECONNECT_MAX_S
    assert config.compute.checkpoint_interval_s == DEFAULT_CHECKPOINT_INTERVAL_S
    limits = config.control.safety_limits(valid_min_c=0.0, valid_max_c=45.0)
    defaults = {f.name: f.default for f in dataclasses.fields(SafetyLimits)}
    for name in ("stale_after_s", "stall_after_s", "runaway_window_s", "runaway_min_rise_k"):
        assert getattr(limits, name) == defaults[name], name
    assert limits.cpu_margin_c == defaults["cpu_margin_c"]
    assert limits.max_temp_c == 30.0


def upper_bound(model: type[BaseModel], name: str) -> float:
    return next(float(m.le) for m in model.model_fields[name].metadata if hasattr(m, "le"))


def test_the_runaway_window_bounds_match_the_safety_guard() -> None:
    from boiler_agent.control.safety import SafetyLimits

    for window in (300.0, 3600.0):
        env = {"BOILER_AGENT_CONTROL__RUNAWAY_WINDOW_S": str(window)}
        load_config(None, env=env).control.safety_limits(0.0, 45.0)
        SafetyLimits(30.0, 0.0, 45.0, runaway_window_s=window)
    assert tomllib.loads(render_example())["control"]["runaway_window_s"] == 600.0


def test_heater_kinds_and_their_defaults_are_one_table() -> None:
    from boiler_agent.control.config import KIND_DEFAULTS
    from boiler_agent.heater_type import HeaterType

    assert tuple(KIND_DEFAULTS) == typing.get_args(HeaterType)
    for kind, row in KIND_DEFAULTS.items():
        config = load_config(None, env={"BOILER_AGENT_HEATER__KIND": kind})
        assert {key: getattr(config.control, key) for key in row} == row, kind


# --- each part's section is its own module ----------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]
PART_SECTIONS = [
    "boiler_agent.daemon.heater_config",
    "boiler_agent.control.config",
    "boiler_agent.power.config",
    "boiler_agent.compute.config",
    "boiler_agent.telemetry.config",
    "boiler_agent.runtime.config",
]


@pytest.mark.parametrize("module", [*PART_SECTIONS, "boiler_agent.config.fields"])
def test_a_part_section_imports_on_its_own(module: str) -> None:
    """First in a fresh interpreter: no cycle through boiler_agent.config's model."""
    code = f"import {module}; from boiler_agent.config import AgentConfig; AgentConfig()"
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("module", PART_SECTIONS)
def test_a_part_section_takes_only_the_shared_fields_from_the_config(module: str) -> None:
    path = ROOT / (module.replace(".", "/") + ".py")
    imported = {
        node.module
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ImportFrom) and node.module != "__future__"
    }
    from_config = {name for name in imported if name.startswith("boiler_agent.config")}
    assert from_config == {"boiler_agent.config.fields"}, path


def test_every_source_file_of_the_config_is_small() -> None:
    for path in [
        *(ROOT / "boiler_agent" / "config").glob("*.py"),
        *(ROOT / (m.replace(".", "/") + ".py") for m in PART_SECTIONS),
    ]:
        lines = len(path.read_text(encoding="utf-8").splitlines())
        assert lines <= 400, f"{path.relative_to(ROOT)} has {lines} lines"


# --- the broker URL, parsed once ----------------------------------------------------------------


def test_the_broker_url_is_parsed_once_into_its_parts() -> None:
    url = BrokerUrl("mqtts://broker.example:9999")
    assert (url.host, url.port, url.tls) == ("broker.example", 9999, True)
    assert url == "mqtts://broker.example:9999" and isinstance(url, str)
    plain = BrokerUrl("mqtt://127.0.0.1")
    assert (plain.host, plain.port, plain.tls) == ("127.0.0.1", 1883, False)
    assert BrokerUrl("mqtts://[::1]/").port == 8883
    with pytest.raises(AttributeError):
        plain.port = 1  # type: ignore[misc]


@pytest.mark.parametrize(
    ("url", "words"),
    [
        ("http://127.0.0.1", "scheme must be mqtt or mqtts, got 'http'"),
        ("broker.example", "must be mqtt://host[:port] or mqtts://host[:port]"),
        ("mqtt://", "names no host"),
        ("mqtt://u:p@host", "must not carry credentials"),
        ("mqtt://host:0", "port 1..65535"),
        ("mqtt://host/path", "port 1..65535"),
    ],
)
def test_a_bad_broker_url_says_what_is_wrong(url: str, words: str) -> None:
    with pytest.raises(ValueError, match=re.escape(words)):
        BrokerUrl(url)


def test_the_config_hands_the_parsed_url_on_and_dumps_it_as_written() -> None:
    config = load_config(None, env={"BOILER_AGENT_MQTT__URL": "mqtts://b.example"})
    assert isinstance(config.mqtt.url, BrokerUrl)
    assert (config.mqtt.url.host, config.mqtt.url.port) == ("b.example", 8883)
    assert config.model_dump(mode="json")["mqtt"]["url"] == "mqtts://b.example"
    assert type(config.model_dump()["mqtt"]["url"]) is str
    copied = config.model_copy(update={"mqtt": config.mqtt.model_copy()})
    assert copied.mqtt.url.tls and copied == config


def test_the_package_names_resolve_and_match_what_the_type_checker_sees() -> None:
    """`from boiler_agent.config import X` keeps working for every name the package lists."""
    import boiler_agent.config as package

    tree = ast.parse((ROOT / "boiler_agent" / "config" / "__init__.py").read_text("utf-8"))
    typed = {
        alias.asname or alias.name: node.module
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and node.module != "__future__"
        for alias in node.names
    }
    lazy = package._EXPORTS
    assert typed == lazy
    for name in lazy:
        assert getattr(package, name) is not None, name
    with pytest.raises(AttributeError):
        _ = package.NoSuchName  # type: ignore[attr-defined]
