"""Fixtures: BLAS on one thread, as in a worker, so LAPACK results repeat bit for bit."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from threadpoolctl import threadpool_limits


@pytest.fixture(autouse=True, scope="session")
def _single_threaded_blas() -> Iterator[None]:
    with threadpool_limits(limits=1):
        yield
