"""A heater MCU and its world in the caller's process, on the caller's clock: no pty, no thread.

`InProcessHeater` wires the simulated firmware (`mcu.py`) and its world to a real `HeaterLink`
through a memory port. The agent's link speaks the real protocol (COBS frames, CRC, handshake,
heartbeats, the lease), but every step happens when the caller calls `pump()`: with a virtual
clock a day passes in seconds, and the same seed and the same calls replay the same bytes.
Used by the daemon's in-process tests, the fault campaign and the fleet benchmark.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import serial

from firmware_bridge.link import HeaterLink, LinkState
from firmware_bridge.protocol import PROTOCOL_VERSION
from firmware_bridge.simulator.heater_mcu import mcu_config_for, set_line_noise, set_sensor_fault
from firmware_bridge.simulator.mcu import SimulatedMcu
from firmware_bridge.simulator.world import PRESETS, HeaterWorld
from heater_physics.units import DAY_S, HOUR_S
from heater_physics.weather import WeatherSeries, default_weather

log = logging.getLogger(__name__)

IN_PROCESS_URL = "sim://in-process"


class MemoryPort:
    """The link's port (LinePort's interface) with the MCU on the other end of a memory wire."""

    def __init__(self, heater: InProcessHeater) -> None:
        self._heater = heater
        self._open = False
        self.broken: str | None = None
        self.bytes_tx = 0

    @property
    def is_open(self) -> bool:
        return self._open

    def open(self) -> None:
        if self._heater.unplugged:
            raise serial.SerialException(f"could not open port {IN_PROCESS_URL}: unplugged")
        self._open = True
        self.broken = None

    def read(self, timeout_s: float = 0.0) -> bytes:
        """What the MCU sent so far: never waits (the caller pumps the link in turns)."""
        if not self._open:
            raise serial.SerialException("port is closed")
        return self._heater.mcu.take_output(self._heater.clock())

    def write(self, data: bytes) -> bool:
        if not self._open:
            return False
        if self._heater.clock() < self._heater.deaf_until_s:
            self.bytes_tx += len(data)
            return True  # written, and lost on the way: the wire to the MCU is cut
        self._heater.mcu.receive(data, self._heater.clock())
        self.bytes_tx += len(data)
        return True

    def wake(self) -> None:
        """Nothing to end: a read here never waits."""

    def close(self) -> None:
        self._open = False

    def close_recording(self) -> None:
        pass


class PumpedLink(HeaterLink):
    """A `HeaterLink` whose I/O thread's work is done by `pump()`, on the caller's thread."""

    def __init__(self, heater: InProcessHeater) -> None:
        super().__init__(IN_PROCESS_URL, clock=heater.clock)
        self._port = MemoryPort(heater)

    def start(self) -> PumpedLink:
        return self  # nothing runs on its own: the caller pumps

    def pump(self) -> None:
        """One pass of the I/O thread: open the port if it is closed, else serve it."""
        if self.state in (LinkState.REFUSED, LinkState.CLOSED):
            return
        if not self._port.is_open:
            self._open()
        else:
            self._serve_port()
        self._commands.resolve()


class InProcessHeater:
    def __init__(
        self,
        preset: str = "room",
        *,
        clock: Callable[[], float],
        weather: WeatherSeries | None = None,
        start_day: int = 15,
        start_hour: float = 6.0,
        seed: int | None = None,
        report_interval_ms: int = 500,
        protocol_version: int = PROTOCOL_VERSION,
        serial_number: str | None = None,
    ) -> None:
        if preset not in PRESETS:
            raise ValueError(f"unknown heater preset {preset!r}; known: {', '.join(PRESETS)}")
        self.clock = clock
        self.heater = PRESETS[preset]
        self.world = HeaterWorld(
            self.heater,
            weather or default_weather(),
            speed=1.0,  # the caller's clock is the plant's clock
            start_sim_s=(start_day - 1) * DAY_S + start_hour * HOUR_S,
            real_start_s=clock(),
        )
        self.config = mcu_config_for(
            self.heater,
            report_interval_ms=report_interval_ms,
            protocol_version=protocol_version,
            serial_number=serial_number,
        )
        self.mcu = SimulatedMcu(self.config, self.world, seed=seed)
        self.unplugged = False
        self.deaf_until_s = float("-inf")  # until then the MCU hears nothing from the host
        # Constructing the MCU booted it before any host could listen: start the wire clean.
        self.mcu.take_output(clock())
        self.mcu.boot(clock(), announce_reset=False)
        self.link = PumpedLink(self)

    def new_link(self) -> PumpedLink:
        """A fresh host side, as a restarted agent opens the port anew; the old one is gone."""
        self.link._port.close()
        self.link = PumpedLink(self)
        return self.link

    def pump(self) -> None:
        """Advance the world and the MCU to now, and let the link read what the MCU said."""
        now = self.clock()
        self.world.advance(now)
        self.mcu.tick(now)
        self.link.pump()

    # --- faults ----------------------------------------------------------------------------

    def unplug(self) -> None:
        """The port vanishes (a USB glitch): the link sees an error and reopens when it can."""
        self.unplugged = True
        port = self.link._port
        if port.is_open:
            port.broken = "device disconnected"

    def plug(self) -> None:
        self.unplugged = False

    def cut_host_to_mcu(self, seconds: float) -> None:
        """A link that works one way: the MCU still speaks but no longer hears the host."""
        self.deaf_until_s = self.clock() + seconds

    def silence(self, seconds: float) -> None:
        self.mcu.faults.silent_until_s = self.clock() + seconds

    def reset_mcu(self) -> None:
        self.mcu.boot(self.clock())

    def set_sensor_fault(self, index: int, fault: str | None) -> None:
        set_sensor_fault(self.mcu, index, fault)

    def set_line_noise(self, *, crc_error_rate: float = 0.0, garbage_rate: float = 0.0) -> None:
        set_line_noise(self.mcu, crc_error_rate=crc_error_rate, garbage_rate=garbage_rate)
