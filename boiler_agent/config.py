"""The agent's configuration: one TOML file, every key overridable from the environment.

`load_config(path, env)` reads the file (stdlib `tomllib`), lays `BOILER_AGENT_<SECTION>__<KEY>`
environment variables over it (the environment wins, as systemd's `Environment=` should), and
validates the result with one model, `AgentConfig`. Every problem found, not just the first, is
raised together in a `ConfigError` as `ConfigProblem`s that name the dotted key, the value and
what is allowed: an operator fixing a heater's config should need one round trip, not ten.

The file and the environment are read here rather than by pydantic-settings' own sources so
that a problem can name where its value came from, and so that a `BOILER_AGENT_*` variable
that names no key is an error (pydantic-settings silently ignores those; a typo in a unit's
`Environment=` would otherwise go unnoticed).

The descriptions and `allowed`/`example` extras of the fields are the documentation: the
example config and docs/configuration.md are generated from them (`boiler-agent config example`,
`boiler-agent config keys`), and tests keep both files equal to what is generated.
"""

from __future__ import annotations

import difflib
import functools
import hashlib
import json
import os
import re
import socket
import tomllib
import types
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit

import annotated_types
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    PrivateAttr,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from boiler_agent.paths import default_cache_dir, default_state_dir

if typing.TYPE_CHECKING:
    from boiler_agent.control.safety import SafetyLimits

DEFAULT_CONFIG_PATH = Path("/etc/boiler-agent/agent.toml")
ENV_PREFIX = "BOILER_AGENT_"
ENV_DELIMITER = "__"
MASK = "**********"  # what a secret looks like in anything printed or dumped

HeaterKind = Literal["room", "boiler"]
Controller = Literal["default", "pi", "bangbang"]  # control.controllers.KINDS; a test checks
Actuator = Literal["workers", "duty", "rapl", "cpufreq", "pstate", "cgroup"]
LogLevel = Literal["debug", "info", "warning", "error"]
ACTUATORS: tuple[Actuator, ...] = typing.get_args(Actuator)
STANDARD_BAUDRATES = (9600, 19200, 38400, 57600, 115200, 230400, 460800, 500000, 921600, 1000000)
SERIAL_URL_SCHEMES = ("socket", "rfc2217", "loop", "spy", "alt", "hwgrep")  # pyserial handlers
MQTT_DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}
UNIX_SOCKET_PATH_MAX = 107  # sun_path is 108 bytes with the terminating NUL
# Defaults that depend on heater.kind: a room's air or a tank's water.
KIND_DEFAULTS: dict[str, dict[str, float]] = {
    "room": {"max_temp_c": 30.0, "setpoint_max_c": 28.0},
    "boiler": {"max_temp_c": 75.0, "setpoint_max_c": 70.0},
}

NAME_RE = re.compile(r"[A-Za-z0-9_-]{1,64}")
NAME_ALLOWED = "1 to 64 characters of A-Z a-z 0-9 _ -"


# --- problems -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConfigProblem:
    """One thing wrong with a config: the dotted key, the value (a repr), what is allowed."""

    key: str  # "mqtt.url"; "" for the file as a whole (missing, bad TOML syntax)
    value: str
    message: str
    env_var: str | None = None  # set when the value came from this environment variable

    def describe(self) -> str:
        if not self.key:
            return f"{self.message}: {self.value}" if self.value else self.message
        source = f" (from {self.env_var})" if self.env_var else ""
        return f"{self.key} = {self.value}{source}: {self.message}"


class ConfigError(Exception):
    """Everything wrong with a config at once."""

    def __init__(self, problems: Sequence[ConfigProblem], source: str = "config") -> None:
        self.problems = list(problems)
        self.source = source
        super().__init__("\n".join(self.lines()))

    def lines(self) -> list[str]:
        """One line per problem, prefixed with the file (or "config" without one)."""
        return [f"{self.source}: {problem.describe()}" for problem in self.problems]


class _BlameError(ValueError):
    """A check across keys that blames one of them (dotted, relative to the model it is in)."""

    def __init__(self, key: str, value: object, message: str, others: Sequence[str] = ()) -> None:
        super().__init__(message)
        self.key = key
        self.value = value
        self.message = message
        self.others = tuple(others)  # the other keys of the check, named when the env set them


# --- value checks shared by several keys ----------------------------------------------------


def default_heater_id(hostname: str | None = None) -> str:
    """The hostname up to its first dot, every run of other characters than [A-Za-z0-9_-] as -."""
    name = (socket.gethostname() if hostname is None else hostname).split(".")[0]
    return re.sub(r"[^A-Za-z0-9_-]+", "-", name).strip("-")[:64] or "heater"


def _check_name(value: str) -> str:
    # Names become MQTT topic levels and shared-subscription groups: no / + # or spaces.
    if not NAME_RE.fullmatch(value):
        raise ValueError(f"must be {NAME_ALLOWED}")
    return value


def _check_topic(value: str) -> str:
    levels = value.split("/")
    if not value or len(value) > 200 or any(not level for level in levels):
        raise ValueError("must be topic levels joined by /, without empty levels, at most 200")
    if any(c in value for c in "+#\0") or value.startswith("$"):
        raise ValueError("must not contain the wildcards + or #, nor start with $")
    return value


def _exists(path: Path, check: Callable[[Path], bool]) -> bool:
    try:
        return check(path)
    except (OSError, ValueError):  # a name too long, a NUL byte: not there either
        return False


Name = Annotated[str, AfterValidator(_check_name)]
Topic = Annotated[str, AfterValidator(_check_topic)]


def _extra(
    allowed: str | None = None, example: object = None, default_doc: str | None = None
) -> dict[str, Any]:
    """Documentation beyond the description: what is allowed, an example, a computed default."""
    extra: dict[str, Any] = {}
    if allowed is not None:
        extra["allowed"] = allowed
    if example is not None:
        extra["example"] = example
    if default_doc is not None:
        extra["default_doc"] = default_doc
    return extra


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


# --- the sections ---------------------------------------------------------------------------


class HeaterConfig(_Section):
    id: Name = Field(
        default_factory=default_heater_id,
        description="The heater's id: its level in MQTT topics and its Home Assistant id.",
        json_schema_extra=_extra(
            NAME_ALLOWED,
            example="kitchen-1",
            default_doc="the hostname up to its first dot, other characters replaced by -",
        ),
    )
    fleet: Name = Field(
        default="default",
        description="The fleet the heater belongs to: the MQTT topic level above its id.",
        json_schema_extra=_extra(NAME_ALLOWED),
    )
    kind: HeaterKind = Field(
        default="room",
        description=(
            "What the controller regulates: a room's air (space heater) or a tank's water "
            "(boiler). Chooses the defaults of control.max_temp_c and control.setpoint_max_c."
        ),
    )
    rated_power_w: float | None = Field(
        default=None,
        gt=0,
        le=20000,
        description="The heater's rated power in watts. Unset: the MCU's IDENT says.",
        json_schema_extra=_extra(example=500),
    )
    expected_serial: str | None = Field(
        default=None,
        description=(
            "The MCU's serial number. When set, the agent refuses to heat with an MCU that "
            "reports another one (a swapped board or cable)."
        ),
        json_schema_extra=_extra("1 to 12 printable ASCII characters, or unset", "QH1-000042"),
    )

    @field_validator("expected_serial")
    @classmethod
    def _serial(cls, value: str | None) -> str | None:
        # The wire protocol carries at most 12 ASCII bytes (PROTOCOL.md, IDENT).
        if value is not None and not re.fullmatch(r"[\x21-\x7e]{1,12}", value):
            raise ValueError("must be 1 to 12 printable ASCII characters without spaces")
        return value


class SerialConfig(_Section):
    port: str = Field(
        default="/dev/boiler-heater",
        description=(
            "The heater MCU's serial port: a device path (the udev rule makes "
            "/dev/boiler-heater) or a pyserial URL such as socket://host:port or "
            "rfc2217://host:port (ser2net)."
        ),
        json_schema_extra=_extra(
            "an absolute path, or a URL with scheme "
            + ", ".join(f"{s}://" for s in SERIAL_URL_SCHEMES)
        ),
    )
    baudrate: int = Field(
        default=115200,  # firmware_bridge.link.DEFAULT_BAUDRATE
        description="Line speed in bit/s; ignored by socket:// ports.",
        json_schema_extra=_extra("one of: " + ", ".join(map(str, STANDARD_BAUDRATES))),
    )
    lease_s: float = Field(
        default=3.0,  # firmware_bridge.link.DEFAULT_LEASE_S
        ge=0.5,
        le=10.0,  # firmware_bridge.link.MAX_LEASE_S
        description=(
            "Heat lease granted by each heartbeat: if the agent stops refreshing it for this "
            "long, the MCU cuts compute power. Must exceed power.period_s."
        ),
    )
    reconnect_max_s: float = Field(
        default=5.0,  # firmware_bridge.link.RECONNECT_MAX_S
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


class ControlConfig(_Section):
    controller: Controller = Field(
        default="default",
        description=(
            "The control law: default (model-based: learns the room or tank, feed-forward "
            "plus feedback), pi (PI with anti-windup) or bangbang (on/off with hysteresis)."
        ),
    )
    period_s: float = Field(
        default=10.0,
        ge=1,
        le=120,
        description="Outer loop period: how often the temperature error becomes a watt target.",
    )
    max_temp_c: float = Field(
        default=30.0,
        gt=0,
        le=95,
        description=(
            "Hard maximum of the controlled temperature, in °C: above it, no heat, latched "
            "until recovered. Must lie within the MCU's advertised range."
        ),
        json_schema_extra=_extra(example=30, default_doc="30 for a room, 75 for a boiler"),
    )
    stale_after_s: float = Field(
        default=7.0,
        ge=1,
        le=60,
        description="A reading older than this means no heat until a fresh one arrives.",
    )
    stall_after_s: float = Field(
        default=5.0,
        ge=1,
        le=60,
        description=(
            "A safety check this late means the loop stalled: no heat. Must exceed "
            "power.period_s, the loop that runs the checks."
        ),
    )
    runaway_window_s: float = Field(
        default=600.0,
        ge=300,
        le=3600,
        description=(
            "Runaway detection window: heating hard below the setpoint for this long must "
            "raise the temperature by runaway_min_rise_k. 300..900 s suits rooms; a large "
            "tank may need longer. Lengthen it if false alarms occur."
        ),
    )
    runaway_min_rise_k: float = Field(
        default=0.2,
        gt=0,
        le=5,
        description=(
            "Minimum rise in kelvin per runaway window while heating hard; lower it for a "
            "large tank with a small heater."
        ),
    )
    cpu_margin_c: float = Field(
        default=10.0,
        gt=0,
        le=40,
        description="Heat is throttled within this many °C of the CPU package's critical value.",
    )
    setpoint_min_c: float = Field(
        default=5.0,
        ge=0,
        le=90,
        description="Lowest setpoint a remote command may set, in °C.",
    )
    setpoint_max_c: float = Field(
        default=28.0,
        gt=0,
        le=90,
        description="Highest setpoint a remote command may set, in °C; below max_temp_c.",
        json_schema_extra=_extra(example=28, default_doc="28 for a room, 70 for a boiler"),
    )

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        if self.setpoint_min_c >= self.setpoint_max_c:
            raise _BlameError(
                "setpoint_min_c",
                self.setpoint_min_c,
                f"must be below control.setpoint_max_c = {self.setpoint_max_c:g}",
                others=["setpoint_max_c"],
            )
        if self.setpoint_max_c >= self.max_temp_c:
            raise _BlameError(
                "setpoint_max_c",
                self.setpoint_max_c,
                f"must be below control.max_temp_c = {self.max_temp_c:g} (reaching the "
                "setpoint must not trip the hard maximum); lower it or raise max_temp_c",
                others=["max_temp_c"],
            )
        return self

    def safety_limits(self, valid_min_c: float, valid_max_c: float) -> SafetyLimits:
        """The interlocks' limits, with the valid range the MCU advertised in its IDENT."""
        from boiler_agent.control.safety import SafetyLimits

        return SafetyLimits(
            max_temp_c=self.max_temp_c,
            valid_min_c=valid_min_c,
            valid_max_c=valid_max_c,
            stale_after_s=self.stale_after_s,
            stall_after_s=self.stall_after_s,
            runaway_window_s=self.runaway_window_s,
            runaway_min_rise_k=self.runaway_min_rise_k,
            cpu_margin_c=self.cpu_margin_c,
        )


class PowerConfig(_Section):
    max_workers: int = Field(
        default=0,
        ge=0,
        le=4096,
        description="Most worker processes to run; 0: one per CPU.",
    )
    period_s: float = Field(
        default=1.0,
        ge=0.1,
        le=10,
        description=(
            "Inner loop period: how often the watt target is turned into actuator settings, "
            "the safety interlocks run and the heat lease is refreshed."
        ),
    )
    sysfs_root: Path = Field(
        default=Path("/"),
        description="Root under which sys/ and proc/ are read and written (tests use a fake tree).",
        json_schema_extra=_extra("a path to an existing directory"),
    )
    actuators: list[Actuator] = Field(
        default_factory=lambda: [*ACTUATORS],
        min_length=1,
        description=(
            "The power actuators the agent may use, each probed at start and skipped when "
            "absent: workers (how many run), duty (SIGSTOP/SIGCONT cycling), rapl (powercap "
            "limit), cpufreq (scaling_max_freq), pstate (intel_pstate max_perf_pct), cgroup "
            "(cpu.max quota)."
        ),
    )
    watts_per_core: float | None = Field(
        default=None,
        gt=0,
        le=500,
        description="Power of one fully busy core in watts. Unset: measured (RAPL) or estimated.",
        json_schema_extra=_extra(example=15),
    )

    @field_validator("sysfs_root")
    @classmethod
    def _sysfs_root(cls, value: Path) -> Path:
        if not _exists(value, Path.is_dir):
            raise ValueError("must be an existing directory")
        return value

    @field_validator("actuators")
    @classmethod
    def _unique(cls, value: list[str]) -> list[str]:
        twice = sorted({name for name in value if value.count(name) > 1})
        if twice:
            raise ValueError(f"lists {', '.join(twice)} more than once")
        return value


class ComputeConfig(_Section):
    accept_jobs: bool = Field(
        default=True,
        description="Take compute jobs from the fleet's job pool while the heater wants heat.",
    )
    filler: bool = Field(
        default=True,
        description="Run a built-in filler kernel when heat is wanted and no job is queued.",
    )
    checkpoint_interval_s: float = Field(
        default=60.0,  # compute.scheduler.DEFAULT_CHECKPOINT_INTERVAL_S
        ge=5,
        le=3600,
        description="How often a running job saves its state (temp file, fsync, rename).",
    )


class MqttConfig(_Section):
    enabled: bool = Field(
        default=True,
        description="Talk to an MQTT broker. Off: telemetry only accumulates in the outbox.",
    )
    url: str = Field(
        default="mqtt://127.0.0.1:1883",
        description=(
            "The broker: mqtt://host[:port] (port 1883 by default) or mqtts://host[:port] "
            "for TLS (8883). Credentials go in username and password, never in the URL."
        ),
        json_schema_extra=_extra("mqtt://host[:port] or mqtts://host[:port]"),
    )
    username: str | None = Field(
        default=None,
        description="User name for the broker.",
        json_schema_extra=_extra(example="heater"),
    )
    password: SecretStr | None = Field(
        default=None,
        description=(
            "Password for the broker. Never printed. Prefer password_file, or the "
            "environment variable, over writing it here."
        ),
        json_schema_extra=_extra("a string, or unset; not with password_file", "change-me"),
    )
    password_file: Path | None = Field(
        default=None,
        description=(
            "File holding the broker password (e.g. a systemd credential), read at load; "
            "a trailing newline is dropped."
        ),
        json_schema_extra=_extra(
            "a path to a readable file, or unset; not with password",
            "/etc/boiler-agent/mqtt-password",
        ),
    )
    ca_file: Path | None = Field(
        default=None,
        description="CA certificates for the broker's TLS certificate (mqtts:// only). "
        "Unset: the system's CAs.",
        json_schema_extra=_extra(
            "a path to an existing file, or unset", "/etc/boiler-agent/ca.pem"
        ),
    )
    cert_file: Path | None = Field(
        default=None,
        description="Client certificate for TLS client authentication; needs key_file.",
        json_schema_extra=_extra(
            "a path to an existing file, or unset", "/etc/boiler-agent/client.pem"
        ),
    )
    key_file: Path | None = Field(
        default=None,
        description="Private key of cert_file.",
        json_schema_extra=_extra(
            "a path to an existing file, or unset", "/etc/boiler-agent/client.key"
        ),
    )
    client_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="MQTT client id. Unset: boiler-agent-<heater.id>.",
        json_schema_extra=_extra(example="boiler-agent-kitchen-1"),
    )
    keepalive_s: int = Field(
        default=30,
        ge=5,
        le=3600,
        description="Keep-alive interval; a dead link is noticed in 1.5×.",
    )
    session_expiry_s: int = Field(
        default=3600,
        ge=0,
        le=4294967295,
        description=(
            "How long the broker keeps the session (and queued commands) after a disconnect."
        ),
    )
    will_delay_s: int = Field(
        default=10,
        ge=0,
        le=3600,
        description="Delay before the broker publishes the offline will: rides out short blips.",
    )
    topic_root: Topic = Field(
        default="dh/v1",
        description="Versioned root of the topic tree: <topic_root>/<fleet>/<heater.id>/...",
        json_schema_extra=_extra("topic levels joined by /, no wildcards, not starting with $"),
    )
    telemetry_period_s: float = Field(
        default=10.0, ge=1, le=3600, description="How often a telemetry message is published."
    )
    job_pool: Name = Field(
        default="default",
        description="Shared-subscription group jobs are taken from: $share/<job_pool>/...",
        json_schema_extra=_extra(NAME_ALLOWED),
    )
    outbox_max_mb: float = Field(
        default=64.0,
        gt=0,
        le=100000,
        description="Largest size of the on-disk outbox; beyond it the oldest messages go.",
    )
    outbox_max_age_h: float = Field(
        default=168.0,
        gt=0,
        le=8760,
        description="Messages older than this are dropped from the outbox unsent.",
    )
    _password_from_file: SecretStr | None = PrivateAttr(None)

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in MQTT_DEFAULT_PORTS:
            raise ValueError(
                f"scheme must be mqtt or mqtts, got {parts.scheme!r}"
                if parts.scheme
                else "must be mqtt://host[:port] or mqtts://host[:port]"
            )
        if parts.username is not None or parts.password is not None:
            raise ValueError("must not carry credentials: use mqtt.username and mqtt.password")
        if not parts.hostname:
            raise ValueError("names no host: must be mqtt://host[:port] or mqtts://host[:port]")
        try:
            port = parts.port
        except ValueError:
            port = 0
        if port == 0 or parts.path not in ("", "/") or parts.query or parts.fragment:
            raise ValueError("must be mqtt://host[:port] or mqtts://host[:port], port 1..65535")
        return value

    @property
    def tls(self) -> bool:
        return urlsplit(self.url).scheme == "mqtts"

    @property
    def host(self) -> str:
        return urlsplit(self.url).hostname or ""

    @property
    def port(self) -> int:
        parts = urlsplit(self.url)
        return parts.port or MQTT_DEFAULT_PORTS[parts.scheme]

    def resolved_password(self) -> SecretStr | None:
        """The password, from the config or read from password_file at load."""
        return self.password if self.password is not None else self._password_from_file

    @field_validator("password_file")
    @classmethod
    def _password_file(cls, value: Path | None) -> Path | None:
        if value is not None:
            _read_secret(value)  # kept by _credentials_and_tls once every key is valid
        return value

    @field_validator("ca_file", "cert_file", "key_file")
    @classmethod
    def _exists(cls, value: Path | None) -> Path | None:
        if value is not None and not _exists(value, Path.is_file):
            raise ValueError("must be an existing file")
        return value

    @model_validator(mode="after")
    def _credentials_and_tls(self) -> Self:
        if self.password is not None and self.password_file is not None:
            message = "not with mqtt.password: pick one"
            raise _BlameError("password_file", self.password_file, message, others=["password"])
        if self.password_file is not None:
            self._password_from_file = SecretStr(_read_secret(self.password_file))
        if self.resolved_password() is not None and self.username is None:
            message = "must be set when a password is"
            raise _BlameError("username", None, message, others=["password", "password_file"])
        for name in ("ca_file", "cert_file", "key_file"):
            path: Path | None = getattr(self, name)
            if path is not None and not self.tls:
                message = f"TLS files need an mqtts:// url, not {self.url!r}"
                raise _BlameError(name, path, message, others=["url"])
        if (self.cert_file is None) != (self.key_file is None):
            missing = "key_file" if self.key_file is None else "cert_file"
            message = "cert_file and key_file go together: set both"
            raise _BlameError(missing, None, message, others=["cert_file", "key_file"])
        return self


def _read_secret(path: Path) -> str:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the name, not UTF-8
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ValueError(f"cannot be read: {reason}") from None
    secret = text.rstrip("\r\n")
    if not secret:
        raise ValueError("is empty")
    return secret


class HomeAssistantConfig(_Section):
    discovery: bool = Field(
        default=True,
        description="Publish Home Assistant MQTT discovery: the heater appears as a climate "
        "entity with sensors.",
    )
    prefix: Topic = Field(
        default="homeassistant",
        description="Home Assistant's discovery prefix.",
        json_schema_extra=_extra("topic levels joined by /, no wildcards, not starting with $"),
    )


class StatusConfig(_Section):
    socket: Path = Field(
        default=Path("/run/boiler-agent/status.sock"),
        description=(
            "Unix socket `boiler-agent status` reads the running agent's state from "
            "(the unit's RuntimeDirectory=boiler-agent)."
        ),
        json_schema_extra=_extra(f"a path of at most {UNIX_SOCKET_PATH_MAX} bytes"),
    )
    state_file: Path | None = Field(
        default=None,
        description="File the state is also written to, for when the socket is unreachable. "
        "Unset: status.json in state_dir.",
        json_schema_extra=_extra(example="/var/lib/boiler-agent/status.json"),
    )

    @field_validator("socket")
    @classmethod
    def _socket(cls, value: Path) -> Path:
        if len(os.fsencode(value)) > UNIX_SOCKET_PATH_MAX:
            raise ValueError(f"is longer than {UNIX_SOCKET_PATH_MAX} bytes (a Unix socket limit)")
        return value


class LogConfig(_Section):
    level: LogLevel = Field(default="info", description="Least severe log messages written.")


# --- the whole -------------------------------------------------------------------------------


class AgentConfig(BaseSettings):
    """The agent's whole configuration. Build it with `load_config`."""

    model_config = SettingsConfigDict(extra="forbid", frozen=True)

    state_dir: Path = Field(
        default_factory=default_state_dir,
        description=(
            "Where the agent keeps its state: job store, checkpoints, outbox, status. "
            "Environment: BOILER_AGENT_STATE_DIR (the unit's StateDirectory=)."
        ),
        json_schema_extra=_extra(
            "a path",
            "/var/lib/boiler-agent",
            "$XDG_STATE_HOME/boiler-agent (~/.local/state/boiler-agent)",
        ),
    )
    cache_dir: Path = Field(
        default_factory=default_cache_dir,
        description=(
            "Where compiled kernels are cached (numba). "
            "Environment: BOILER_AGENT_CACHE_DIR (the unit's CacheDirectory=)."
        ),
        json_schema_extra=_extra(
            "a path", "/var/cache/boiler-agent", "$XDG_CACHE_HOME/boiler-agent (~/.cache/...)"
        ),
    )
    heater: HeaterConfig = Field(default_factory=HeaterConfig)
    serial: SerialConfig = Field(default_factory=SerialConfig)
    control: ControlConfig = Field(default_factory=ControlConfig)
    power: PowerConfig = Field(default_factory=PowerConfig)
    compute: ComputeConfig = Field(default_factory=ComputeConfig)
    mqtt: MqttConfig = Field(default_factory=MqttConfig)
    homeassistant: HomeAssistantConfig = Field(default_factory=HomeAssistantConfig)
    status: StatusConfig = Field(default_factory=StatusConfig)
    log: LogConfig = Field(default_factory=LogConfig)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # load_config has already laid the environment over the file (see the module's doc).
        return (init_settings,)

    @model_validator(mode="before")
    @classmethod
    def _kind_defaults(cls, data: Any) -> Any:
        """A boiler's water may run hotter than a room's air: defaults that follow the kind."""
        if not isinstance(data, dict):
            return data
        heater = data.get("heater", {})
        kind = heater.get("kind", "room") if isinstance(heater, dict) else None
        if isinstance(heater, HeaterConfig):
            kind = heater.kind
        control = data.get("control", {})
        if not isinstance(kind, str) or kind not in KIND_DEFAULTS or not isinstance(control, dict):
            return data  # a bad kind or section is reported by the fields' own validation
        return {**data, "control": {**KIND_DEFAULTS[kind], **control}}

    @model_validator(mode="after")
    def _across_sections(self) -> Self:
        inner = self.power.period_s
        if self.serial.lease_s <= inner:
            raise _BlameError(
                "serial.lease_s",
                self.serial.lease_s,
                f"must exceed power.period_s = {inner:g}, the loop that refreshes the lease",
                others=["power.period_s"],
            )
        if self.control.stall_after_s <= inner:
            raise _BlameError(
                "control.stall_after_s",
                self.control.stall_after_s,
                f"must exceed power.period_s = {inner:g}, the loop that runs the checks",
                others=["power.period_s"],
            )
        return self

    @property
    def mqtt_client_id(self) -> str:
        return self.mqtt.client_id or f"boiler-agent-{self.heater.id}"

    @property
    def status_state_file(self) -> Path:
        return self.status.state_file or self.state_dir / "status.json"


# --- the keys, for env names, suggestions, messages and docs -------------------------------


@dataclass(frozen=True)
class ConfigKey:
    """One leaf key of the config, with what documents it."""

    key: str  # dotted: "mqtt.url"
    field: FieldInfo

    @property
    def env_var(self) -> str:
        return ENV_PREFIX + self.key.replace(".", ENV_DELIMITER).upper()

    @property
    def section(self) -> str | None:
        return self.key.split(".")[0] if "." in self.key else None

    @property
    def name(self) -> str:
        return self.key.rsplit(".", 1)[-1]

    @property
    def secret(self) -> bool:
        return _base_type(self.field.annotation) is SecretStr

    @property
    def description(self) -> str:
        return self.field.description or ""

    @property
    def default_doc(self) -> str | None:
        """Words for a default computed at load (hostname, directories, heater kind)."""
        doc = _extras(self.field).get("default_doc")
        return str(doc) if doc is not None else None

    @property
    def example(self) -> object:
        return _extras(self.field).get("example")

    def allowed(self) -> str:
        return allowed_text(self.field)


def _section_model(field: FieldInfo) -> type[BaseModel] | None:
    annotation = field.annotation
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    return None


@functools.cache
def config_keys() -> tuple[ConfigKey, ...]:
    """Every leaf key in file order: the top-level keys, then each section's."""
    keys: list[ConfigKey] = []
    for name, field in AgentConfig.model_fields.items():
        section = _section_model(field)
        if section is None:
            keys.append(ConfigKey(name, field))
        else:
            keys.extend(
                ConfigKey(f"{name}.{key}", sub) for key, sub in section.model_fields.items()
            )
    return tuple(keys)


def sections() -> tuple[str, ...]:
    return tuple(n for n, f in AgentConfig.model_fields.items() if _section_model(f) is not None)


def _extras(field: FieldInfo) -> dict[str, Any]:
    extra = field.json_schema_extra
    return extra if isinstance(extra, dict) else {}


def _union_args(annotation: Any) -> tuple[Any, ...]:
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        return typing.get_args(annotation)
    return (annotation,)


def _base_type(annotation: Any) -> Any:
    """The type without `| None`."""
    args = [a for a in _union_args(annotation) if a is not type(None)]
    return args[0] if len(args) == 1 else annotation


def _choices(annotation: Any) -> tuple[Any, ...] | None:
    """The allowed values of a Literal (or of a list of one)."""
    base = _base_type(annotation)
    if typing.get_origin(base) is list:
        base = typing.get_args(base)[0]
    return typing.get_args(base) if typing.get_origin(base) is Literal else None


def _num(value: float) -> str:
    return str(int(value)) if value.is_integer() else f"{value:g}"


def _range_text(field: FieldInfo) -> str:
    low = high = ""
    for item in field.metadata:
        if isinstance(item, annotated_types.Ge):
            low = f"≥ {_num(float(item.ge))}"  # type: ignore[arg-type]
        elif isinstance(item, annotated_types.Gt):
            low = f"> {_num(float(item.gt))}"  # type: ignore[arg-type]
        elif isinstance(item, annotated_types.Le):
            high = f"≤ {_num(float(item.le))}"  # type: ignore[arg-type]
        elif isinstance(item, annotated_types.Lt):
            high = f"< {_num(float(item.lt))}"  # type: ignore[arg-type]
    if low.startswith("≥") and high.startswith("≤"):
        return f"{low[2:]}..{high[2:]}"
    return " and ".join(part for part in (low, high) if part)


def allowed_text(field: FieldInfo) -> str:
    """What a key accepts, in words: from its `allowed` extra, else from its type and bounds."""
    explicit = _extras(field).get("allowed")
    if explicit is not None:
        return str(explicit)
    optional = type(None) in _union_args(field.annotation)
    base = _base_type(field.annotation)
    choices = _choices(field.annotation)
    if choices is not None:
        listed = ", ".join(str(choice) for choice in choices)
        text = f"a list of: {listed}" if typing.get_origin(base) is list else f"one of: {listed}"
    elif base is bool:
        text = "true or false"
    else:
        words = {int: "an integer", float: "a number", str: "a string", Path: "a path"}
        text = words.get(base, getattr(base, "__name__", str(base)))
        bounds = _range_text(field)
        text = f"{text}, {bounds}" if bounds else text
    return f"{text}, or unset" if optional else text


# --- reading the file and the environment ----------------------------------------------------


def load_config(path: Path | None, env: Mapping[str, str] | None = None) -> AgentConfig:
    """The config from `path` (None: DEFAULT_CONFIG_PATH if it exists) and `env` (os.environ).

    Raises ConfigError with every problem found.
    """
    source = str(path) if path is not None else "config"
    if path is None and DEFAULT_CONFIG_PATH.is_file():
        path, source = DEFAULT_CONFIG_PATH, str(DEFAULT_CONFIG_PATH)
    problems: list[ConfigProblem] = []
    file_data = _read_toml(path, problems) if path is not None else {}
    env_data, env_vars = _read_env(os.environ if env is None else env, problems)
    if file_data is None:  # unreadable: there is nothing to validate beyond the environment
        raise ConfigError(problems, source)
    merged = _merge(file_data, env_data)
    for key in [k for k in merged if k.startswith("_")]:
        # pydantic-settings would take these as its own init options: never let a file do so.
        problems.append(ConfigProblem(key, _show(key, merged.pop(key)), _unknown_message(key)))
    try:
        config = AgentConfig(**merged)
    except ValidationError as exc:
        problems.extend(_problems_from(exc, env_vars))
    if problems:
        raise ConfigError(problems, source)
    return config


def _read_toml(path: Path, problems: list[ConfigProblem]) -> dict[str, Any] | None:
    try:
        text = path.read_bytes().decode("utf-8")
    except FileNotFoundError:
        problems.append(ConfigProblem("", repr(str(path)), "config file not found"))
        return None
    except (OSError, ValueError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        problems.append(ConfigProblem("", repr(str(path)), f"cannot read config file: {reason}"))
        return None
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # Python 3.11's message ends with "(at line L, column C)"; quote that line.
        where = re.search(r"at line (\d+), column (\d+)", str(exc))
        reason = re.sub(r"\s*\(at (line \d+, column \d+|end of document)\)", "", str(exc))
        if where is None:
            problems.append(ConfigProblem("", "", f"invalid TOML: {reason}"))
            return None
        line, column = int(where.group(1)), int(where.group(2))
        lines = text.splitlines()
        quoted = repr(lines[line - 1]) if 0 < line <= len(lines) else ""
        message = f"invalid TOML at line {line}, column {column}: {reason}"
        problems.append(ConfigProblem("", quoted, message))
        return None


def _read_env(
    env: Mapping[str, str], problems: list[ConfigProblem]
) -> tuple[dict[str, Any], dict[str, str]]:
    """BOILER_AGENT_<SECTION>__<KEY> variables as a nested dict, and the key -> variable map."""
    by_key = {key.key: key for key in config_keys()}
    data: dict[str, Any] = {}
    used: dict[str, str] = {}
    for name in sorted(env):
        if not name.startswith(ENV_PREFIX):
            continue
        raw = env[name]
        dotted = name[len(ENV_PREFIX) :].lower().replace(ENV_DELIMITER, ".")
        key = by_key.get(dotted)
        if key is None:
            problems.append(
                ConfigProblem(dotted, repr(raw), _unknown_env_message(name, dotted), env_var=name)
            )
            continue
        try:
            value = _env_value(key, raw)
        except ValueError as exc:
            problems.append(ConfigProblem(dotted, _show(dotted, raw), str(exc), env_var=name))
            continue
        target = data.setdefault(key.section, {}) if key.section else data
        target[key.name] = value
        used[dotted] = name
    return data, used


def _env_value(key: ConfigKey, raw: str) -> Any:
    """An environment string as the file would have given it, for the few types that differ."""
    if raw == "" and type(None) in _union_args(key.field.annotation):
        return None  # an empty variable unsets an optional key
    if typing.get_origin(_base_type(key.field.annotation)) is list:
        if raw.lstrip().startswith("["):
            try:
                return json.loads(raw)
            except json.JSONDecodeError as exc:
                raise ValueError(f"is not a JSON list ({exc.msg}); or give a,b,c") from None
        return [item.strip() for item in raw.split(",") if item.strip()]
    return raw  # pydantic parses numbers and booleans from strings


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for name, value in over.items():
        current = merged.get(name)
        if isinstance(value, dict) and isinstance(current, dict):
            merged[name] = {**current, **value}
        elif isinstance(value, dict) and name in merged:
            continue  # the file's non-table section is reported; the environment can't fix it
        else:
            merged[name] = value
    return merged


# --- turning pydantic's errors into problems ----------------------------------------------

TYPE_ERRORS = {
    "int_type",
    "int_parsing",
    "int_from_float",
    "float_type",
    "float_parsing",
    "finite_number",
    "bool_type",
    "bool_parsing",
    "string_type",
    "list_type",
    "path_type",
    "model_type",
    "model_attributes_type",
    "dict_type",
}
RANGE_ERRORS = {"greater_than", "greater_than_equal", "less_than", "less_than_equal"}
LENGTH_ERRORS = {"too_short", "too_long", "string_too_short", "string_too_long"}


def _problems_from(exc: ValidationError, env_vars: Mapping[str, str]) -> list[ConfigProblem]:
    problems = []
    for error in exc.errors(include_url=False):
        loc = tuple(error["loc"])
        key = ".".join(str(part) for part in loc if isinstance(part, str))
        index = "".join(f"[{part}]" for part in loc if isinstance(part, int))
        value: object = error.get("input")
        cause = (error.get("ctx") or {}).get("error")
        if isinstance(cause, _BlameError):
            prefix = f"{key}." if key else ""
            key, value, message = prefix + cause.key, cause.value, cause.message
            for other in (prefix + name for name in cause.others):
                if other in env_vars and other != key:
                    message += f" ({other} is set by {env_vars[other]})"
        else:
            message = _message(error["type"], error["msg"], key, loc, cause)
        problems.append(
            ConfigProblem(key + index, _show(key, value), message, env_var=env_vars.get(key))
        )
    return problems


def _message(kind: str, msg: str, key: str, loc: tuple[Any, ...], cause: object) -> str:
    if kind == "extra_forbidden":
        return _unknown_message(key)
    field = _field_at(key)
    if kind == "literal_error" and field is not None:
        choices = _choices(field.annotation) or ()
        return "must be one of: " + ", ".join(str(choice) for choice in choices)
    if kind in RANGE_ERRORS and field is not None:
        return f"out of range: must be {allowed_text(field)}"
    if kind in TYPE_ERRORS:
        if field is None or _section_model(field) is not None:
            return "must be a table ([section] with keys)"
        item = any(isinstance(part, int) for part in loc)
        return f"wrong type: must be {'an item of ' if item else ''}{allowed_text(field)}"
    if kind in LENGTH_ERRORS and field is not None:
        return f"{msg}; allowed: {allowed_text(field)}"
    if kind == "value_error" and cause is not None:
        return str(cause)
    return msg


def _field_at(key: str) -> FieldInfo | None:
    model: type[BaseModel] = AgentConfig
    field = None
    for part in key.split("."):
        field = model.model_fields.get(part)
        if field is None:
            return None
        section = _section_model(field)
        if section is not None:
            model = section
    return field


def _unknown_message(key: str) -> str:
    """'unknown key', with the closest known key or section when there is one."""
    names = [k.key for k in config_keys()] + list(sections())
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    if not close:  # the right key in the wrong section: [mqtt] discovery
        leaf = key.rsplit(".", 1)[-1]
        by_leaf = {k.name: k.key for k in config_keys()}
        near = difflib.get_close_matches(leaf, list(by_leaf), n=1, cutoff=0.8)
        close = [by_leaf[near[0]]] if near else []
    return f"unknown key; did you mean {close[0]}?" if close else "unknown key"


def _unknown_env_message(name: str, dotted: str) -> str:
    if dotted in sections():
        return (
            f"unknown key: {name} names a section; set one key as "
            f"{name}{ENV_DELIMITER}<KEY>, e.g. {ENV_PREFIX}MQTT__URL"
        )
    # Compare without the prefix every name shares, or everything looks close.
    names = {key.env_var[len(ENV_PREFIX) :]: key.env_var for key in config_keys()}
    close = difflib.get_close_matches(name[len(ENV_PREFIX) :], list(names), n=1, cutoff=0.75)
    hint = f"; did you mean {names[close[0]]}?" if close else ""
    return (
        f"unknown key: {ENV_PREFIX}* variables must name a key as "
        f"{ENV_PREFIX}<SECTION>{ENV_DELIMITER}<KEY>{hint}"
    )


def _show(key: str, value: object) -> str:
    """A value for a message: a short repr, never a secret."""
    field = _field_at(key)
    if value is not None and field is not None and _base_type(field.annotation) is SecretStr:
        return repr(MASK)
    if isinstance(value, dict):
        return "a table with keys " + ", ".join(map(str, value)) if value else "an empty table"
    if isinstance(value, Path):
        value = str(value)
    text = str(value).lower() if isinstance(value, bool) else repr(value)  # TOML's spelling
    return text if len(text) <= 80 else text[:77] + "..."


# --- digest ----------------------------------------------------------------------------------


def config_digest(config: AgentConfig) -> str:
    """sha256 of the canonical JSON (secrets masked), first 16 hex digits: for the birth message."""
    canonical = json.dumps(
        config.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]
