"""cpufreq knob: `scaling_max_freq` of every CPU, within `cpuinfo_min_freq`..`cpuinfo_max_freq`."""

from __future__ import annotations

import re
from pathlib import Path

from boiler_agent.power.knob import KnobInfo, SysfsKnob, from_fraction
from boiler_agent.power.sysfs import read_int, under, writable, write_text

CPUS = "sys/devices/system/cpu"
CPU_DIR = re.compile(r"^cpu\d+$")
SCALING_MAX = "cpufreq/scaling_max_freq"
INFO_MIN = "cpufreq/cpuinfo_min_freq"
INFO_MAX = "cpufreq/cpuinfo_max_freq"


def cpufreq_dirs(root: str | Path) -> list[Path]:
    """The `cpuN` directories under `root` that have a cpufreq policy, by CPU number."""
    base = under(root, CPUS)
    if not base.is_dir():
        return []
    cpus = [p for p in base.iterdir() if CPU_DIR.match(p.name) and (p / SCALING_MAX).is_file()]
    return sorted(cpus, key=lambda p: int(p.name[3:]))


class CpufreqKnob(SysfsKnob):
    """Caps every CPU's frequency at the same fraction of its own hardware range (kHz)."""

    name = "cpufreq"

    def __init__(self, root: str | Path = "/", *, thermald: bool = False) -> None:
        super().__init__()
        self.root, self.thermald = Path(root), thermald
        self._cpus: list[tuple[Path, int, int]] = []

    def _absent_reason(self) -> str:
        return f"no {CPUS}/cpu*/{SCALING_MAX} under {self.root}"

    def _probe(self) -> KnobInfo | None:
        self._cpus = []
        for cpu in cpufreq_dirs(self.root):
            low, high = read_int(cpu / INFO_MIN), read_int(cpu / INFO_MAX)
            if low is not None and high is not None and high > low:
                self._cpus.append((cpu, low, high))
        if not self._cpus:
            return None
        now = self._read() or 0.0
        reason = None
        if self.thermald:
            reason = "thermald is running and owns cpufreq"
        elif not all(writable(cpu / SCALING_MAX) for cpu, _, _ in self._cpus):
            reason = f"read-only: {self._cpus[0][0] / SCALING_MAX}"
        low = min(lo for _, lo, _ in self._cpus)
        high = max(hi for _, _, hi in self._cpus)
        return KnobInfo(self.name, "kHz", low, high, now, reason)

    def _write(self, fraction: float, info: KnobInfo) -> bool:
        ok = True
        for cpu, low, high in self._cpus:
            own = KnobInfo(info.name, info.unit, low, high, 0)
            ok = write_text(cpu / SCALING_MAX, str(from_fraction(fraction, own))) and ok
        return ok

    def _read(self) -> float | None:
        """The highest cap over the CPUs, in kHz."""
        values = [read_int(cpu / SCALING_MAX) for cpu, _, _ in self._cpus]
        known = [v for v in values if v is not None]
        return float(max(known)) if known else None
