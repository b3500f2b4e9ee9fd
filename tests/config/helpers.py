"""Helpers of the config tests: write a file, expect problems."""

from __future__ import annotations

from pathlib import Path

import pytest

from boiler_agent.config import ConfigError, ConfigProblem, load_config

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "systemd" / "agent.toml.example"
DOC = ROOT / "docs" / "configuration.md"
SECRET = "hunter2-do-not-print"


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
