"""Checkpoints: atomic writes, and every way a checkpoint can be wrong is caught on reading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from boiler_agent.compute import checkpoint
from boiler_agent.compute.checkpoint import CorruptCheckpointError

STATE = {"grid": np.arange(12.0).reshape(3, 4), "units_done": np.array(7)}


def _save(path: Path) -> None:
    checkpoint.save(path, STATE, job_id="j1", shard=2, digest="abc")


def test_round_trip_is_exact(tmp_path: Path) -> None:
    path = tmp_path / "j1.0002.state.npz"
    _save(path)
    loaded = checkpoint.load(path, job_id="j1", shard=2, digest="abc")
    assert set(loaded) == set(STATE)
    for name, array in STATE.items():
        assert np.array_equal(loaded[name], array) and loaded[name].dtype == array.dtype
    assert not list(tmp_path.glob("*.tmp")), "no temporary file left behind"


@pytest.mark.parametrize("cut", [10, 200, -5])
def test_truncated_checkpoint_is_corrupt(tmp_path: Path, cut: int) -> None:
    path = tmp_path / "c.npz"
    _save(path)
    data = path.read_bytes()
    path.write_bytes(data[:cut])
    with pytest.raises(CorruptCheckpointError, match=str(path)):
        checkpoint.load(path, job_id="j1", shard=2, digest="abc")


def test_flipped_byte_is_corrupt(tmp_path: Path) -> None:
    path = tmp_path / "c.npz"
    _save(path)
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0xFF  # inside the first array's bytes: the zip CRC catches it
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptCheckpointError):
        checkpoint.load(path, job_id="j1", shard=2, digest="abc")


@pytest.mark.parametrize(
    ("job_id", "shard", "digest"), [("j2", 2, "abc"), ("j1", 3, "abc"), ("j1", 2, "xyz")]
)
def test_checkpoint_of_another_job_shard_or_params_is_refused(
    tmp_path: Path, job_id: str, shard: int, digest: str
) -> None:
    path = tmp_path / "c.npz"
    _save(path)
    with pytest.raises(CorruptCheckpointError, match="expected"):
        checkpoint.load(path, job_id=job_id, shard=shard, digest=digest)


def test_params_digest_ignores_key_order() -> None:
    assert checkpoint.params_digest("k", {"a": 1, "b": 2}) == checkpoint.params_digest(
        "k", {"b": 2, "a": 1}
    )
    assert checkpoint.params_digest("k", {"a": 1}) != checkpoint.params_digest("k", {"a": 2})
