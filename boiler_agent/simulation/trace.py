"""A bounded recorder of simulation samples, with a CSV round trip.

A simulated day sampled every simulated second is 86,400 samples, and a longer run
grows without limit; the plot cannot show more points than it has pixels anyway. So
`Trace` keeps at most `max_samples` samples: when one more would exceed that, it drops
every other kept sample and from then on keeps one incoming sample in two (then in
four, eight, ...), so memory stays bounded while the kept samples keep covering the
whole run at between half and all of the allowed resolution.
The kept samples stay evenly spaced in sample count (so evenly spaced in time when
the caller samples at a fixed period), the first sample is never dropped, and the
latest sample is always reported, so a plot always spans the whole run.
"""

from __future__ import annotations

import csv
import dataclasses
import math
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

DEFAULT_MAX_SAMPLES = 20_000
"""Enough for a day at one sample every ~5 s before decimating, far more than a plot needs."""


@dataclass(frozen=True, slots=True)
class TraceSample:
    """One instant of a simulated run. None means "not known at that instant" (a gap)."""

    sim_time_s: float
    temp_c: float | None
    setpoint_c: float | None
    outdoor_c: float | None
    heat_demand_w: float
    power_w: float
    workers: int


FIELD_NAMES: tuple[str, ...] = tuple(field.name for field in dataclasses.fields(TraceSample))
"""CSV header, in TraceSample field order."""


class Trace:
    """Samples of a run, in order, holding at most `max_samples` of them (see module doc)."""

    def __init__(self, max_samples: int = DEFAULT_MAX_SAMPLES) -> None:
        # Two is the least that can hold both the first and the latest sample.
        if max_samples < 2:
            raise ValueError(f"max_samples must be at least 2, got {max_samples}")
        self._max_samples = max_samples
        # `_kept[j]` is appended sample number `j * _stride`; the latest sample is held
        # apart in `_latest` when it falls between two grid points, so it is never lost.
        self._kept: list[TraceSample] = []
        self._stride = 1
        self._appended = 0
        self._latest: TraceSample | None = None

    @property
    def max_samples(self) -> int:
        """The most samples `samples` will ever hold."""
        return self._max_samples

    @property
    def stride(self) -> int:
        """One sample kept every `stride` appended (1 until the first decimation)."""
        return self._stride

    @property
    def appended(self) -> int:
        """How many samples were appended in all, kept or not."""
        return self._appended

    @property
    def samples(self) -> list[TraceSample]:
        """The kept samples in order, ending with the latest one appended (a new list)."""
        samples = list(self._kept)
        if self._latest is not None and self._latest_is_off_grid():
            samples.append(self._latest)
        return samples

    def __len__(self) -> int:
        return len(self._kept) + (1 if self._latest_is_off_grid() else 0)

    def _latest_is_off_grid(self) -> bool:
        # The latest sample is always in `_latest`; it is reported apart when the stride
        # or a halving left it out of `_kept`. Identity, not equality: two distinct
        # samples may carry equal values.
        return self._latest is not None and (not self._kept or self._kept[-1] is not self._latest)

    def append(self, sample: TraceSample) -> None:
        """Record `sample`, decimating when the bound is reached."""
        index = self._appended
        self._appended += 1
        self._latest = sample
        if index % self._stride == 0:
            self._kept.append(sample)
        if len(self) > self._max_samples:
            # `_kept[0]` is appended sample 0, so taking even positions keeps the first
            # sample and leaves the grid aligned on the doubled stride. At most
            # ceil(max/2) + 1 samples remain (the latest may now be off the grid).
            self._kept = self._kept[::2]
            self._stride *= 2

    def extend(self, samples: Iterable[TraceSample]) -> None:
        """Append each of `samples` in order."""
        for sample in samples:
            self.append(sample)

    def to_csv(self, path: Path) -> Path:
        """Write `samples` to `path` as CSV, header = field names, None as an empty cell."""
        with path.open("w", newline="", encoding="utf-8") as stream:
            writer = csv.writer(stream)
            writer.writerow(FIELD_NAMES)
            for sample in self.samples:
                writer.writerow(_format_cell(getattr(sample, name)) for name in FIELD_NAMES)
        return path

    @classmethod
    def from_csv(cls, path: Path, *, max_samples: int = DEFAULT_MAX_SAMPLES) -> Trace:
        """Read a CSV written by `to_csv` (columns in any order). ValueError names path:line."""
        trace = cls(max_samples=max_samples)
        with path.open(newline="", encoding="utf-8") as stream:
            reader = csv.DictReader(stream)
            header = set(reader.fieldnames or ())
            if header != set(FIELD_NAMES):
                missing = sorted(set(FIELD_NAMES) - header)
                unexpected = sorted(header - set(FIELD_NAMES))
                raise ValueError(
                    f"{path}: not a trace CSV (missing columns {missing}, "
                    f"unexpected columns {unexpected})"
                )
            for row in reader:
                try:
                    trace.append(_parse_row(row))
                except ValueError as error:
                    raise ValueError(f"{path}:{reader.line_num}: {error}") from None
        return trace


def _format_cell(value: float | int | None) -> str:
    # repr of a float reads back to the identical float, so the round trip is exact.
    return "" if value is None else repr(value)


def _parse_row(row: dict[str, str | None]) -> TraceSample:
    sim_time_s = _required_float(row, "sim_time_s")
    if not math.isfinite(sim_time_s):
        raise ValueError(f"sim_time_s is {sim_time_s}")
    return TraceSample(
        sim_time_s=sim_time_s,
        temp_c=_optional_float(row, "temp_c"),
        setpoint_c=_optional_float(row, "setpoint_c"),
        outdoor_c=_optional_float(row, "outdoor_c"),
        heat_demand_w=_required_float(row, "heat_demand_w"),
        power_w=_required_float(row, "power_w"),
        workers=_required_int(row, "workers"),
    )


def _cell(row: dict[str, str | None], name: str) -> str:
    # DictReader gives None for the cells missing from a short row.
    return (row.get(name) or "").strip()


def _required_cell(row: dict[str, str | None], name: str) -> str:
    text = _cell(row, name)
    if not text:
        raise ValueError(f"{name} is empty")
    return text


def _required_float(row: dict[str, str | None], name: str) -> float:
    return _to_float(name, _required_cell(row, name))


def _optional_float(row: dict[str, str | None], name: str) -> float | None:
    text = _cell(row, name)
    return _to_float(name, text) if text else None


def _required_int(row: dict[str, str | None], name: str) -> int:
    text = _required_cell(row, name)
    try:
        return int(text)
    except ValueError:
        raise ValueError(f"{name} {text!r} is not an integer") from None


def _to_float(name: str, text: str) -> float:
    # Re-raised so the message names the column, not just the bad text.
    try:
        return float(text)
    except ValueError:
        raise ValueError(f"{name} {text!r} is not a number") from None
