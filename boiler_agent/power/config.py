"""The `[power]` config section: how many workers, the inner loop, the sysfs power knobs."""

from __future__ import annotations

import typing
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator

from boiler_agent.config.fields import Section, field_doc, path_exists
from boiler_agent.power.heat_meter import MeterKind

# The sysfs knobs the agent may probe; worker count and duty cycling are always used.
Actuator = Literal["rapl", "cpufreq", "pstate", "cgroup"]
ACTUATORS: tuple[Actuator, ...] = typing.get_args(Actuator)

# Values that used to switch something that is now always on. Accepted for one more release,
# ignored, each use warned about with what to do: operators' files must not break on upgrade.
ALWAYS_ON = "workers and duty cycling are always used; remove it"
RETIRED_ACTUATORS: dict[str, str] = {"workers": ALWAYS_ON, "duty": ALWAYS_ON}
AcceptedActuator = Literal[Actuator, "workers", "duty"]  # what the file may say, retired or not


def _every_knob() -> list[AcceptedActuator]:
    return [*ACTUATORS]


class PowerConfig(Section):
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
        json_schema_extra=field_doc("a path to an existing directory"),
    )
    # Typed with the retired values so that an error's index is the file's; the validator
    # drops them, so the running agent never sees one.
    actuators: list[AcceptedActuator] = Field(
        default_factory=_every_knob,
        description=(
            "The sysfs power knobs the agent may use besides workers and duty cycling (always "
            "used), each probed at start and skipped when absent: rapl (powercap limit), "
            "cpufreq (scaling_max_freq), pstate (intel_pstate max_perf_pct), cgroup (cpu.max "
            "quota). An empty list: workers and duty cycling only."
        ),
        json_schema_extra=field_doc(retired=RETIRED_ACTUATORS),
    )
    watts_per_core: float | None = Field(
        default=None,
        gt=0,
        le=500,
        description="Power of one fully busy core in watts. Unset: measured (RAPL) or estimated.",
        json_schema_extra=field_doc(example=15),
    )

    meter: MeterKind = Field(
        default="auto",
        description=(
            "What measures the heat made: rapl (the CPU package's energy counters, idle "
            "included), model (the CPU time of the agent's workers and supervisor times "
            "watts_per_core, plus idle_w) or auto (rapl where readable, else model)."
        ),
    )
    idle_w: float = Field(
        default=0.0,
        ge=0,
        le=10_000,
        description=(
            "The machine's power with no worker running, in watts: heat the model meter counts "
            "on top of the agent's CPU time (RAPL measures it)."
        ),
        json_schema_extra=field_doc(example=12),
    )

    @field_validator("sysfs_root")
    @classmethod
    def _sysfs_root(cls, value: Path) -> Path:
        if not path_exists(value, Path.is_dir):
            raise ValueError("must be an existing directory")
        return value

    @field_validator("actuators")
    @classmethod
    def _actuators(cls, value: list[AcceptedActuator]) -> list[AcceptedActuator]:
        twice = sorted({name for name in value if value.count(name) > 1})
        if twice:
            raise ValueError(f"lists {', '.join(twice)} more than once")
        return [name for name in value if name not in RETIRED_ACTUATORS]
