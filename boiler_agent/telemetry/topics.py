"""The versioned MQTT topic tree of a heater, and the table that documents every topic.

Everything a heater publishes or takes lives under `<root>/<fleet>/<heater_id>/`, except the
fleet-wide job queue `<root>/<fleet>/jobs` and weather `<root>/<fleet>/weather` (or one
weather zone's, `<root>/<fleet>/weather/<zone>`). The root carries the protocol version
(`dh/v1`), so a v2 can run beside v1 on the same broker while a fleet migrates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

SCHEMA_VERSION: Final = 1  # the `schema` key of every JSON payload
DEFAULT_ROOT = "dh/v1"
MAX_ID_LENGTH = 64
# MQTT wildcards and the level separator would change what a topic matches; a leading `$` is
# reserved for the broker ($SYS, $share).
FORBIDDEN_ID_CHARS = frozenset("/+#$")


def check_id(field: str, value: str) -> str:
    """`value` if it can be one topic level, else ValueError naming `field` and the value."""
    if not isinstance(value, str) or not value:
        raise ValueError(f"{field} must be a non-empty string, got {value!r}")
    if len(value) > MAX_ID_LENGTH:
        raise ValueError(f"{field} must be at most {MAX_ID_LENGTH} characters, got {value!r}")
    bad = sorted(set(value) & FORBIDDEN_ID_CHARS)
    if bad:
        raise ValueError(f"{field} must not contain {' '.join(bad)}, got {value!r}")
    if not value.isprintable() or value != value.strip():
        raise ValueError(f"{field} must be printable without surrounding whitespace, got {value!r}")
    return value


def _check_root(root: str) -> str:
    levels = root.split("/")
    if not root or any(not level for level in levels) or "+" in root or "#" in root:
        raise ValueError(f"root must be non-empty levels without wildcards, got {root!r}")
    if root.startswith("$") or not root.isprintable():
        raise ValueError(f"root must be printable and not start with $, got {root!r}")
    return root


@dataclass(frozen=True)
class Topics:
    """The topics of one heater; every id is checked once, here."""

    fleet: str
    heater_id: str
    root: str = DEFAULT_ROOT

    def __post_init__(self) -> None:
        check_id("fleet", self.fleet)
        check_id("heater_id", self.heater_id)
        _check_root(self.root)

    @property
    def base(self) -> str:
        return f"{self.root}/{self.fleet}/{self.heater_id}"

    @property
    def availability(self) -> str:
        return f"{self.base}/availability"

    @property
    def birth(self) -> str:
        return f"{self.base}/birth"

    @property
    def state(self) -> str:
        return f"{self.base}/state"

    @property
    def telemetry(self) -> str:
        return f"{self.base}/telemetry"

    @property
    def events(self) -> str:
        return f"{self.base}/events"

    def cmd(self, name: str) -> str:
        return f"{self.base}/cmd/{check_id('command', name)}"

    @property
    def cmd_filter(self) -> str:
        """What the heater subscribes to: every command addressed to it."""
        return f"{self.base}/cmd/+"

    def command_name(self, topic: str) -> str | None:
        """The command name of an incoming `cmd/<name>` topic of this heater, else None."""
        prefix = f"{self.base}/cmd/"
        name = topic.removeprefix(prefix)
        if name == topic or not name or "/" in name:
            return None
        return name

    @property
    def reply_base(self) -> str:
        return f"{self.base}/reply"

    def reply(self, name: str) -> str:
        """The conventional response topic of a command, and where its reply goes by default."""
        return f"{self.reply_base}/{check_id('command', name)}"

    def owns_reply(self, topic: str) -> bool:
        """Whether a command's `ResponseTopic` lies in this heater's reply subtree.

        Only there may a reply go: a response topic is the fleet's to choose, but pointed at the
        heater's `state`, at Home Assistant's discovery or outside the broker ACL it would
        overwrite them, or get the heater disconnected by the broker.
        """
        prefix = f"{self.reply_base}/"
        rest = topic.removeprefix(prefix)
        return rest != topic and bool(rest) and not set(rest) & {"+", "#"}

    def job_status(self, job_id: str) -> str:
        return f"{self.base}/jobs/{check_id('job_id', job_id)}/status"

    def job_result(self, job_id: str) -> str:
        return f"{self.base}/jobs/{check_id('job_id', job_id)}/result"

    @property
    def jobs(self) -> str:
        """Where the fleet publishes jobs for any heater of the fleet."""
        return f"{self.root}/{self.fleet}/jobs"

    @property
    def weather(self) -> str:
        """The fleet's outdoor temperature, retained, for every heater of the fleet."""
        return f"{self.root}/{self.fleet}/weather"

    def weather_in(self, zone: str | None) -> str:
        """One weather zone's report (a fleet that spans climates), or the fleet-wide one."""
        if zone is None:
            return self.weather
        return f"{self.weather}/{check_id('weather_zone', zone)}"

    def jobs_shared_subscription(self, pool: str) -> str:
        """The v5 shared subscription: the broker hands each job to one member of `pool`."""
        return f"$share/{check_id('pool', pool)}/{self.jobs}"


Direction = Literal["heater → fleet", "fleet → heater", "heater → HA", "HA → heater"]


@dataclass(frozen=True)
class TopicSpec:
    """One row of the documented topic table."""

    pattern: str
    direction: Direction
    qos: int
    retain: bool
    payload: str  # a name from payloads.all_schemas(), or a description of a text payload
    purpose: str


FLEET = DEFAULT_ROOT + "/{fleet}"
HEATER = FLEET + "/{heater_id}"

# Commands are QoS 1 and never retained: a retained command would be applied again by every
# reconnect. Results are not retained either: the broker would keep one message per job forever.
TOPIC_TABLE: tuple[TopicSpec, ...] = (
    TopicSpec(
        f"{HEATER}/availability",
        "heater → fleet",
        1,
        True,
        "text: `online` / `offline`",
        "`online` on every connect; `offline` as the last will (sent after the will delay) "
        "or on a clean stop",
    ),
    TopicSpec(f"{HEATER}/birth", "heater → fleet", 1, True, "Birth", "identity, once per start"),
    TopicSpec(f"{HEATER}/state", "heater → fleet", 1, True, "State", "control state, on change"),
    TopicSpec(f"{HEATER}/telemetry", "heater → fleet", 1, False, "Telemetry", "periodic readings"),
    TopicSpec(f"{HEATER}/events", "heater → fleet", 1, False, "Event", "what happened, and why"),
    TopicSpec(
        f"{HEATER}/cmd/setpoint_override",
        "fleet → heater",
        1,
        False,
        "SetpointOverride",
        "a temporary setpoint",
    ),
    TopicSpec(
        f"{HEATER}/cmd/set_mode", "fleet → heater", 1, False, "SetMode", "heat/eco/off/boost"
    ),
    TopicSpec(
        f"{HEATER}/cmd/request_birth",
        "fleet → heater",
        1,
        False,
        "RequestBirth",
        "publish the birth message again",
    ),
    TopicSpec(
        f"{HEATER}/cmd/safety_reset",
        "fleet → heater",
        1,
        False,
        "SafetyReset",
        "clear latched safety trips, with who and why (docs/safety.md)",
    ),
    TopicSpec(
        f"{HEATER}/cmd/ha_setpoint",
        "HA → heater",
        1,
        False,
        "text: a number in °C",
        "Home Assistant's target temperature (last writer wins)",
    ),
    TopicSpec(
        f"{HEATER}/cmd/ha_mode",
        "HA → heater",
        1,
        False,
        "text: `heat` `off` `eco` `boost` `none`",
        "Home Assistant's mode and preset (`none` = `heat`)",
    ),
    TopicSpec(
        "{ResponseTopic}",
        "heater → fleet",
        1,
        False,
        "CommandReply",
        "one reply per command, with its CorrelationData, to the command's v5 ResponseTopic "
        f"when it lies under `{HEATER}/reply/`, else to `{HEATER}/reply/{{command}}`",
    ),
    TopicSpec(
        f"{FLEET}/jobs",
        "fleet → heater",
        1,
        False,
        "JobOffer",
        f"compute jobs, through the shared subscription `$share/{{pool}}/{FLEET}/jobs`, "
        "only while heat is wanted and workers are free",
    ),
    TopicSpec(
        f"{FLEET}/weather",
        "fleet → heater",
        1,
        True,
        "Weather",
        "the outdoor temperature, for heaters without an outdoor sensor "
        "(`boiler-agent fleet weather`)",
    ),
    TopicSpec(
        f"{FLEET}/weather/{{zone}}",
        "fleet → heater",
        1,
        True,
        "Weather",
        "one weather zone's outdoor temperature, for the heaters whose `heater.weather_zone` "
        "names it instead of the fleet-wide report (`boiler-agent fleet weather --zone`)",
    ),
    TopicSpec(
        f"{HEATER}/jobs/{{job_id}}/status",
        "heater → fleet",
        1,
        False,
        "JobStatus",
        "progress of a job taken by this heater",
    ),
    TopicSpec(
        f"{HEATER}/jobs/{{job_id}}/result",
        "heater → fleet",
        1,
        False,
        "JobResult",
        "the outcome, once per job id",
    ),
    TopicSpec(
        "homeassistant/{component}/{node_id}/{object_id}/config",
        "heater → HA",
        1,
        True,
        "Home Assistant discovery config",
        "the climate entity and sensors",
    ),
    TopicSpec(
        "homeassistant/status",
        "HA → heater",
        1,
        False,
        "text: `online` / `offline`",
        "on `online` the heater publishes discovery again",
    ),
)
