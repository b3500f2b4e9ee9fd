"""A retired value still loads, is ignored, and is warned about with what to do instead."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from boiler_agent.cli import main
from boiler_agent.cli.config_cmd import render_example, render_keys_table
from boiler_agent.config import ConfigWarning, config_digest, load_config, read_config
from tests.config.helpers import only, problems_of, write

ADVICE = "deprecated and ignored: workers and duty cycling are always used; remove it"
OLD_DEFAULT = '[power]\nactuators = ["workers", "duty", "rapl", "cpufreq", "pstate", "cgroup"]\n'


def test_the_old_default_still_loads_and_runs_as_the_new_one(tmp_path: Path) -> None:
    loaded = read_config(write(tmp_path, OLD_DEFAULT), env={})
    assert loaded.config.power.actuators == ["rapl", "cpufreq", "pstate", "cgroup"]
    assert config_digest(loaded.config) == config_digest(load_config(None, env={}))
    assert loaded.warnings == (
        ConfigWarning("power.actuators[0]", "'workers'", ADVICE),
        ConfigWarning("power.actuators[1]", "'duty'", ADVICE),
    )


def test_a_list_of_only_retired_values_means_no_sysfs_knob(tmp_path: Path) -> None:
    loaded = read_config(write(tmp_path, '[power]\nactuators = ["workers"]\n'), env={})
    assert loaded.config.power.actuators == []
    assert [w.key for w in loaded.warnings] == ["power.actuators[0]"]
    assert read_config(write(tmp_path, "[power]\nactuators = []\n"), env={}).warnings == ()


def test_the_warning_names_the_variable_that_set_the_value() -> None:
    loaded = read_config(None, env={"BOILER_AGENT_POWER__ACTUATORS": "rapl,duty"})
    warning = only(list(loaded.warnings))
    assert warning.env_var == "BOILER_AGENT_POWER__ACTUATORS"
    assert loaded.warning_lines() == [
        f"config: warning: power.actuators[1] = 'duty' (from BOILER_AGENT_POWER__ACTUATORS): "
        f"{ADVICE}"
    ]


def test_no_warning_without_a_retired_value(tmp_path: Path) -> None:
    assert read_config(None, env={}).warnings == ()
    assert read_config(write(tmp_path, '[power]\nactuators = ["rapl"]\n'), env={}).warnings == ()


def test_a_bad_file_reports_its_problems_not_its_warnings(tmp_path: Path) -> None:
    problem = only(problems_of(write(tmp_path, '[power]\nactuators = ["workers", "turbo"]\n')))
    assert problem.key == "power.actuators[1]"  # counted in the file, the retired value too
    assert problem.message == "must be one of: rapl, cpufreq, pstate, cgroup"


def test_load_config_logs_each_warning(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    path = write(tmp_path, OLD_DEFAULT)
    with caplog.at_level(logging.WARNING, logger="boiler_agent.config"):
        load_config(path, env={})
    logged = [(r.name, r.levelno, r.getMessage()) for r in caplog.records]
    assert logged == [
        (
            "boiler_agent.config",
            logging.WARNING,
            f"{path}: warning: power.actuators[0] = 'workers': {ADVICE}",
        ),
        (
            "boiler_agent.config",
            logging.WARNING,
            f"{path}: warning: power.actuators[1] = 'duty': {ADVICE}",
        ),
    ]


def test_config_check_prints_the_warnings_and_exits_0(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, '[power]\nactuators = ["workers", "rapl"]\n')
    assert main(["config", "check", str(path)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[:2] == [
        f"{path}: warning: power.actuators[0] = 'workers': {ADVICE}",
        f"{path}: OK",
    ]


def test_config_show_keeps_stdout_loadable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, '[power]\nactuators = ["duty"]\n')
    assert main(["config", "show", str(path)]) == 0
    out = capsys.readouterr()
    assert "actuators = []" in out.out and "duty" not in out.out
    assert f"{path}: warning: power.actuators[0] = 'duty': {ADVICE}" in out.err
    assert read_config(write(tmp_path, out.out, "shown.toml"), env={}).warnings == ()


def test_the_docs_leave_retired_values_out_of_the_allowed_ones_and_say_so() -> None:
    example = render_example()
    assert "# Allowed: a list of: rapl, cpufreq, pstate, cgroup.\n" in example
    assert 'actuators = ["rapl", "cpufreq", "pstate", "cgroup"]\n' in example
    note = "Deprecated and ignored: workers, duty (workers and duty cycling are always used"
    assert note in example
    assert note in render_keys_table()
