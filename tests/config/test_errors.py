"""Every problem names the key, the value and what is allowed; all of them at once."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from boiler_agent.config import ConfigError, config_keys, load_config
from tests.config.helpers import SECRET, only, problems_of, write

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
