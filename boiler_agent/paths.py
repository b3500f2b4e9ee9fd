"""Where the agent keeps its state and its caches, unless told otherwise.

Under systemd the unit sets BOILER_AGENT_STATE_DIR and BOILER_AGENT_CACHE_DIR (StateDirectory=,
CacheDirectory=); run by hand they default to the user's XDG directories.
"""

from __future__ import annotations

import os
from pathlib import Path


def default_state_dir() -> Path:
    explicit = os.environ.get("BOILER_AGENT_STATE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "boiler-agent"


def default_cache_dir() -> Path:
    explicit = os.environ.get("BOILER_AGENT_CACHE_DIR")
    if explicit:
        return Path(explicit)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "boiler-agent"


def numba_cache_dir(cache_dir: Path) -> Path:
    return cache_dir / "numba"
