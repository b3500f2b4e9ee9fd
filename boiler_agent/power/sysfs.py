"""Small readers and writers for sysfs and cgroup files: one value a file, errors as None."""

from __future__ import annotations

import logging
import os
import stat
from pathlib import Path

log = logging.getLogger(__name__)

# Any write bit: sysfs marks attributes without a store method 0444, and even root cannot
# write them, so the mode says more than os.access (which is always true for root).
_ANY_WRITE = stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH


def under(root: str | Path, relative: str) -> Path:
    """`relative` (written as an absolute sysfs path or not) placed under `root`."""
    return Path(root) / relative.lstrip("/")


def read_text(path: Path) -> str | None:
    """The stripped contents of `path`, or None when it is missing or unreadable."""
    try:
        return path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return None


def read_int(path: Path) -> int | None:
    """The integer in `path`, or None when it is missing, unreadable or not an integer."""
    text = read_text(path)
    if text is None:
        return None
    try:
        return int(text)
    except ValueError:
        return None


def writable(path: Path) -> bool:
    """True when `path` is a file with a write bit that this process may write."""
    try:
        mode = path.stat().st_mode
    except OSError:
        return False
    return stat.S_ISREG(mode) and bool(mode & _ANY_WRITE) and os.access(path, os.W_OK)


def write_text(path: Path, value: str) -> bool:
    """Write `value` to `path`; False (with a warning) when the kernel refuses it."""
    try:
        path.write_text(value + "\n", encoding="ascii")
    except OSError as exc:
        log.warning("power: write %r to %s refused: %s", value, path, exc.strerror or exc)
        return False
    return True
