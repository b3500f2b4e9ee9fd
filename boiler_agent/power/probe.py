"""Probe every power knob at start: build them for this machine and report what exists."""

from __future__ import annotations

import logging
from pathlib import Path

from boiler_agent.power.cgroup import CgroupV1Knob, CgroupV2Knob
from boiler_agent.power.cpufreq import CpufreqKnob
from boiler_agent.power.knob import KnobInfo, PowerKnob
from boiler_agent.power.pstate import PstateKnob
from boiler_agent.power.rapl import RaplKnob
from boiler_agent.power.thermald import thermald_running

log = logging.getLogger(__name__)


def build_knobs(
    root: str | Path = "/",
    cgroup_dir: str | Path | None = None,
    *,
    proc_root: str | Path | None = None,
    cpus: int | None = None,
) -> list[PowerKnob]:
    """Every sysfs knob this agent knows, told whether thermald runs (`root/proc` by default)."""
    thermald = thermald_running(Path(root) / "proc" if proc_root is None else proc_root)
    if thermald:
        log.info("power: thermald is running; RAPL, cpufreq and intel_pstate are left to it")
    knobs: list[PowerKnob] = [
        RaplKnob(root, thermald=thermald),
        PstateKnob(root, thermald=thermald),
        CpufreqKnob(root, thermald=thermald),
    ]
    if cgroup_dir is not None:
        v2 = Path(cgroup_dir) / "cpu.max"
        knob = CgroupV2Knob(cgroup_dir, cpus=cpus) if v2.exists() else None
        knobs.append(knob or CgroupV1Knob(cgroup_dir, cpus=cpus))
    return knobs


def probe_all(
    root: str | Path = "/",
    cgroup_dir: str | Path | None = None,
    *,
    proc_root: str | Path | None = None,
    cpus: int | None = None,
) -> list[KnobInfo]:
    """What exists, usable or skipped (with why); absent knobs are logged and left out."""
    found = []
    for knob in build_knobs(root, cgroup_dir, proc_root=proc_root, cpus=cpus):
        info = knob.probe()
        if info is not None:
            if info.usable:
                log.info("power knob %s", info.describe())
            found.append(info)
    return found
