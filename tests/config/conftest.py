"""Every config test runs without the host's /etc/boiler-agent/agent.toml or BOILER_AGENT_*."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from boiler_agent.config import loading


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No /etc/boiler-agent/agent.toml and no BOILER_AGENT_* variables from the test's host."""
    monkeypatch.setattr(loading, "DEFAULT_CONFIG_PATH", tmp_path / "no-default.toml")
    for name in [n for n in os.environ if n.startswith("BOILER_AGENT_")]:
        if name not in ("BOILER_AGENT_STATE_DIR", "BOILER_AGENT_CACHE_DIR"):
            monkeypatch.delenv(name)
