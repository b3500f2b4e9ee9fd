"""A heater MCU in software on a pseudo-terminal: the firmware, its world and its port, running.

`HeaterSimulator` wires the simulated firmware (`mcu.py`) to its physical world (`world.py`)
and to a pty (`pty_port.py`), runs them on a thread, and offers the knobs a test or an
operator needs: turn the thermostat, break a sensor, silence or reset the MCU, unplug the port.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from firmware_bridge.protocol import PROTOCOL_VERSION
from firmware_bridge.simulator.heater_mcu import mcu_config_for, set_line_noise, set_sensor_fault
from firmware_bridge.simulator.mcu import McuCounters, SimulatedMcu
from firmware_bridge.simulator.pty_port import PtyPort
from firmware_bridge.simulator.world import PRESETS, HeaterWorld, WorldSnapshot
from firmware_bridge.simulator.world import SimulatedHeater as PlantPreset
from heater_physics.units import DAY_S
from heater_physics.weather import WeatherSeries, default_weather

log = logging.getLogger(__name__)

TICK_S = 0.01
DEFAULT_SPEED = 144.0  # a simulated day in ten minutes
DEFAULT_START_DAY = 15  # mid-January: heating season in the northern hemisphere
DEFAULT_START_HOUR = 6.0


@dataclass(frozen=True)
class SimulatorSnapshot:
    port: str
    connected: bool
    boot_id: int
    lease_active: bool
    shutdown: bool
    heater_power_w: int
    world: WorldSnapshot
    counters: McuCounters


def preset_by_name(name: str) -> PlantPreset:
    try:
        return PRESETS[name]
    except KeyError:
        known = ", ".join(sorted(PRESETS))
        raise ValueError(f"unknown heater preset {name!r}; known presets: {known}") from None


class HeaterSimulator:
    def __init__(
        self,
        preset: str | PlantPreset = "room",
        *,
        weather: WeatherSeries | None = None,
        speed: float = DEFAULT_SPEED,
        start_day: int = DEFAULT_START_DAY,
        start_hour: float = DEFAULT_START_HOUR,
        link_path: Path | None = None,
        seed: int | None = None,
        protocol_version: int = PROTOCOL_VERSION,
        report_interval_ms: int = 500,
        serial_number: str | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.preset = preset if isinstance(preset, PlantPreset) else preset_by_name(preset)
        if not 1 <= start_day <= 365:
            raise ValueError(f"start_day must be 1..365, got {start_day}")
        if not 0.0 <= start_hour < 24.0:
            raise ValueError(f"start_hour must be 0..24, got {start_hour}")
        self.clock = clock
        self.world = HeaterWorld(
            self.preset,
            weather or default_weather(),
            speed=speed,
            start_sim_s=(start_day - 1) * DAY_S + start_hour * 3600.0,
            real_start_s=clock(),
        )
        self.config = mcu_config_for(
            self.preset,
            report_interval_ms=report_interval_ms,
            protocol_version=protocol_version,
            serial_number=serial_number,
        )
        self._lock = threading.RLock()
        self.mcu = SimulatedMcu(self.config, self.world, seed=seed)
        self.pty = PtyPort(link_path)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._unplugged_until: float | None = None
        self._unplug_for_s: float | None = None

    # --- running ---------------------------------------------------------------------------

    @property
    def port(self) -> str:
        return self.pty.path

    def start(self) -> HeaterSimulator:
        with self._lock:
            self.pty.open()
            now = self.clock()
            self.mcu.take_output(now)  # said before the port existed: nobody heard it
            self.mcu.boot(now, announce_reset=False)
        self._thread = threading.Thread(target=self._run, name="heater-simulator", daemon=True)
        self._thread.start()
        log.info("heater simulator (%s) on %s", self.preset.name, self.port)
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=2.0)
        self.pty.close()

    def __enter__(self) -> HeaterSimulator:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.stop()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self._tick()
            except Exception:  # a simulator that dies silently would look like a dead MCU
                log.exception("heater simulator tick failed; carrying on")
                self._stop.wait(0.5)

    def _tick(self) -> None:
        # Only this thread opens and closes the pty, so reading it needs no lock.
        data = self.pty.read(TICK_S) if self.pty.is_open else b""
        if not self.pty.is_open:
            self._stop.wait(TICK_S)
        with self._lock:
            now = self.clock()
            if data:
                self.mcu.receive(data, now)
            self.world.advance(now)
            self.mcu.tick(now)
            output = self.mcu.take_output(now)
            if self._unplug_for_s is not None:
                self.pty.close()  # here, not in unplug(): this thread owns the fds
                self._unplugged_until = now + self._unplug_for_s
                self._unplug_for_s = None
                log.info("simulator: port unplugged")
            elif self._unplugged_until is not None and now >= self._unplugged_until:
                self._unplugged_until = None
                self.pty.open()
                log.info("simulator: port plugged back in at %s", self.port)
            self.pty.write(output)

    # --- knobs -----------------------------------------------------------------------------

    def turn_knob(self, setpoint_c: float) -> None:
        with self._lock:
            self.world.turn_knob(setpoint_c)

    def silence(self, seconds: float) -> None:
        """The MCU neither hears nor speaks for a while (a hung MCU, a broken wire)."""
        with self._lock:
            self.mcu.faults.silent_until_s = self.clock() + seconds

    def reset_mcu(self) -> None:
        with self._lock:
            self.mcu.boot(self.clock())

    def unplug(self, seconds: float) -> None:
        """The port vanishes (USB unplugged) and comes back after `seconds`."""
        with self._lock:
            self._unplug_for_s = seconds

    def set_sensor_fault(self, index: int, fault: str | None) -> None:
        """fault: "open", "short", "frozen", or None to repair the sensor."""
        with self._lock:
            set_sensor_fault(self.mcu, index, fault)

    def set_line_noise(self, *, crc_error_rate: float = 0.0, garbage_rate: float = 0.0) -> None:
        with self._lock:
            set_line_noise(self.mcu, crc_error_rate=crc_error_rate, garbage_rate=garbage_rate)

    def snapshot(self) -> SimulatorSnapshot:
        with self._lock:
            return SimulatorSnapshot(
                port=self.port,
                connected=self.pty.is_open,
                boot_id=self.mcu.boot_id,
                lease_active=self.mcu.lease_active,
                shutdown=self.mcu.shutdown,
                heater_power_w=self.mcu.heater_power_w,
                world=self.world.snapshot(),
                counters=McuCounters(**vars(self.mcu.counters)),
            )
