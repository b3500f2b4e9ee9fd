"""intel_pstate knob: `max_perf_pct`, the highest P-state as a percent of the maximum."""

from __future__ import annotations

from pathlib import Path

from boiler_agent.power.knob import KnobInfo, SysfsKnob, from_fraction
from boiler_agent.power.sysfs import read_int, read_text, under, writable, write_text

PSTATE = "sys/devices/system/cpu/intel_pstate"


class PstateKnob(SysfsKnob):
    """Sets `max_perf_pct` within `min_perf_pct`..100."""

    name = "intel_pstate"

    def __init__(self, root: str | Path = "/", *, thermald: bool = False) -> None:
        super().__init__()
        self.root, self.thermald = Path(root), thermald
        self._dir = under(root, PSTATE)

    def _absent_reason(self) -> str:
        return f"no {PSTATE}/max_perf_pct under {self.root}"

    def _probe(self) -> KnobInfo | None:
        now = read_int(self._dir / "max_perf_pct")
        if now is None:
            return None
        low = read_int(self._dir / "min_perf_pct") or 0
        reason = None
        if self.thermald:
            reason = "thermald is running and owns intel_pstate"
        elif read_text(self._dir / "status") == "off":
            reason = "intel_pstate status is off"
        elif not writable(self._dir / "max_perf_pct"):
            reason = f"read-only: {self._dir / 'max_perf_pct'}"
        return KnobInfo(self.name, "%", low, 100, now, reason)

    def _write(self, fraction: float, info: KnobInfo) -> bool:
        return write_text(self._dir / "max_perf_pct", str(from_fraction(fraction, info)))

    def _read(self) -> float | None:
        value = read_int(self._dir / "max_perf_pct")
        return None if value is None else float(value)
