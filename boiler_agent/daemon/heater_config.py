"""The `[heater]` and `[serial]` config sections: which heater this is, how its MCU is reached."""

from __future__ import annotations

import re
import socket

from pydantic import Field, field_validator

from boiler_agent.config.fields import NAME_ALLOWED, Name, Section, field_doc
from boiler_agent.heater_type import HeaterType
from firmware_bridge.link import DEFAULT_BAUDRATE, DEFAULT_LEASE_S, MAX_LEASE_S, RECONNECT_MAX_S

STANDARD_BAUDRATES = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 500000, 921600, 1000000)
SERIAL_URL_SCHEMES = ("socket", "rfc2217", "loop", "spy", "alt", "hwgrep")  # pyserial handlers
DEFAULT_PORT = "/dev/boiler-heater"  # the symlink systemd/99-boiler-agent.rules makes


def default_heater_id(hostname: str | None = None) -> str:
    """The hostname up to its first dot, every run of other characters than [A-Za-z0-9_-] as -."""
    name = (socket.gethostname() if hostname is None else hostname).split(".")[0]
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:64] or "heater"


class HeaterConfig(Section):
    id: Name = Field(
        default_factory=default_heater_id,
        description="The heater's id: its level in MQTT topics and its Home Assistant id.",
        json_schema_extra=field_doc(
            NAME_ALLOWED,
            example="kitchen-1",
            default_doc="the hostname up to its first dot, other characters replaced by -",
        ),
    )
    fleet: Name = Field(
        default="default",
        description="The fleet the heater belongs to: the MQTT topic level above its id.",
        json_schema_extra=field_doc(NAME_ALLOWED),
    )
    kind: HeaterType = Field(
        default="room",
        description=(
            "What the controller regulates: a room's air (space heater) or a tank's water "
            "(boiler). Chooses the defaults of control.max_temp_c and control.setpoint_max_c."
        ),
    )
    weather_zone: Name | None = Field(
        default=None,
        description=(
            "The weather zone whose outdoor temperature this heater takes from the fleet "
            "(dh/v1/<fleet>/weather/<zone>), for a fleet that spans climates. Unset: the "
            "fleet-wide report (dh/v1/<fleet>/weather)."
        ),
        json_schema_extra=field_doc(NAME_ALLOWED, example="coast"),
    )
    rated_power_w: float | None = Field(
        default=None,
        gt=0,
        le=20000,
        description="The heater's rated power in watts. Unset: the MCU's IDENT says.",
        json_schema_extra=field_doc(example=500),
    )
    expected_serial: str | None = Field(
        default=None,
        description=(
            "The MCU's serial number. When set, the agent refuses to heat with an MCU that "
            "reports another one (a swapped board or cable)."
        ),
        json_schema_extra=field_doc("1 to 12 printable ASCII characters, or unset", "QH1-000042"),
    )

    @field_validator("expected_serial")
    @classmethod
    def _serial(cls, value: str | None) -> str | None:
        # The wire protocol carries at most 12 ASCII bytes (PROTOCOL.md, IDENT).
        if value is not None and not re.fullmatch(r"[\x21-\x7e]{1,12}", value):
            raise ValueError("must be 1 to 12 printable ASCII characters without spaces")
        return value


class SerialConfig(Section):
    port: str = Field(
        default=DEFAULT_PORT,
        description=(
            "The heater MCU's serial port: a device path (the udev rule makes "
            "/dev/boiler-heater) or a pyserial URL such as socket://host:port or "
            "rfc2217://host:port (ser2net)."
        ),
        json_schema_extra=field_doc(
            "an absolute path, or a URL with scheme "
            + ", ".join(f"{s}://" for s in SERIAL_URL_SCHEMES)
        ),
    )
    baudrate: int = Field(
        default=DEFAULT_BAUDRATE,
        description="Line speed in bit/s; ignored by socket:// ports.",
        json_schema_extra=field_doc("one of: " + ", ".join(map(str, STANDARD_BAUDRATES))),
    )
    lease_s: float = Field(
        default=DEFAULT_LEASE_S,
        ge=0.5,
        le=MAX_LEASE_S,  # the MCU refuses a longer lease
        description=(
            "Heat lease granted by each heartbeat: if the agent stops refreshing it for this "
            "long, the MCU cuts compute power. Must exceed power.period_s."
        ),
    )
    reconnect_max_s: float = Field(
        default=RECONNECT_MAX_S,
        ge=0.5,
        le=300.0,
        description="Longest wait between attempts to reopen a vanished port (backoff cap).",
    )

    @field_validator("port")
    @classmethod
    def _port(cls, value: str) -> str:
        if "://" in value:
            scheme = value.split("://", 1)[0]
            if scheme not in SERIAL_URL_SCHEMES:
                allowed = ", ".join(f"{s}://" for s in SERIAL_URL_SCHEMES)
                raise ValueError(f"URL scheme {scheme!r} is not one of {allowed}")
        elif not value.startswith("/"):
            raise ValueError("must be an absolute device path or a pyserial URL")
        return value

    @field_validator("baudrate")
    @classmethod
    def _baudrate(cls, value: int) -> int:
        if value not in STANDARD_BAUDRATES:
            raise ValueError("must be one of: " + ", ".join(map(str, STANDARD_BAUDRATES)))
        return value
