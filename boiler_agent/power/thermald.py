"""thermald detection: when it runs it owns RAPL and cpufreq, and we leave them alone."""

from __future__ import annotations

from pathlib import Path

from boiler_agent.power.sysfs import read_text

THERMALD_COMM = "thermald"


def thermald_running(proc_root: str | Path = "/proc") -> bool:
    """True when a process named thermald shows in `proc_root/<pid>/comm`."""
    base = Path(proc_root)
    try:
        entries = list(base.iterdir())
    except OSError:
        return False
    return any(
        entry.name.isdigit() and read_text(entry / "comm") == THERMALD_COMM for entry in entries
    )
