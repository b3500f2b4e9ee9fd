"""Each knob probes its fixture tree, writes the right value, clamps, and skips what it can't."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from boiler_agent.power.cgroup import CgroupV1Knob, CgroupV2Knob
from boiler_agent.power.cpufreq import CpufreqKnob
from boiler_agent.power.knob import PowerKnob
from boiler_agent.power.pstate import PstateKnob
from boiler_agent.power.rapl import RaplKnob
from tests.power.conftest import read

Tree = Callable[[str], Path]
RAPL0 = "sys/class/powercap/intel-rapl:0"
CPU = "sys/devices/system/cpu"
CG2 = "sys/fs/cgroup/boiler.slice"
CG1 = "sys/fs/cgroup/cpu,cpuacct/boiler"


def test_rapl_probes_package_only_and_writes_limit(sysfs: Tree) -> None:
    root = sysfs("intel_desktop")
    knob = RaplKnob(root)
    info = knob.probe()
    assert info is not None and info.usable, info
    assert (info.minimum, info.maximum) == (6_500_000, 65_000_000)
    knob.apply(0.5)
    # 6.5 W floor + 0.5 × 58.5 W = 35.75 W
    assert read(root / RAPL0 / "constraint_0_power_limit_uw") == "35750000"
    subzone = root / "sys/class/powercap/intel-rapl:0:0/constraint_0_power_limit_uw"
    assert read(subzone) == "0", "the core subzone is not a package and must not be written"
    assert knob.current() == pytest.approx(0.5)


def test_rapl_writes_each_package_of_its_own_range(sysfs: Tree) -> None:
    root = sysfs("rapl_wrap")
    knob = RaplKnob(root)
    knob.apply(1.0)
    for n in (0, 1):
        path = root / f"sys/class/powercap/intel-rapl:{n}/constraint_0_power_limit_uw"
        assert read(path) == "150000000", f"package {n} should be at its 150 W maximum"


def test_cpufreq_writes_every_cpu_and_clamps(sysfs: Tree) -> None:
    root = sysfs("intel_desktop")
    knob = CpufreqKnob(root)
    info = knob.probe()
    assert info is not None and (info.minimum, info.maximum) == (800_000, 4_600_000)
    knob.apply(0.25)
    for n in range(4):
        assert read(root / CPU / f"cpu{n}/cpufreq/scaling_max_freq") == "1750000"
    knob.apply(7.0)
    assert read(root / CPU / "cpu3/cpufreq/scaling_max_freq") == "4600000"
    knob.apply(-1.0)
    assert read(root / CPU / "cpu0/cpufreq/scaling_max_freq") == "800000"
    knob.apply(float("nan"))
    assert knob.current() == 0.0, "NaN should mean the lowest setting"


def test_pstate_maps_between_min_perf_and_100(sysfs: Tree) -> None:
    root = sysfs("intel_desktop")
    knob = PstateKnob(root)
    info = knob.probe()
    assert info is not None and (info.minimum, info.maximum) == (17, 100)
    knob.apply(0.0)
    assert read(root / CPU / "intel_pstate/max_perf_pct") == "17"
    knob.apply(0.5)
    assert read(root / CPU / "intel_pstate/max_perf_pct") == "58"
    knob.apply(2.0)
    assert read(root / CPU / "intel_pstate/max_perf_pct") == "100"


def test_cgroup_v2_cpu_max(sysfs: Tree) -> None:
    root = sysfs("intel_desktop")
    knob = CgroupV2Knob(root / CG2, cpus=4)
    info = knob.probe()
    assert info is not None and info.usable and info.maximum == 400_000
    assert knob.current() == 1.0, "'max' is the whole range"
    knob.apply(0.5)
    assert read(root / CG2 / "cpu.max") == "200500 100000"
    knob.apply(0.0)
    assert read(root / CG2 / "cpu.max") == "1000 100000", "quota floor is 1 ms"
    knob.apply(1.0)
    assert read(root / CG2 / "cpu.max") == "max 100000"


def test_cgroup_v1_cfs_quota(sysfs: Tree) -> None:
    root = sysfs("intel_desktop")
    knob = CgroupV1Knob(root / CG1, cpus=2)
    info = knob.probe()
    assert info is not None and info.usable and info.maximum == 200_000
    knob.apply(0.5)
    assert read(root / CG1 / "cpu.cfs_quota_us") == "100500"
    assert read(root / CG1 / "cpu.cfs_period_us") == "100000"
    knob.apply(1.5)
    assert read(root / CG1 / "cpu.cfs_quota_us") == "-1"


@pytest.mark.parametrize(
    ("make", "relative"),
    [
        (RaplKnob, f"{RAPL0}/constraint_0_power_limit_uw"),
        (CpufreqKnob, f"{CPU}/cpu2/cpufreq/scaling_max_freq"),
        (PstateKnob, f"{CPU}/intel_pstate/max_perf_pct"),
        (lambda r: CgroupV2Knob(r / CG2), f"{CG2}/cpu.max"),
        (lambda r: CgroupV1Knob(r / CG1), f"{CG1}/cpu.cfs_quota_us"),
    ],
    ids=["rapl", "cpufreq", "pstate", "cgroup2", "cgroup1"],
)
def test_read_only_knob_is_skipped_with_one_log_line(
    sysfs: Tree,
    caplog: pytest.LogCaptureFixture,
    make: Callable[[Path], PowerKnob],
    relative: str,
) -> None:
    root = sysfs("intel_desktop")
    path = root / relative
    path.chmod(0o444)
    before = read(path)
    knob = make(root)
    with caplog.at_level(logging.INFO, logger="boiler_agent.power"):
        info = knob.probe()
        knob.apply(0.3)
        knob.apply(0.6)
    assert info is not None and not info.usable and "read-only" in (info.skip_reason or "")
    assert read(path) == before, "a read-only knob must not be written"
    lines = [r for r in caplog.records if "skipped" in r.getMessage()]
    assert len(lines) == 1, [r.getMessage() for r in caplog.records]
    assert lines[0].levelno == logging.WARNING


@pytest.mark.parametrize(
    "make",
    [RaplKnob, CpufreqKnob, PstateKnob, CgroupV2Knob, CgroupV1Knob],
    ids=["rapl", "cpufreq", "pstate", "cgroup2", "cgroup1"],
)
def test_missing_knob_is_skipped_with_one_log_line(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, make: Callable[[Path], PowerKnob]
) -> None:
    knob = make(tmp_path)
    with caplog.at_level(logging.INFO, logger="boiler_agent.power"):
        assert knob.probe() is None
        knob.apply(0.5)
        assert knob.current() == 1.0
    messages = [r.getMessage() for r in caplog.records]
    assert len(messages) == 1, messages
    assert "skipped: no " in messages[0], messages
    assert list(tmp_path.iterdir()) == [], "nothing should be created for a missing knob"


def test_refused_write_is_logged_once_and_stops_writes(
    sysfs: Tree, caplog: pytest.LogCaptureFixture
) -> None:
    root = sysfs("intel_desktop")
    knob = PstateKnob(root)
    assert knob.probe() is not None
    path = root / CPU / "intel_pstate/max_perf_pct"
    path.unlink()
    path.mkdir()  # the write now fails with an OSError, as a kernel refusal would
    with caplog.at_level(logging.INFO, logger="boiler_agent.power"):
        knob.apply(0.5)
        knob.apply(0.7)
    refusals = [r for r in caplog.records if "skipped" in r.getMessage()]
    assert len(refusals) == 1, [r.getMessage() for r in caplog.records]
