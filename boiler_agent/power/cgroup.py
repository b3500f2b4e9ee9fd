"""cgroup CPU bandwidth knobs: v2 `cpu.max` and v1 `cpu.cfs_quota_us`, on the workers' group."""

from __future__ import annotations

import os
from pathlib import Path

from boiler_agent.power.knob import KnobInfo, SysfsKnob, from_fraction
from boiler_agent.power.sysfs import read_int, read_text, writable, write_text

# The kernel refuses quotas under 1 ms per period.
MIN_QUOTA_US = 1000
DEFAULT_PERIOD_US = 100_000


def _cpus(cpus: int | None) -> int:
    return cpus if cpus is not None else (os.cpu_count() or 1)


class CgroupV2Knob(SysfsKnob):
    """Writes `cpu.max` as "quota period"; the whole range (every CPU) is written "max"."""

    name = "cgroup2_cpu.max"

    def __init__(self, cgroup_dir: str | Path, *, cpus: int | None = None) -> None:
        super().__init__()
        self.path = Path(cgroup_dir) / "cpu.max"
        self.cpus = _cpus(cpus)
        self.period = DEFAULT_PERIOD_US

    def _absent_reason(self) -> str:
        return f"no {self.path}"

    def _parse(self) -> tuple[int | None, int] | None:
        """(quota or None for unlimited, period) from `cpu.max`, or None."""
        fields = (read_text(self.path) or "").split()
        if len(fields) != 2 or not fields[1].isdigit():
            return None
        if fields[0] == "max":
            return None, int(fields[1])
        return (int(fields[0]), int(fields[1])) if fields[0].isdigit() else None

    def _probe(self) -> KnobInfo | None:
        parsed = self._parse()
        if parsed is None:
            return None
        quota, self.period = parsed
        top = self.period * self.cpus
        reason = None if writable(self.path) else f"read-only: {self.path}"
        return KnobInfo(self.name, "us", MIN_QUOTA_US, top, top if quota is None else quota, reason)

    def _write(self, fraction: float, info: KnobInfo) -> bool:
        quota = "max" if fraction >= 1.0 else str(from_fraction(fraction, info))
        return write_text(self.path, f"{quota} {self.period}")

    def _read(self) -> float | None:
        parsed = self._parse()
        if parsed is None:
            return None
        quota, period = parsed
        return float(period * self.cpus if quota is None else quota)


class CgroupV1Knob(SysfsKnob):
    """Writes `cpu.cfs_quota_us` against `cpu.cfs_period_us`; the whole range is -1."""

    name = "cgroup1_cfs_quota"

    def __init__(self, cgroup_dir: str | Path, *, cpus: int | None = None) -> None:
        super().__init__()
        self.quota_path = Path(cgroup_dir) / "cpu.cfs_quota_us"
        self.period_path = Path(cgroup_dir) / "cpu.cfs_period_us"
        self.cpus = _cpus(cpus)
        self.period = DEFAULT_PERIOD_US

    def _absent_reason(self) -> str:
        return f"no {self.quota_path}"

    def _probe(self) -> KnobInfo | None:
        quota, period = read_int(self.quota_path), read_int(self.period_path)
        if quota is None or period is None or period <= 0:
            return None
        self.period = period
        top = period * self.cpus
        reason = None if writable(self.quota_path) else f"read-only: {self.quota_path}"
        return KnobInfo(self.name, "us", MIN_QUOTA_US, top, top if quota < 0 else quota, reason)

    def _write(self, fraction: float, info: KnobInfo) -> bool:
        quota = -1 if fraction >= 1.0 else from_fraction(fraction, info)
        return write_text(self.quota_path, str(quota))

    def _read(self) -> float | None:
        quota = read_int(self.quota_path)
        if quota is None:
            return None
        return float(self.period * self.cpus if quota < 0 else quota)
