"""Energy counters: what is published never goes down, across a kill -9 or a power cut."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from boiler_agent.daemon.energy import SAVE_EVERY_S, EnergyCounter


def test_only_what_is_on_disk_is_published_so_a_restart_never_goes_below_it(
    tmp_path: Path,
) -> None:
    path = tmp_path / "energy.json"
    writes: list[Callable[[], None]] = []
    counter = EnergyCounter(path, submit=lambda _key, write: writes.append(write))
    published: list[float] = []
    for step in range(10):
        counter.add(1000.0, SAVE_EVERY_S, wanted=True, now_s=step * SAVE_EVERY_S)
        published.append(counter.durable()[0])  # what telemetry would say now
        if step % 3 == 2:  # the background writer gets its turn now and then
            while writes:
                writes.pop(0)()
    assert counter.total_kwh > counter.durable()[0], "the live count runs ahead of the disk"
    # kill -9 now: the pending write is lost; the next start reads the file.
    restarted = EnergyCounter(path)
    assert restarted.durable()[0] >= max(published)
    assert published == sorted(published), "never down while running either"


def test_a_clean_stop_publishes_everything_counted(tmp_path: Path) -> None:
    counter = EnergyCounter(tmp_path / "energy.json")
    counter.add(500.0, 7200.0, wanted=False, now_s=0.0)
    counter.add(500.0, 3600.0, wanted=True, now_s=1.0)
    counter.save()
    assert counter.durable() == (1.5, 0.5)
    assert EnergyCounter(tmp_path / "energy.json").durable() == (1.5, 0.5)
