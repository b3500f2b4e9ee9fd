"""Replace a small file so that a crash or a power cut leaves the old one or the new one whole.

Temporary file beside it, fsync, rename over, fsync of the directory: the rename is atomic on
POSIX file systems, and the directory fsync makes the rename itself durable.
"""

from __future__ import annotations

import os
from pathlib import Path


def write_atomically(path: Path, text: str) -> None:
    """Write `text` to `path` atomically and durably; OSError when the disk will not take it."""
    temporary = path.with_name(f"{path.name}.tmp")
    with temporary.open("w", encoding="utf-8") as file:
        file.write(text)
        file.flush()
        os.fsync(file.fileno())
    temporary.replace(path)
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)
