"""thermald running: its knobs (RAPL, cpufreq, intel_pstate) are reported and left alone."""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from boiler_agent.power.probe import build_knobs, probe_all
from boiler_agent.power.thermald import thermald_running
from tests.power.conftest import read

Tree = Callable[[str], Path]


def test_thermald_detected_from_comm(sysfs: Tree) -> None:
    assert thermald_running(sysfs("thermald_laptop") / "proc")
    assert not thermald_running(sysfs("intel_desktop") / "proc")
    assert not thermald_running("/nonexistent/proc")


def test_thermald_owns_rapl_cpufreq_and_pstate(
    sysfs: Tree, caplog: pytest.LogCaptureFixture
) -> None:
    root = sysfs("thermald_laptop")
    limit = root / "sys/class/powercap/intel-rapl:0/constraint_0_power_limit_uw"
    freq = root / "sys/devices/system/cpu/cpu1/cpufreq/scaling_max_freq"
    pct = root / "sys/devices/system/cpu/intel_pstate/max_perf_pct"
    with caplog.at_level(logging.INFO, logger="boiler_agent.power"):
        found = {info.name: info for info in probe_all(root)}
        for knob in build_knobs(root):
            knob.apply(0.2)
    assert set(found) == {"rapl", "cpufreq", "intel_pstate"}
    for info in found.values():
        assert not info.usable and "thermald" in (info.skip_reason or ""), info
    assert (read(limit), read(freq), read(pct)) == ("15000000", "3400000", "100")
    assert any("thermald is running" in r.getMessage() for r in caplog.records)


def test_probe_all_reports_every_knob_on_a_desktop(sysfs: Tree) -> None:
    root = sysfs("intel_desktop")
    found = probe_all(root, root / "sys/fs/cgroup/boiler.slice", cpus=4)
    assert [i.name for i in found] == ["rapl", "intel_pstate", "cpufreq", "cgroup2_cpu.max"]
    assert all(i.usable for i in found), [i.describe() for i in found]
    v1 = probe_all(root, root / "sys/fs/cgroup/cpu,cpuacct/boiler", cpus=4)
    assert v1[-1].name == "cgroup1_cfs_quota"
