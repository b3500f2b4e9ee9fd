"""RAPL powercap knob: the package power limit, `constraint_0_power_limit_uw` per package."""

from __future__ import annotations

import re
from pathlib import Path

from boiler_agent.power.knob import KnobInfo, SysfsKnob, from_fraction
from boiler_agent.power.sysfs import read_int, under, writable, write_text

POWERCAP = "sys/class/powercap"
# Package domains only: `intel-rapl:0` is a package, `intel-rapl:0:0` (core, uncore) a subzone.
PACKAGE_ZONE = re.compile(r"^intel-rapl:\d+$")
LIMIT = "constraint_0_power_limit_uw"
MAX = "constraint_0_max_power_uw"
# A limit near 0 W starves the machine (the agent itself included): keep a floor.
FLOOR_FRACTION = 0.1


def package_zones(root: str | Path) -> list[Path]:
    """The RAPL package zone directories under `root`, in order."""
    base = under(root, POWERCAP)
    if not base.is_dir():
        return []
    return sorted(p for p in base.iterdir() if PACKAGE_ZONE.match(p.name))


class RaplKnob(SysfsKnob):
    """Sets every package's long-term power limit to the same fraction of its maximum."""

    name = "rapl"

    def __init__(self, root: str | Path = "/", *, thermald: bool = False) -> None:
        super().__init__()
        self.root, self.thermald = Path(root), thermald
        self._zones: list[tuple[Path, int]] = []

    def _absent_reason(self) -> str:
        return f"no {POWERCAP}/intel-rapl:N/{LIMIT} under {self.root}"

    def _probe(self) -> KnobInfo | None:
        zones = [z for z in package_zones(self.root) if (z / LIMIT).is_file()]
        if not zones:
            return None
        self._zones, total_now, total_max = [], 0, 0
        for zone in zones:
            now = read_int(zone / LIMIT) or 0
            # Some firmware reports a 0 or missing maximum: never raise above today's limit.
            top = read_int(zone / MAX) or now
            self._zones.append((zone, top))
            total_now, total_max = total_now + now, total_max + top
        reason = None
        if self.thermald:
            reason = "thermald is running and owns the RAPL limits"
        elif total_max <= 0:
            reason = "no maximum power reported"
        elif not all(writable(z / LIMIT) for z, _ in self._zones):
            reason = f"read-only: {zones[0] / LIMIT}"
        return KnobInfo(self.name, "uW", total_max * FLOOR_FRACTION, total_max, total_now, reason)

    def _write(self, fraction: float, info: KnobInfo) -> bool:
        ok = True
        for zone, top in self._zones:
            share = KnobInfo(info.name, info.unit, top * FLOOR_FRACTION, top, 0)
            ok = write_text(zone / LIMIT, str(from_fraction(fraction, share))) and ok
        return ok

    def _read(self) -> float | None:
        values = [read_int(z / LIMIT) for z, _ in self._zones]
        return None if None in values else float(sum(v or 0 for v in values))
