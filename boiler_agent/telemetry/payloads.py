"""The JSON payloads of the MQTT protocol as pydantic models: the single source of their schemas.

Every payload carries `"schema": 1` (the Python field is `schema_version`, because `schema` is
a BaseModel attribute). Unknown keys are errors, NaN and infinities are refused, timestamps are
ISO 8601 with a UTC offset. Serialise with `dump()`, so that keys are the wire names.
"""

from __future__ import annotations

from typing import Annotated, Any, Final, Literal, TypeAlias

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    JsonValue,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    model_validator,
)

from boiler_agent.heater_type import HeaterType
from boiler_agent.telemetry.topics import SCHEMA_VERSION

# Setpoints a command may carry. The protocol's absolute range covers both kinds; each kind has
# its own narrower range, which the command gate checks. The agent still clamps to its local
# safety limits whatever a command says.
ROOM_SETPOINT_RANGE_C = (5.0, 35.0)
BOILER_SETPOINT_RANGE_C = (10.0, 75.0)
SETPOINT_MIN_C = 5.0
SETPOINT_MAX_C = 75.0
MAX_OVERRIDE_S = 7 * 24 * 3600  # a forgotten override ends within a week
MAX_ID_CHARS = 64
ID_PATTERN = r"^[\x21-\x7e]+$"  # printable ASCII without spaces: safe in logs, topics, file names

SETPOINT_RANGE_C: dict[str, tuple[float, float]] = {
    "room": ROOM_SETPOINT_RANGE_C,
    "boiler": BOILER_SETPOINT_RANGE_C,
}
Mode = Literal["heat", "eco", "off", "boost"]
SetpointSource = Literal["schedule", "knob", "remote", "override"]
EventKind = Literal[
    "agent_started",
    "agent_stopping",
    "safety_trip",
    "safety_recovered",
    "fault",
    "fault_cleared",
    "mode_change",
    "setpoint_change",
    "link_lost",
    "link_back",
    "command_rejected",
    "outbox_dropped",
]
# released (schema 2): the heater stopped wanting heat and handed the job back to the fleet,
# with its checkpoints, to be offered again.
JobState = Literal["queued", "running", "preempted", "released", "done", "failed", "rejected"]
JOB_SCHEMA_VERSION: Final = 2  # job offers and statuses: schema 2 added `released` and `checkpoint`
MAX_CHECKPOINT_KEYS = 8  # a bundle is a small object; its size is bounded by the packet limit
# Why an offer was rejected. no_room and clock_unset are not the offer's fault: the fleet may
# offer it again, here or elsewhere.
JobRejectReason = Literal["invalid", "expired", "no_room", "clock_unset"]
# The trips only a reset clears (control/safety.py LATCHED; a test keeps the two equal).
LatchedTrip = Literal["frozen_sensor", "runaway", "mcu_fault", "trip_record"]

Id = Annotated[str, Field(min_length=1, max_length=MAX_ID_CHARS, pattern=ID_PATTERN)]
Celsius = Annotated[float, Field(ge=-60.0, le=150.0)]
Count = Annotated[int, Field(ge=0)]
Watts = Annotated[float, Field(ge=0.0)]
Setpoint = Annotated[float, Field(ge=SETPOINT_MIN_C, le=SETPOINT_MAX_C)]
Scalar: TypeAlias = StrictBool | StrictInt | StrictFloat | StrictStr


class Strict(BaseModel):
    """Unknown keys, NaN and infinities are errors; instances are immutable."""

    model_config = ConfigDict(
        extra="forbid", allow_inf_nan=False, frozen=True, validate_by_name=True
    )


class Payload(Strict):
    """A top-level payload: carries the schema version under the JSON key `schema`."""

    schema_version: Literal[1] = Field(
        default=SCHEMA_VERSION, alias="schema", description="payload schema version"
    )


class Birth(Payload):
    """Who the heater is: published retained once per start and on `request_birth`."""

    heater_id: str = Field(min_length=1, max_length=MAX_ID_CHARS, description="as in the topic")
    fleet: str = Field(min_length=1, max_length=MAX_ID_CHARS, description="as in the topic")
    boot_id: Id = Field(description="changes at every start of the agent")
    agent_version: str = Field(description="boiler-agent's version")
    firmware_version: str = Field(description="the heater microcontroller's firmware")
    protocol_version: Count = Field(description="version of the serial protocol to the MCU")
    heater_kind: HeaterType = Field(description="room: heats air; boiler: heats a water tank")
    rated_power_w: float = Field(gt=0.0, description="the heater's nameplate power")
    cpu_count: int = Field(ge=1, description="CPUs available to compute workers")
    capabilities: list[str] = Field(description="e.g. jobs, setpoint_override, ha_discovery")
    actuators: list[str] = Field(description="power actuators in use, e.g. cgroup, rapl")
    config_digest: str = Field(description="digest of the effective configuration")
    started_at: AwareDatetime = Field(description="when this run of the agent started")
    temperatures: list[Literal["air_c", "water_c", "outdoor_c", "cpu_package_c"]] | None = Field(
        default=None,
        description="the telemetry temperatures this heater has a sensor for; null: not said",
    )
    display_name: str | None = Field(
        default=None, max_length=100, description="a friendly name for dashboards (config)"
    )


class State(Payload):
    """The control state: published retained whenever it changes."""

    mode: Mode
    setpoint_c: Celsius = Field(description="the setpoint in force, after local limits")
    base_setpoint_c: Celsius | None = Field(
        default=None,
        description="the setpoint as set (knob, schedule, override), before the mode's "
        "adjustment (eco lowers it, boost raises it, off means frost protection)",
    )
    setpoint_source: SetpointSource = Field(description="where the setpoint in force comes from")
    override_until: AwareDatetime | None = Field(
        default=None, description="when the override or timed mode ends; null if none"
    )
    accepting_jobs: bool = Field(description="subscribed to the fleet's jobs right now")
    safety_trips: list[str] = Field(description="safety conditions active now; empty if none")


class Temperatures(Strict):
    """°C; null when the heater has no such sensor or its reading is not believed."""

    air_c: Celsius | None = None
    water_c: Celsius | None = None
    outdoor_c: Celsius | None = None
    cpu_package_c: Celsius | None = None


class JobCounts(Strict):
    """Compute jobs on this heater."""

    running: Count
    queued: Count
    done: Count = Field(description="finished since the agent started")


class Energy(Strict):
    """Persisted counters of electrical energy turned into heat; they never decrease."""

    total_kwh: float = Field(ge=0.0, description="all the energy used")
    wanted_kwh: float = Field(ge=0.0, description="the share used while heat was wanted")

    @model_validator(mode="after")
    def _wanted_within_total(self) -> Energy:
        if self.wanted_kwh > self.total_kwh:
            raise ValueError(
                f"wanted_kwh {self.wanted_kwh} must not exceed total_kwh {self.total_kwh}"
            )
        return self


class LinkHealth(Strict):
    """The serial link to the heater's microcontroller."""

    frames_ok: Count
    frames_bad: Count
    reconnects: Count
    up: bool


class OutboxCounts(Strict):
    """The on-disk outbox between the agent and the broker."""

    queued: Count = Field(description="messages waiting for the broker")
    dropped: Count = Field(description="messages dropped because the outbox was full or old")


class Sequenced(Payload):
    """A message of a stream that consumers de-duplicate by `msg_id` and order by `seq`."""

    boot_id: Id
    seq: Count = Field(description="persisted: continues across restarts")
    msg_id: Id = Field(description="unique per message; the de-duplication key")
    historical: bool = Field(default=False, description="true when sent late from the outbox")
    ts: AwareDatetime = Field(description="when the message was made, not when it was sent")


class Telemetry(Sequenced):
    """Periodic readings."""

    temperatures: Temperatures
    setpoint_c: Celsius = Field(description="the setpoint in force")
    base_setpoint_c: Celsius | None = Field(
        default=None, description="the setpoint as set, before the mode's adjustment"
    )
    mode: Mode | None = Field(default=None, description="the mode in force")
    heat_demand_w: Watts = Field(description="heat the controller asks for")
    power_w: Watts = Field(description="electrical power of the compute, i.e. heat made")
    power_estimated: bool = Field(description="true when power_w is a model, not a meter")
    workers_running: Count = Field(description="compute worker processes running")
    workers_max: Count = Field(description="workers the power allocation allows now")
    frequency_mhz: float | None = Field(default=None, gt=0.0, description="mean CPU clock")
    heat_problem: str | None = Field(
        default=None,
        max_length=300,
        description="set while heat is asked for and allowed but the workers make none: why",
    )
    duty: float = Field(ge=0.0, le=1.0, description="share of time the workers may run")
    jobs: JobCounts
    energy: Energy
    link: LinkHealth
    outbox: OutboxCounts


class Event(Sequenced):
    """Something happened: a trip, a fault, a mode change, a rejected command."""

    kind: EventKind
    reason: str = Field(description="a short machine-readable cause, e.g. over_temperature")
    details: dict[str, Scalar] = Field(default_factory=dict, description="values that explain it")


RejectReason = Literal[
    "oversized",
    "not_json",
    "not_object",
    "unknown_command",
    "invalid",
    "expired",
    "duplicate",
    "clock_unset",
]


class CommandReply(Payload):
    """The answer to a command, sent to its v5 ResponseTopic with its CorrelationData."""

    cmd_id: Id | None = Field(description="null when it could not be read from the command")
    command: str | None = Field(default=None, description="the command name from the topic")
    ok: bool = Field(description="true: the command was accepted and will be applied")
    reason: RejectReason | None = Field(default=None, description="why it was refused")
    error: str | None = Field(default=None, description="a readable explanation")
    applied: dict[str, Scalar | None] | None = Field(
        default=None, description="what the agent applied, after its own limits"
    )
    duplicate: bool = Field(default=False, description="a repeat of an earlier reply")

    @model_validator(mode="after")
    def _error_iff_refused(self) -> CommandReply:
        if self.ok == (self.error is not None or self.reason is not None):
            raise ValueError("a refused command has a reason and an error, an accepted one none")
        return self


class CommandBase(Payload):
    """What every JSON command carries."""

    cmd_id: Id = Field(description="idempotency key: a repeated cmd_id is never applied twice")
    expires_at: AwareDatetime | None = Field(
        default=None,
        description="the command is void after this: not applied later, and its effect ends",
    )


class SetpointOverride(CommandBase):
    """A setpoint until `expires_at`, or for `duration_s` from when it is applied."""

    setpoint_c: Setpoint
    duration_s: float | None = Field(default=None, gt=0.0, le=MAX_OVERRIDE_S)

    @model_validator(mode="after")
    def _exactly_one_end(self) -> SetpointOverride:
        if (self.expires_at is None) == (self.duration_s is None):
            raise ValueError("give exactly one of expires_at or duration_s")
        return self


class SetMode(CommandBase):
    """A mode, until `expires_at` if given, else until changed."""

    mode: Mode


class RequestBirth(CommandBase):
    """Publish the birth message again."""


class SafetyReset(CommandBase):
    """Clear latched safety trips, as `boiler-agent safety reset` does on the heater; recorded
    with the command's `by` and `reason`. Trips that clear by themselves are not reset."""

    reason: str = Field(min_length=1, max_length=200, description="why it is safe to heat again")
    by: str = Field(min_length=1, max_length=64, description="who asks, for the record")
    kinds: list[LatchedTrip] | None = Field(
        default=None, max_length=8, description="only these trips; null: every latched trip"
    )


class HaSetpoint(Strict):
    """Home Assistant's target temperature, sent as plain text: last writer wins."""

    setpoint_c: Setpoint


class HaMode(Strict):
    """Home Assistant's mode or preset, sent as plain text; preset `none` arrives as heat."""

    mode: Mode


class JobOffer(Payload):
    """A compute job the fleet offers on `<root>/<fleet>/jobs`; one heater of the pool takes it.

    Only a kernel from the agent's registry can run, with parameters its model accepts
    (`boiler-agent job kernels` lists them); nothing received ever runs as code.
    """

    schema_version: Literal[1, 2] = Field(  # type: ignore[assignment]
        default=JOB_SCHEMA_VERSION, alias="schema", description="1, or 2 with `checkpoint`"
    )
    job_id: Id = Field(description="idempotency key: a job id already taken is ignored")
    kernel: str = Field(min_length=1, max_length=MAX_ID_CHARS, description="a kernel name")
    params: dict[str, JsonValue] = Field(description="the kernel's parameters")
    checkpoint: dict[str, JsonValue] | None = Field(
        default=None,
        max_length=MAX_CHECKPOINT_KEYS,
        description="schema 2: the work done elsewhere, as a released status carried it "
        "(compute/handoff.py); a corrupt or foreign one is refused and the job starts afresh",
    )
    expires_at: AwareDatetime | None = Field(
        default=None, description="not taken after this (the fleet has sent it elsewhere)"
    )


class JobStatus(Payload):
    """Progress of a job this heater took; the topic names the heater it is on."""

    schema_version: Literal[1, 2] = Field(  # type: ignore[assignment]
        default=JOB_SCHEMA_VERSION, alias="schema", description="2 since `released`"
    )
    job_id: Id
    state: JobState
    progress: float = Field(ge=0.0, le=1.0, description="share of the job's work done")
    error: str | None = Field(default=None, description="why it was rejected or failed")
    reason: JobRejectReason | None = Field(
        default=None,
        description="why it was rejected, for machines: no_room and clock_unset mean the offer "
        "may be sent again (elsewhere, or later)",
    )
    checkpoint: dict[str, JsonValue] | None = Field(
        default=None,
        max_length=MAX_CHECKPOINT_KEYS,
        description="with `released`: the checkpoints to offer the job again with",
    )
    ts: AwareDatetime


class JobResult(Payload):
    """The outcome of a job, published once per job id."""

    job_id: Id
    state: Literal["done", "failed"]
    result: JsonValue = Field(default=None, description="the kernel's result when done")
    error: str | None = Field(default=None, description="why it failed")
    ts: AwareDatetime

    @model_validator(mode="after")
    def _failed_says_why(self) -> JobResult:
        if (self.state == "failed") != (self.error is not None):
            raise ValueError("a failed job has an error, a done one none")
        return self


Command: TypeAlias = SetpointOverride | SetMode | RequestBirth | SafetyReset | HaSetpoint | HaMode
JSON_COMMANDS: dict[str, type[CommandBase]] = {
    "setpoint_override": SetpointOverride,
    "set_mode": SetMode,
    "request_birth": RequestBirth,
    "safety_reset": SafetyReset,
}


class Weather(Payload):
    """The outdoor temperature where the fleet's heaters are, from the fleet's weather service:
    retained, so a heater gets the latest at every connect. A room heater without an outdoor
    sensor uses it for its heat-loss estimate (`control.weather_max_age_s`)."""

    outdoor_c: float = Field(ge=-60.0, le=60.0, description="outdoor air temperature, °C")
    observed_at: AwareDatetime = Field(description="when it was measured or forecast for")


PAYLOADS: tuple[type[Payload], ...] = (
    Birth,
    State,
    Telemetry,
    Event,
    CommandReply,
    SetpointOverride,
    SetMode,
    RequestBirth,
    SafetyReset,
    JobOffer,
    JobStatus,
    JobResult,
    Weather,
)


def all_schemas() -> dict[str, dict[str, Any]]:
    """Every JSON payload's JSON Schema by model name, with wire key names."""
    return {model.__name__: model.model_json_schema(by_alias=True) for model in PAYLOADS}


def dump(model: BaseModel) -> bytes:
    """Compact UTF-8 JSON with wire key names; `historical: false` stays, for the outbox."""
    return model.model_dump_json(by_alias=True).encode()
