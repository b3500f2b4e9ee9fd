"""Reading a running agent's job store from a test, read-only, beside the agent."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any


def query_store(store: Path, sql: str, parameters: tuple[Any, ...] = ()) -> tuple[Any, ...] | None:
    """The first row of `sql`, or None when the store cannot be read yet (not created, or
    busy for a moment): a test polls until the state it waits for shows."""
    try:
        db = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=1.0)
    except sqlite3.Error:
        return None
    try:
        row: tuple[Any, ...] | None = db.execute(sql, parameters).fetchone()
        return row
    except sqlite3.Error:
        return None
    finally:
        db.close()
