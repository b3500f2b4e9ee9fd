"""The generated example and keys table stay true; `config check/show/example/keys`; secrets."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from boiler_agent.cli import main
from boiler_agent.cli.config_cmd import render_example, render_keys_table
from boiler_agent.config import config_digest, config_keys, load_config
from tests.config.helpers import DOC, EXAMPLE, SECRET, problems_of, write

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


# --- secrets ---------------------------------------------------------------------------------


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
