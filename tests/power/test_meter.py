"""RAPL meter watts from energy deltas (wrap included), and the calibrated estimate."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from boiler_agent.power.meter import EstimatedMeter, RaplMeter

Tree = Callable[[str], Path]
MAX_RANGE = 262_143_328_850


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def set_energy(root: Path, zone: int, uj: int) -> None:
    path = root / f"sys/class/powercap/intel-rapl:{zone}/energy_uj"
    path.write_text(f"{uj}\n", encoding="ascii")


def test_rapl_watts_from_two_reads_package_only(sysfs: Tree) -> None:
    root, clock = sysfs("intel_desktop"), FakeClock()
    meter = RaplMeter(root, clock)
    assert meter.available
    assert meter.read() is None, "the first read only primes the counters"
    set_energy(root, 0, 81_234_567_890 + 90_000_000)  # 90 J
    clock.now += 2.0
    reading = meter.read()
    assert reading is not None and not reading.estimated
    assert reading.watts == pytest.approx(45.0), "90 J over 2 s is 45 W (subzone not counted)"
    assert reading.at_s == 102.0


def test_rapl_counter_wrap(sysfs: Tree) -> None:
    root, clock = sysfs("rapl_wrap"), FakeClock()
    meter = RaplMeter(root, clock)
    meter.read()
    set_energy(root, 0, 1_000_000_000 + 50_000_000)  # package 0: 50 J
    # package 1 was 328 850 uJ below the top of its range: it wraps to 0 and counts on.
    assert MAX_RANGE - 262_143_000_000 == 328_850
    set_energy(root, 1, 49_671_150)  # 0.32885 J before the wrap + 49.67115 J after = 50 J
    clock.now += 1.0
    reading = meter.read()
    assert reading is not None
    assert reading.watts == pytest.approx(100.0), f"expected 100 W, got {reading.watts}"


def test_rapl_unreadable_energy_is_not_available(
    sysfs: Tree, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = sysfs("intel_desktop")
    original = Path.read_text

    def root_only(self: Path, *args: object, **kwargs: object) -> str:
        if self.name == "energy_uj":  # mode 0400 since CVE-2020-8694; we may run as root
            raise PermissionError(13, "Permission denied", str(self))
        return original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "read_text", root_only)
    with caplog.at_level(logging.INFO, logger="boiler_agent.power"):
        meter = RaplMeter(root, FakeClock())
        assert meter.read() is None
    assert not meter.available
    assert len(caplog.records) == 1 and "CVE-2020-8694" in caplog.records[0].getMessage()


def test_rapl_missing_is_not_available(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="boiler_agent.power"):
        meter = RaplMeter(tmp_path, FakeClock())
    assert not meter.available and meter.read() is None
    assert len(caplog.records) == 1


def test_estimated_meter_is_flagged_and_follows_the_model() -> None:
    clock, busy = FakeClock(), [0.0]
    meter = EstimatedMeter(
        clock, idle_w=10.0, per_core_w=8.0, busy_seconds=lambda: busy[0], freq_ratio=lambda: 0.5
    )
    assert meter.read() is None
    busy[0], clock.now = 8.0, clock.now + 2.0  # 4 busy cores at half frequency
    reading = meter.read()
    assert reading is not None and reading.estimated
    assert reading.watts == pytest.approx(10.0 + 8.0 * 4 * 0.25)


def test_estimated_meter_calibrates_toward_a_measurement() -> None:
    clock, busy = FakeClock(), [0.0]
    meter = EstimatedMeter(
        clock, idle_w=10.0, per_core_w=8.0, busy_seconds=lambda: busy[0], freq_ratio=lambda: 1.0
    )
    meter.read()
    measured = 10.0 + 12.0 * 4  # the real machine draws 12 W per busy core
    errors = []
    for _ in range(20):
        busy[0], clock.now = busy[0] + 4.0, clock.now + 1.0
        reading = meter.read()
        assert reading is not None
        errors.append(abs(reading.watts - measured))
        meter.calibrate(measured)
    assert meter.calibrated
    assert errors[-1] < errors[0] / 10, f"estimate should converge, errors {errors}"
    assert meter.per_core_w == pytest.approx(12.0, rel=0.01)


def test_calibration_ignores_an_idle_interval() -> None:
    clock = FakeClock()
    meter = EstimatedMeter(clock, per_core_w=8.0, busy_seconds=lambda: 0.0)
    meter.read()
    clock.now += 1.0
    meter.read()
    meter.calibrate(500.0)
    assert meter.per_core_w == 8.0 and not meter.calibrated
