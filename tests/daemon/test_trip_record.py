"""The trip record on disk: latched trips and the frozen-sensor count, read back as written."""

from __future__ import annotations

import json
from pathlib import Path

from boiler_agent.control.safety import TripKind
from boiler_agent.daemon.trip_record import FILE_NAME, FROZEN_STEP_S, TripRecord


def test_the_frozen_count_is_kept_in_whole_steps_and_read_back(tmp_path: Path) -> None:
    record = TripRecord(tmp_path)
    assert record.load() == {} and record.frozen is None
    record.save({}, (15.0, FROZEN_STEP_S / 2))
    assert not (tmp_path / FILE_NAME).exists(), "under a step: not worth a write"
    record.save({}, (15.0, 3.5 * FROZEN_STEP_S))
    again = TripRecord(tmp_path)
    assert again.load() == {}
    assert again.frozen == (15.0, 3 * FROZEN_STEP_S), "rounded down to its last whole step"
    again.save({TripKind.RUNAWAY: "too fast"}, None)  # a trip; the count gone (value changed)
    third = TripRecord(tmp_path)
    assert third.load() == {TripKind.RUNAWAY: "too fast"} and third.frozen is None


def test_a_damaged_frozen_count_is_an_unreadable_record(tmp_path: Path) -> None:
    (tmp_path / FILE_NAME).write_text(
        json.dumps({"version": 1, "latched": {}, "frozen": {"value": "warm"}}), encoding="utf-8"
    )
    assert set(TripRecord(tmp_path).load()) == {TripKind.TRIP_RECORD}
