"""Fixtures: a private copy of a fixture sysfs tree, so knobs can write to it."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "sysfs"


@pytest.fixture
def sysfs(tmp_path: Path) -> Callable[[str], Path]:
    """Copy `tests/fixtures/sysfs/<name>` to a temporary root and return that root."""

    def copy(name: str) -> Path:
        root = tmp_path / name
        shutil.copytree(FIXTURES / name, root)
        return root

    return copy


def read(path: Path) -> str:
    return path.read_text(encoding="ascii").strip()
