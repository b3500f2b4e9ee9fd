"""Loading: defaults, the file, the BOILER_AGENT_* environment over it, the digest."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from boiler_agent.config import AgentConfig, config_digest, default_heater_id, load_config, loading
from tests.config.helpers import only, problems_of, write

# --- defaults ------------------------------------------------------------------------------


def test_no_file_gives_the_defaults() -> None:
    config = load_config(None, env={})
    assert config == AgentConfig()
    assert config.heater.kind == "room"
    assert (config.control.max_temp_c, config.control.setpoint_max_c) == (30.0, 28.0)
    assert config.serial.port == "/dev/boiler-heater"
    assert config.power.actuators == ["rapl", "cpufreq", "pstate", "cgroup"]
    assert config.mqtt_client_id == f"boiler-agent-{config.heater.id}"
    assert config.status_state_file == config.state_dir / "status.json"


def test_a_boiler_gets_hotter_defaults_unless_told(tmp_path: Path) -> None:
    boiler = load_config(write(tmp_path, '[heater]\nkind = "boiler"\n'), env={})
    assert (boiler.control.max_temp_c, boiler.control.setpoint_max_c) == (75.0, 70.0)
    told = '[heater]\nkind = "boiler"\n[control]\nmax_temp_c = 65\nsetpoint_max_c = 60\n'
    config = load_config(write(tmp_path, told), env={})
    assert (config.control.max_temp_c, config.control.setpoint_max_c) == (65.0, 60.0)


def test_heater_id_defaults_to_the_sanitized_hostname() -> None:
    assert default_heater_id("kitchen-1.fleet.example.com") == "kitchen-1"
    assert default_heater_id("My Heater (2)") == "My-Heater-2"
    assert default_heater_id("éé") == "heater"
    assert len(default_heater_id("x" * 100)) == 64


def test_state_and_cache_dirs_follow_the_existing_variables(tmp_path: Path) -> None:
    env = {"BOILER_AGENT_STATE_DIR": str(tmp_path / "s"), "BOILER_AGENT_CACHE_DIR": "/c"}
    config = load_config(None, env=env)
    assert config.state_dir == tmp_path / "s"
    assert config.cache_dir == Path("/c")


def test_broker_address_from_the_url(tmp_path: Path) -> None:
    plain = load_config(write(tmp_path, '[mqtt]\nurl = "mqtt://broker"\n'), env={}).mqtt.url
    assert (plain.host, plain.port, plain.tls) == ("broker", 1883, False)
    tls = load_config(write(tmp_path, '[mqtt]\nurl = "mqtts://b.example"\n'), env={}).mqtt.url
    assert (tls.host, tls.port, tls.tls) == ("b.example", 8883, True)
    assert tls == "mqtts://b.example"  # the URL as written, for logs and dumps


def test_toml_syntax_error_gives_line_and_column(tmp_path: Path) -> None:
    problem = only(problems_of(write(tmp_path, '[mqtt]\nurl = "mqtt://x"\nport = \n')))
    assert problem.key == ""
    assert "line 3, column 8" in problem.message
    assert problem.value == "'port = '"


def test_missing_explicit_file_is_an_error(tmp_path: Path) -> None:
    problem = only(problems_of(tmp_path / "nope.toml"))
    assert problem.message == "config file not found"
    assert "nope.toml" in problem.value


def test_the_default_file_is_read_when_it_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    default = write(tmp_path, '[heater]\nfleet = "north"\n', "etc-agent.toml")
    monkeypatch.setattr(loading, "DEFAULT_CONFIG_PATH", default)
    assert load_config(None, env={}).heater.fleet == "north"


# --- the environment ------------------------------------------------------------------------


def test_environment_wins_over_the_file(tmp_path: Path) -> None:
    path = write(tmp_path, '[mqtt]\nurl = "mqtt://from-file"\nkeepalive_s = 20\n')
    env = {
        "BOILER_AGENT_MQTT__URL": "mqtts://from-env:8884",
        "BOILER_AGENT_MQTT__ENABLED": "false",
        "BOILER_AGENT_CONTROL__PERIOD_S": "20",
        "BOILER_AGENT_POWER__ACTUATORS": "rapl, cgroup",
        "BOILER_AGENT_HEATER__RATED_POWER_W": "",
        "OTHER_VARIABLE": "ignored",
    }
    config = load_config(path, env=env)
    assert config.mqtt.url == "mqtts://from-env:8884"
    assert config.mqtt.keepalive_s == 20  # the file's, where the environment says nothing
    assert config.mqtt.enabled is False
    assert config.control.period_s == 20.0
    assert config.power.actuators == ["rapl", "cgroup"]
    assert config.heater.rated_power_w is None
    json_list = load_config(None, env={"BOILER_AGENT_POWER__ACTUATORS": '["rapl"]'})
    assert json_list.power.actuators == ["rapl"]


def test_a_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    path = write(tmp_path, '[mqtt]\nurl = "mqtt://fine"\n')
    problem = only(problems_of(path, {"BOILER_AGENT_MQTT__URL": "htp://x"}))
    assert (problem.key, problem.value, problem.env_var) == (
        "mqtt.url",
        "'htp://x'",
        "BOILER_AGENT_MQTT__URL",
    )
    assert problem.describe() == (
        "mqtt.url = 'htp://x' (from BOILER_AGENT_MQTT__URL): scheme must be mqtt or mqtts, "
        "got 'htp'"
    )
    problem = only(problems_of(None, {"BOILER_AGENT_CONTROL__PERIOD_S": "abc"}))
    assert problem.env_var == "BOILER_AGENT_CONTROL__PERIOD_S"
    assert "1..120" in problem.message


@pytest.mark.parametrize(
    ("name", "hint"),
    [
        ("BOILER_AGENT_FOO__BAR", None),
        ("BOILER_AGENT_MQTT_URL", "did you mean BOILER_AGENT_MQTT__URL?"),
        ("BOILER_AGENT_MQTT__KEEPALIVE", "did you mean BOILER_AGENT_MQTT__KEEPALIVE_S?"),
        ("BOILER_AGENT_MQTT", "names a section"),
    ],
)
def test_an_unknown_environment_variable_is_an_error(name: str, hint: str | None) -> None:
    problem = only(problems_of(None, {name: "1"}))
    assert problem.env_var == name
    assert problem.message.startswith("unknown key")
    assert problem.value == "'1'"
    if hint is None:
        assert "did you mean" not in problem.message
    else:
        assert hint in problem.message


# --- the digest and secrets -------------------------------------------------------------------


def test_digest_is_stable_and_follows_the_keys(tmp_path: Path) -> None:
    one, two = load_config(None, env={}), load_config(None, env={})
    assert re.fullmatch(r"[0-9a-f]{16}", config_digest(one))
    assert config_digest(one) == config_digest(two)
    changed = load_config(None, env={"BOILER_AGENT_MQTT__KEEPALIVE_S": "31"})
    assert config_digest(changed) != config_digest(one)
    env = {"BOILER_AGENT_MQTT__USERNAME": "u", "BOILER_AGENT_MQTT__PASSWORD": "a"}
    with_a = load_config(None, env=env)
    with_b = load_config(None, env={**env, "BOILER_AGENT_MQTT__PASSWORD": "b"})
    assert config_digest(with_a) == config_digest(with_b)  # the secret is not in it
