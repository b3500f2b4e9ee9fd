"""`AgentConfig`: the parts' config sections composed into the one model checked at start."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Self

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from boiler_agent.compute.config import ComputeConfig
from boiler_agent.config.fields import BlameError, field_doc
from boiler_agent.control.config import KIND_DEFAULTS, ControlConfig
from boiler_agent.daemon.heater_config import HeaterConfig, SerialConfig
from boiler_agent.paths import default_cache_dir, default_state_dir
from boiler_agent.power.config import PowerConfig
from boiler_agent.runtime.config import LogConfig, StatusConfig
from boiler_agent.telemetry.config import HomeAssistantConfig, MqttConfig


class AgentConfig(BaseSettings):
    """The agent's whole configuration. Build it with `load_config`.

    The sections are in file order: the example config and the keys table follow it.
    """

    model_config = SettingsConfigDict(extra="forbid", frozen=True)

    state_dir: Path = Field(
        default_factory=default_state_dir,
        description=(
            "Where the agent keeps its state: job store, checkpoints, outbox, status. "
            "Environment: BOILER_AGENT_STATE_DIR (the unit's StateDirectory=)."
        ),
        json_schema_extra=field_doc(
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
        json_schema_extra=field_doc(
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
        # load_config has already laid the environment over the file (see loading.py).
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
            raise BlameError(
                "serial.lease_s",
                self.serial.lease_s,
                f"must exceed power.period_s = {inner:g}, the loop that refreshes the lease",
                others=["power.period_s"],
            )
        if self.control.stall_after_s <= inner:
            raise BlameError(
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


def config_digest(config: AgentConfig) -> str:
    """sha256 of the canonical JSON (secrets masked), first 16 hex digits: for the birth message."""
    canonical = json.dumps(
        config.model_dump(mode="json"), sort_keys=True, separators=(",", ":"), ensure_ascii=False
    )
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()[:16]
