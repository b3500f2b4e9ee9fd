"""A fleet job handed from one heater to another, with the work already done.

When a heater stops wanting heat while it holds a fleet job, it releases the job: its shards'
checkpoints (and the partial results of shards already finished) travel inside the `released`
status, as one JSON `bundle`, and the fleet offers the job again with it. The heater that takes
it writes the files back into its checkpoint directory and resumes each shard where it stopped,
so the result is bit-identical to an uninterrupted run (the kernels are deterministic and a
checkpoint is the whole state of a shard).

A bundle names its job and the digest of the job's kernel and parameters, and each file carries
its SHA-256 (of the file; it travels zlib-compressed, in base64). The receiver checks all of
it, and each file's own header (`checkpoint.load`), before using any: a corrupt or foreign
bundle is refused whole and the job starts from zero, which costs time, never correctness.
Bundles are bounded (MAX_BUNDLE_BYTES, inside the agent's 2 MiB MQTT packet limit); a job whose
bundle would be larger is not released: it stays on its heater and waits for heat there, and an
event says why.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from boiler_agent.compute import checkpoint
from boiler_agent.compute.jobs import JobState
from boiler_agent.compute.store import JobStore

FORMAT_VERSION = 1
MAX_BUNDLE_BYTES = 1024 * 1024  # encoded, as it travels in the status message
MAX_FILE_BYTES = 256 * 1024 * 1024  # one file unpacked: a zip bomb is refused, not inflated


class HandoffError(ValueError):
    """A bundle that cannot be used; the message says what is wrong with it."""


@dataclass(frozen=True)
class Restored:
    shards_resumed: int  # with a checkpoint, from where it stopped
    shards_finished: int  # with their partial result


def export_bundle(store: JobStore, job_id: str) -> dict[str, Any]:
    """The job's progress as a bundle; HandoffError when it would exceed MAX_BUNDLE_BYTES."""
    record = store.get(job_id)
    if record is None:
        raise HandoffError(f"no job {job_id!r} in the store")
    shards: list[dict[str, Any]] = []
    size = 0
    for shard in store.shards(job_id):
        if shard.state is JobState.DONE and shard.partial:
            kind, path = "partial", shard.partial
        elif shard.checkpoint and shard.units_done > 0:
            kind, path = "state", shard.checkpoint
        else:
            continue  # nothing done yet: the next heater starts this shard afresh
        try:
            data = Path(path).read_bytes()
        except OSError:
            continue  # lost since: that shard restarts, which is slower, never wrong
        # zlib first: partial results (counts, grids) often shrink by an order of magnitude.
        encoded = base64.b64encode(zlib.compress(data, 6)).decode("ascii")
        size += len(encoded)
        if size > MAX_BUNDLE_BYTES:
            raise HandoffError(
                f"job {job_id}'s checkpoints exceed {MAX_BUNDLE_BYTES} bytes encoded: not released"
            )
        shards.append(
            {
                "idx": shard.idx,
                "kind": kind,
                "units_done": shard.units if kind == "partial" else shard.units_done,
                "sha256": hashlib.sha256(data).hexdigest(),
                "data": encoded,
            }
        )
    return {
        "format": FORMAT_VERSION,
        "job_id": job_id,
        "digest": checkpoint.params_digest(record.kernel, record.params),
        "shards": shards,
    }


def restore_bundle(store: JobStore, job_id: str, bundle: Any, checkpoint_dir: Path) -> Restored:
    """Write a received bundle's files back and point the job's shards at them.

    The job must be in the store already (just submitted from the offer). Everything is checked
    before anything is used; HandoffError refuses the whole bundle.
    """
    record = store.get(job_id)
    if record is None:
        raise HandoffError(f"no job {job_id!r} in the store")
    digest = checkpoint.params_digest(record.kernel, record.params)
    files = _checked_files(bundle, job_id, digest, {s.idx: s.units for s in store.shards(job_id)})
    written: list[tuple[int, str, int, Path]] = []
    for idx, kind, units_done, data in files:
        path = checkpoint.checkpoint_path(checkpoint_dir, job_id, idx, kind)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        try:  # the file's own header: this job, this shard, these parameters
            checkpoint.load(path, job_id=job_id, shard=idx, digest=digest)
        except (checkpoint.CorruptCheckpointError, FileNotFoundError) as error:
            for _, _, _, done in written:
                done.unlink(missing_ok=True)
            path.unlink(missing_ok=True)
            raise HandoffError(f"shard {idx}: {error}") from None
        written.append((idx, kind, units_done, path))
    resumed = finished = 0
    for idx, kind, units_done, path in written:
        if kind == "partial":
            store.shard_done(job_id, idx, str(path))
            finished += 1
        else:
            store.shard_checkpointed(job_id, idx, units_done, str(path))
            resumed += 1
    return Restored(resumed, finished)


def _checked_files(
    bundle: Any, job_id: str, digest: str, units: dict[int, int]
) -> list[tuple[int, str, int, bytes]]:
    if not isinstance(bundle, dict) or bundle.get("format") != FORMAT_VERSION:
        raise HandoffError("not a checkpoint bundle of a known format")
    if bundle.get("job_id") != job_id:
        raise HandoffError(f"bundle of job {bundle.get('job_id')!r}, not {job_id!r}")
    if bundle.get("digest") != digest:
        raise HandoffError("bundle made for other parameters (digest differs)")
    entries = bundle.get("shards")
    if not isinstance(entries, list):
        raise HandoffError("bundle without a list of shards")
    files: list[tuple[int, str, int, bytes]] = []
    seen: set[int] = set()
    for entry in entries:
        if not isinstance(entry, dict):
            raise HandoffError("a shard entry is not an object")
        idx, kind, done = entry.get("idx"), entry.get("kind"), entry.get("units_done")
        if not isinstance(idx, int) or idx not in units or idx in seen:
            raise HandoffError(f"shard index {idx!r} is not one of this job's, or repeated")
        if kind not in ("state", "partial"):
            raise HandoffError(f"shard {idx}: kind {kind!r} is neither state nor partial")
        if not isinstance(done, int) or not 0 < done <= units[idx]:
            raise HandoffError(f"shard {idx}: units_done {done!r} outside 1..{units[idx]}")
        try:
            packed = base64.b64decode(str(entry.get("data", "")), validate=True)
            inflater = zlib.decompressobj()
            data = inflater.decompress(packed, MAX_FILE_BYTES)  # stops there: no zip bomb
        except (binascii.Error, ValueError, zlib.error):
            raise HandoffError(f"shard {idx}: data is not zlib in base64") from None
        if inflater.unconsumed_tail or not inflater.eof:
            raise HandoffError(f"shard {idx}: more than {MAX_FILE_BYTES} bytes, or truncated")
        if hashlib.sha256(data).hexdigest() != entry.get("sha256"):
            raise HandoffError(f"shard {idx}: data does not match its sha256")
        seen.add(idx)
        files.append((idx, kind, done, data))
    return files
