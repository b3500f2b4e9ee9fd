"""Suite-wide collection order: the slow tests first.

With pytest-xdist, tests are handed out in collection order; a long test collected last would
run alone at the end while the other worker idles. Started first, the long ones overlap with
the many short ones. The order within each group stays as collected.
"""

from __future__ import annotations

import pytest

# The longest of all (the whole agent as a process through a kill -9): first of the first.
LONGEST_FIRST = "tests/system/test_end_to_end.py"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    items.sort(
        key=lambda item: (
            item.get_closest_marker("slow") is None,
            not item.nodeid.startswith(LONGEST_FIRST),
        )
    )
