"""The `[control]` config section: the control law, its period, the safety interlocks' limits."""

from __future__ import annotations

from typing import Literal, Self

from pydantic import Field, model_validator

from boiler_agent.config.fields import BlameError, Section, field_doc
from boiler_agent.control.safety import SafetyLimits

# The names control.controllers.KINDS builds; a Literal must be spelled out for the type
# checker, so a test keeps the two equal.
Controller = Literal["default", "pi", "bangbang"]

# Defaults that follow heater.kind: a boiler's water may run hotter than a room's air.
# AgentConfig lays the heater's row under the [control] section before validating it.
KIND_DEFAULTS: dict[str, dict[str, float]] = {
    "room": {"max_temp_c": 30.0, "setpoint_max_c": 28.0},
    "boiler": {"max_temp_c": 75.0, "setpoint_max_c": 70.0},
}


def _by_kind(key: str) -> str:
    """'30 for a room, 75 for a boiler': a kind default in words, for the docs."""
    return ", ".join(f"{row[key]:g} for a {kind}" for kind, row in KIND_DEFAULTS.items())


class ControlConfig(Section):
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
        default=KIND_DEFAULTS["room"]["max_temp_c"],
        gt=0,
        le=95,
        description=(
            "Hard maximum of the controlled temperature, in °C: above it, no heat until the "
            "temperature has stayed over_temp_hysteresis_k below it for over_temp_hold_s. "
            "Must lie within the MCU's advertised range."
        ),
        json_schema_extra=field_doc(example=30, default_doc=_by_kind("max_temp_c")),
    )
    over_temp_hysteresis_k: float = Field(
        default=SafetyLimits.over_temp_hysteresis_k,
        gt=0,
        le=20,
        description="How far below max_temp_c the temperature must fall to lift an over "
        "temperature trip.",
    )
    over_temp_hold_s: float = Field(
        default=SafetyLimits.over_temp_hold_s,
        ge=0,
        le=3600,
        description="How long the temperature must stay that low before heat may return.",
    )
    stale_after_s: float = Field(
        default=SafetyLimits.stale_after_s,
        ge=1,
        le=60,
        description="A reading older than this means no heat until a fresh one arrives.",
    )
    stall_after_s: float = Field(
        default=SafetyLimits.stall_after_s,
        ge=1,
        le=60,
        description=(
            "A safety check this late means the loop stalled: no heat. Must exceed "
            "power.period_s, the loop that runs the checks."
        ),
    )
    runaway_window_s: float = Field(
        default=SafetyLimits.runaway_window_s,
        ge=300,
        le=3600,
        description=(
            "Runaway detection window: heating hard below the setpoint for this long must "
            "raise the temperature by runaway_min_rise_k. 300..900 s suits rooms; a large "
            "tank may need longer. Lengthen it if false alarms occur."
        ),
    )
    runaway_min_rise_k: float = Field(
        default=SafetyLimits.runaway_min_rise_k,
        gt=0,
        le=5,
        description=(
            "Minimum rise in kelvin per runaway window while heating hard; lower it for a "
            "large tank with a small heater."
        ),
    )
    cpu_margin_c: float = Field(
        default=SafetyLimits.cpu_margin_c,
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
        default=KIND_DEFAULTS["room"]["setpoint_max_c"],
        gt=0,
        le=90,
        description="Highest setpoint a remote command may set, in °C; below max_temp_c.",
        json_schema_extra=field_doc(example=28, default_doc=_by_kind("setpoint_max_c")),
    )
    weather_max_age_s: float = Field(
        default=3 * 3600.0,
        ge=0,
        le=7 * 24 * 3600.0,
        description=(
            "A room heater without an outdoor sensor takes the outdoor temperature from the "
            "fleet's retained weather message (<root>/<fleet>/weather) while it is at most this "
            "old, in seconds; older, or 0, and the control law assumes 10 °C outdoors."
        ),
    )

    @model_validator(mode="after")
    def _bounds(self) -> Self:
        if self.setpoint_min_c >= self.setpoint_max_c:
            raise BlameError(
                "setpoint_min_c",
                self.setpoint_min_c,
                f"must be below control.setpoint_max_c = {self.setpoint_max_c:g}",
                others=["setpoint_max_c"],
            )
        if self.setpoint_max_c >= self.max_temp_c:
            raise BlameError(
                "setpoint_max_c",
                self.setpoint_max_c,
                f"must be below control.max_temp_c = {self.max_temp_c:g} (reaching the "
                "setpoint must not trip the hard maximum); lower it or raise max_temp_c",
                others=["max_temp_c"],
            )
        return self

    def safety_limits(self, valid_min_c: float, valid_max_c: float) -> SafetyLimits:
        """The interlocks' limits, with the valid range the MCU advertised in its IDENT."""
        return SafetyLimits(
            max_temp_c=self.max_temp_c,
            valid_min_c=valid_min_c,
            valid_max_c=valid_max_c,
            stale_after_s=self.stale_after_s,
            stall_after_s=self.stall_after_s,
            runaway_window_s=self.runaway_window_s,
            runaway_min_rise_k=self.runaway_min_rise_k,
            cpu_margin_c=self.cpu_margin_c,
            over_temp_hysteresis_k=self.over_temp_hysteresis_k,
            over_temp_hold_s=self.over_temp_hold_s,
        )
