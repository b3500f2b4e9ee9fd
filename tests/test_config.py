"""The config: TOML plus BOILER_AGENT_* overrides, every problem named with key, value, allowed."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import tomllib
import typing
from pathlib import Path

import pytest
from pydantic import BaseModel

from boiler_agent.cli import main
from boiler_agent.commands.config_cmd import render_example, render_keys_table
from boiler_agent.config import (
    AgentConfig,
    ConfigError,
    ConfigProblem,
    config_digest,
    config_keys,
    default_heater_id,
    load_config,
    loading,
)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "systemd" / "agent.toml.example"
DOC = ROOT / "docs" / "configuration.md"
SECRET = "hunter2-do-not-print"


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No /etc/boiler-agent/agent.toml and no BOILER_AGENT_* variables from the test's host."""
    monkeypatch.setattr(loading, "DEFAULT_CONFIG_PATH", tmp_path / "no-default.toml")
    for name in [n for n in os.environ if n.startswith("BOILER_AGENT_")]:
        if name not in ("BOILER_AGENT_STATE_DIR", "BOILER_AGENT_CACHE_DIR"):
            monkeypatch.delenv(name)


def write(tmp_path: Path, text: str, name: str = "agent.toml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(path: Path | None, env: dict[str, str] | None = None) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as raised:
        load_config(path, env={} if env is None else env)
    return raised.value.problems


def only(problems: list[ConfigProblem]) -> ConfigProblem:
    assert len(problems) == 1, [p.describe() for p in problems]
    return problems[0]


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


# --- every kind of error names the key, the value and what is allowed -------------------------

ERRORS = [
    # (file text, key, value, words of the message)
    ('[mqtt]\nurl = "htp://x"\n', "mqtt.url", "'htp://x'", "scheme must be mqtt or mqtts"),
    ('[mqtt]\nurl = "mqtt://u:p@host"\n', "mqtt.url", "'mqtt://u:p@host'", "credentials"),
    ('[mqtt]\nurl = "mqtt://host:99999"\n', "mqtt.url", "'mqtt://host:99999'", "1..65535"),
    ('[mqtt]\nurll = "x"\n', "mqtt.urll", "'x'", "unknown key; did you mean mqtt.url?"),
    (
        "[mqtt]\ndiscovery = false\n",
        "mqtt.discovery",
        "false",
        "unknown key; did you mean homeassistant.discovery?",
    ),
    ('[mqt]\nurl = "x"\n', "mqt", "a table with keys url", "unknown key; did you mean mqtt?"),
    ('_env_file = ".env"\n', "_env_file", "'.env'", "unknown key"),
    ('[control]\nperiod_s = "ten"\n', "control.period_s", "'ten'", "wrong type: must be a number"),
    (
        "[control]\nperiod_s = 500\n",
        "control.period_s",
        "500",
        "out of range: must be a number, 1..120",
    ),
    ("[serial]\nlease_s = 20\n", "serial.lease_s", "20", "0.5..10"),
    ("[heater]\nrated_power_w = 0\n", "heater.rated_power_w", "0", "> 0 and ≤ 20000"),
    ('[heater]\nkind = "tank"\n', "heater.kind", "'tank'", "must be one of: room, boiler"),
    ('[control]\ncontroller = "mpc"\n', "control.controller", "'mpc'", "default, pi, bangbang"),
    ('[log]\nlevel = "loud"\n', "log.level", "'loud'", "debug, info, warning, error"),
    (
        '[power]\nactuators = ["workers", "turbo"]\n',
        "power.actuators[1]",  # the index in the file, the retired value counted
        "'turbo'",
        "must be one of: rapl, cpufreq, pstate, cgroup",
    ),
    (
        '[power]\nactuators = ["rapl", "rapl"]\n',
        "power.actuators",
        "['rapl', 'rapl']",
        "lists rapl more than once",
    ),
    ('[power]\nactuators = "rapl"\n', "power.actuators", "'rapl'", "a list of: rapl, cpufreq"),
    ("[serial]\nbaudrate = 12345\n", "serial.baudrate", "12345", "one of: 9600"),
    ('[serial]\nport = "ttyUSB0"\n', "serial.port", "'ttyUSB0'", "absolute device path"),
    ('[serial]\nport = "tcp://h:1"\n', "serial.port", "'tcp://h:1'", "socket://, rfc2217://"),
    ('[heater]\nid = "a/b"\n', "heater.id", "'a/b'", "1 to 64 characters of A-Z a-z 0-9 _ -"),
    ('[heater]\nexpected_serial = "QH1-0000000042"\n', "heater.expected_serial", "", "1 to 12"),
    ('[mqtt]\ntopic_root = "dh/+/v1"\n', "mqtt.topic_root", "'dh/+/v1'", "wildcards"),
    ('[mqtt]\njob_pool = "a b"\n', "mqtt.job_pool", "'a b'", "A-Z a-z 0-9 _ -"),
    (
        "[control]\nsetpoint_max_c = 31\n",
        "control.setpoint_max_c",
        "31",
        "must be below control.max_temp_c = 30",
    ),
    (
        "[control]\nsetpoint_min_c = 29\n",
        "control.setpoint_min_c",
        "29",
        "must be below control.setpoint_max_c = 28",
    ),
    ("[serial]\nlease_s = 1.0\n", "serial.lease_s", "1.0", "must exceed power.period_s = 1"),
    ("[power]\nperiod_s = 6\n", "serial.lease_s", "3.0", "must exceed power.period_s = 6"),
    ('[power]\nsysfs_root = "/no/such/dir"\n', "power.sysfs_root", "", "existing directory"),
    ('[mqtt]\nca_file = "/no/such/ca.pem"\n', "mqtt.ca_file", "'/no/such/ca.pem'", "existing"),
    ('[mqtt]\npassword_file = "/no/such/pw"\n', "mqtt.password_file", "", "cannot be read"),
    ('[mqtt]\npassword = "x"\n', "mqtt.username", "None", "must be set when a password is"),
    ('[status]\nsocket = "/run/' + "x" * 120 + '"\n', "status.socket", "", "107 bytes"),
]


@pytest.mark.parametrize(("text", "key", "value", "words"), ERRORS, ids=[e[1] for e in ERRORS])
def test_each_error_names_key_value_and_allowed(
    tmp_path: Path, text: str, key: str, value: str, words: str
) -> None:
    problem = only(problems_of(write(tmp_path, text)))
    assert problem.key == key
    assert value in problem.value
    assert words in problem.message
    assert problem.env_var is None


ODD_VALUES = [5, -1, 1e400, "", "x" * 300, "a\0b", True, [1, "a"], {"a": 1}, "/", "0"]


def test_any_value_of_any_type_gives_problems_never_a_crash(tmp_path: Path) -> None:
    for key in config_keys():
        for value in ODD_VALUES:
            table = {key.name: value}
            document = {key.section: table} if key.section else table
            path = write(tmp_path, _toml(document))
            try:
                load_config(path, env={})
            except ConfigError as exc:
                assert exc.problems and all(p.message for p in exc.problems), key.key
            env = {key.env_var: value if isinstance(value, str) else json.dumps(value)}
            try:
                load_config(None, env=env)
            except ConfigError as exc:
                assert all(key.env_var in p.describe() for p in exc.problems), key.key
    for section in ("heater", "control", "mqtt"):
        for value in ODD_VALUES:
            path = write(tmp_path, _toml({section: value}))
            with pytest.raises(ConfigError):
                load_config(path, env={})


def _toml(document: dict[str, object]) -> str:
    """Every key a dotted TOML key, so one line each whatever the value's type."""
    lines = []
    for name, value in document.items():
        if isinstance(value, dict):
            lines += [f"{name}.{sub} = {_value(v)}" for sub, v in value.items()]
        else:
            lines.append(f"{name} = {_value(value)}")
    return "\n".join(lines) + "\n"


def _value(value: object) -> str:
    if isinstance(value, float) and value == float("inf"):
        return "inf"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    return json.dumps(value)


def test_the_documented_line_format(tmp_path: Path) -> None:
    problem = only(problems_of(write(tmp_path, '[mqtt]\nurl = "htp://x"\n')))
    assert problem.describe() == "mqtt.url = 'htp://x': scheme must be mqtt or mqtts, got 'htp'"


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


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    text = (
        '[heater]\nkind = "tank"\n[control]\nperiod_s = 0\n'
        '[mqtt]\nurl = "htp://x"\nkeepalive = 5\n[log]\nlevel = "LOUD"\n'
    )
    keys = {p.key for p in problems_of(write(tmp_path, text))}
    assert keys == {"heater.kind", "control.period_s", "mqtt.url", "mqtt.keepalive", "log.level"}


def test_tls_files_are_checked_together(tmp_path: Path) -> None:
    cert = write(tmp_path, "cert", "client.pem")
    plain = f'[mqtt]\nurl = "mqtt://b"\nca_file = "{cert}"\n'
    assert "mqtts://" in only(problems_of(write(tmp_path, plain))).message
    alone = f'[mqtt]\nurl = "mqtts://b"\ncert_file = "{cert}"\n'
    problem = only(problems_of(write(tmp_path, alone)))
    assert (problem.key, problem.message) == (
        "mqtt.key_file",
        "cert_file and key_file go together: set both",
    )
    both = f'[mqtt]\nurl = "mqtts://b"\ncert_file = "{cert}"\nkey_file = "{cert}"\n'
    assert load_config(write(tmp_path, both), env={}).mqtt.key_file == cert


def test_password_file_is_read_and_exclusive(tmp_path: Path) -> None:
    secret = write(tmp_path, SECRET + "\n", "pw")
    text = f'[mqtt]\nusername = "heater"\npassword_file = "{secret}"\n'
    mqtt = load_config(write(tmp_path, text), env={}).mqtt
    password = mqtt.resolved_password()
    assert password is not None and password.get_secret_value() == SECRET
    both = text + 'password = "other"\n'
    problem = only(problems_of(write(tmp_path, both)))
    assert (problem.key, problem.message) == (
        "mqtt.password_file",
        "not with mqtt.password: pick one",
    )
    empty = write(tmp_path, "\n", "empty")
    text = f'[mqtt]\nusername = "heater"\npassword_file = "{empty}"\n'
    assert only(problems_of(write(tmp_path, text))).message == "is empty"


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


# --- the example file and the docs stay true -------------------------------------------------


def test_the_example_file_loads_to_exactly_the_defaults() -> None:
    assert load_config(EXAMPLE, env={}) == load_config(None, env={})


def test_the_example_file_is_what_config_example_prints() -> None:
    assert EXAMPLE.read_text(encoding="utf-8") == render_example(), (
        "regenerate: boiler-agent config example > systemd/agent.toml.example"
    )


def test_the_example_file_shows_every_key() -> None:
    text = EXAMPLE.read_text(encoding="utf-8")
    for key in config_keys():
        assert re.search(rf"^(# )?{key.name} = ", text, re.MULTILINE), key.key
        if key.section:
            assert f"[{key.section}]" in text


def test_the_docs_list_every_key_as_generated() -> None:
    text = DOC.read_text(encoding="utf-8")
    block = re.search(r"<!-- keys:begin[^>]*-->\n(.*)<!-- keys:end -->", text, re.DOTALL)
    assert block is not None
    assert block.group(1) == render_keys_table(), (
        "regenerate the table in docs/configuration.md with: boiler-agent config keys"
    )
    for key in config_keys():
        assert f"`{key.env_var}`" in block.group(1)


def test_every_key_is_described() -> None:
    for key in config_keys():
        assert key.description.endswith((".", ")")), key.key


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


def test_the_password_is_never_printed(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, f'[mqtt]\nusername = "heater"\npassword = "{SECRET}"\n')
    config = load_config(path, env={})
    password = config.mqtt.resolved_password()
    assert password is not None and password.get_secret_value() == SECRET
    assert SECRET not in repr(config) + str(config) + config.model_dump_json()
    assert SECRET not in json.dumps(config.model_dump(mode="json"))
    # In an error message, even as a wrong value:
    bad = write(tmp_path, f'[mqtt]\npassword = ["{SECRET}"]\nurl = "htp://x"\n', "bad.toml")
    assert SECRET not in "\n".join(p.describe() for p in problems_of(bad))
    # From the environment, in `config show`, `show --json` and `check`:
    monkeypatch.setenv("BOILER_AGENT_MQTT__PASSWORD", SECRET)
    for argv in (["show", str(path)], ["show", "--json", str(path)], ["check", str(path)]):
        assert main(["config", *argv]) == 0
        out = capsys.readouterr()
        assert SECRET not in out.out + out.err
    monkeypatch.setenv("BOILER_AGENT_MQTT__USERNAME", "")  # a password without a user: error
    assert main(["config", "check", str(path)]) == 2
    assert SECRET not in capsys.readouterr().out


# --- the commands ---------------------------------------------------------------------------


def test_config_check_ok(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, '[heater]\nid = "kitchen-1"\n')
    assert main(["config", "check", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == f"{path}: OK"
    assert "heater kitchen-1" in lines[1]
    assert config_digest(load_config(path, env={})) in lines[1]


def test_config_check_prints_every_problem_and_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, '[mqtt]\nurl = "htp://x"\n[control]\nperiod_s = 0\n')
    assert main(["config", "check", str(path)]) == 2
    lines = capsys.readouterr().out.splitlines()
    assert lines == [
        f"{path}: control.period_s = 0: out of range: must be a number, 1..120",
        f"{path}: mqtt.url = 'htp://x': scheme must be mqtt or mqtts, got 'htp'",
    ]
    assert main(["config", "check", str(tmp_path / "missing.toml")]) == 2
    assert "config file not found" in capsys.readouterr().out


def test_config_check_applies_the_environment_unless_told(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "")
    monkeypatch.setenv("BOILER_AGENT_FOO__BAR", "1")
    assert main(["config", "check", str(path)]) == 2
    assert "(from BOILER_AGENT_FOO__BAR): unknown key" in capsys.readouterr().out
    assert main(["config", "check", "--no-env", str(path)]) == 0


def test_config_show_is_toml_that_loads_back(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, '[heater]\nkind = "boiler"\n[mqtt]\nusername = "u"\npassword = "p"\n')
    monkeypatch.setenv("BOILER_AGENT_CONTROL__PERIOD_S", "30")
    assert main(["config", "show", str(path)]) == 0
    out = capsys.readouterr().out
    assert "BOILER_AGENT_CONTROL__PERIOD_S" in out  # the header names the overrides
    assert 'password = "**********"  # masked' in out
    shown = write(tmp_path, out, "shown.toml")
    again = load_config(shown, env={})
    original = load_config(path, env={"BOILER_AGENT_CONTROL__PERIOD_S": "30"})
    assert again.control == original.control and again.heater == original.heater
    assert again.model_dump(exclude={"mqtt"}) == original.model_dump(exclude={"mqtt"})

    assert main(["config", "show", "--json", str(path)]) == 0
    dumped = json.loads(capsys.readouterr().out)
    assert dumped["control"]["period_s"] == 30.0
    assert dumped["mqtt"]["password"] == "**********"
    assert dumped["digest"] == config_digest(original)


def test_config_show_reports_problems_on_stderr(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["config", "show", str(write(tmp_path, "[log]\nlevel = 3\n"))]) == 2
    assert "log.level = 3: must be one of" in capsys.readouterr().err


def test_config_example_and_keys_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["config", "example"]) == 0
    assert capsys.readouterr().out == render_example()
    assert main(["config", "keys"]) == 0
    assert capsys.readouterr().out == render_keys_table()


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
