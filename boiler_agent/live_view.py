"""What an operator sees of a running heater link: a live table, or one line per update."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from rich.table import Table

from firmware_bridge.events import HeaterIdentity, Readings, ThermostatState
from firmware_bridge.link import HeaterLink


@dataclass
class LinkView:
    """Latest values from a link plus optional extra rows (e.g. the simulator's own truth)."""

    link: HeaterLink
    extra: dict[str, str] = field(default_factory=dict)

    def rows(self) -> dict[str, str]:
        link = self.link
        rows: dict[str, str] = {"link": f"{link.state.value} on {link.url}"}
        identity: HeaterIdentity | None = link.identity
        if identity is not None:
            rows["heater"] = identity.describe()
        readings: Readings | None = link.readings
        if readings is not None:
            for kind, temp in zip(readings.sensors, readings.temps_c, strict=True):
                rows[kind.name.lower()] = "no reading" if temp is None else f"{temp:6.2f} °C"
            lease = "lease active" if readings.lease_active else "no lease"
            state = ", SHUTDOWN" if readings.shutdown else ""
            rows["heater power"] = f"{readings.heater_power_w} W ({lease}{state})"
        thermostat: ThermostatState | None = link.thermostat
        if thermostat is not None:
            rows["setpoint"] = (
                f"{thermostat.setpoint_c:.1f} °C, {thermostat.mode.name.lower()}, "
                f"from {thermostat.source.name.lower()}"
            )
        stats = link.stats
        rtt = "-" if stats.rtt_avg_ms is None else f"{stats.rtt_avg_ms:.1f} ms"
        rows["frames"] = (
            f"{stats.frames_rx} in, {stats.frames_tx} out, {stats.decoder.errors} errors, "
            f"round trip {rtt}, reconnects {stats.reconnects}"
        )
        rows.update(self.extra)
        return rows

    def table(self, title: str) -> Table:
        table = Table(title=title, show_header=False, expand=False)
        table.add_column("what", style="bold")
        table.add_column("value")
        for key, value in self.rows().items():
            table.add_row(key, value)
        return table

    def line(self) -> str:
        return json.dumps(self.rows(), ensure_ascii=False)
