"""Checkpoints of a shard's state on disk: written atomically, checked when read.

A checkpoint is an `.npz` file (numpy arrays plus a JSON header naming the job, the shard and a
digest of the parameters). It is written to a temporary file, fsynced, renamed over the old
one, and the directory fsynced, so a power cut leaves either the old checkpoint or the new one,
never half of one. Reading verifies the zip CRCs and the header; anything wrong is a
`CorruptCheckpointError`, and the caller restarts the shard from scratch and says so.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from boiler_agent.compute.kernel_api import State

if TYPE_CHECKING:
    pass

HEADER_KEY = "__checkpoint__"
FORMAT_VERSION = 1


class CorruptCheckpointError(ValueError):
    """The checkpoint cannot be trusted; the message says which file and why."""


def params_digest(kernel: str, params: dict[str, Any]) -> str:
    text = json.dumps({"kernel": kernel, "params": params}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def checkpoint_path(directory: Path, job_id: str, shard: int, kind: str = "state") -> Path:
    return directory / f"{job_id}.{shard:04d}.{kind}.npz"


def save(path: Path, state: State, *, job_id: str, shard: int, digest: str) -> None:
    import numpy as np

    header = {"format": FORMAT_VERSION, "job_id": job_id, "shard": shard, "digest": digest}
    arrays = dict(state)
    arrays[HEADER_KEY] = np.frombuffer(json.dumps(header).encode(), dtype=np.uint8)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with tmp.open("wb") as file:
            np.savez(file, **arrays)  # type: ignore[arg-type]
            file.flush()
            os.fsync(file.fileno())
        tmp.replace(path)
    except BaseException:
        with contextlib.suppress(OSError):  # half a file must not hold the space of a full one
            tmp.unlink(missing_ok=True)
        raise
    _fsync_directory(path.parent)


def load(path: Path, *, job_id: str, shard: int, digest: str) -> State:
    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as archive:
            state = {name: archive[name] for name in archive.files}
    except FileNotFoundError:
        raise
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise CorruptCheckpointError(f"checkpoint {path} is unreadable: {exc}") from None
    raw = state.pop(HEADER_KEY, None)
    if raw is None:
        raise CorruptCheckpointError(f"checkpoint {path} has no header")
    try:
        header = json.loads(raw.tobytes().decode())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptCheckpointError(f"checkpoint {path} header is garbled: {exc}") from None
    expected = {"format": FORMAT_VERSION, "job_id": job_id, "shard": shard, "digest": digest}
    if header != expected:
        raise CorruptCheckpointError(f"checkpoint {path} is for {header}, expected {expected}")
    return state


def _fsync_directory(directory: Path) -> None:
    # The rename is only durable once the directory entry is on disk too.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
