"""The retained birth message: who this heater and agent are, and what they can do."""

from __future__ import annotations

from datetime import datetime

from boiler_agent import __version__
from boiler_agent.config import AgentConfig, config_digest
from boiler_agent.telemetry.payloads import Birth
from firmware_bridge.events import HeaterIdentity


def birth_payload(
    config: AgentConfig,
    identity: HeaterIdentity,
    *,
    boot_id: str,
    max_power_w: float,
    workers: int,
    actuators: list[str],
    started_at: datetime,
    temperatures: list[str] | None = None,
) -> Birth:
    return Birth(
        heater_id=config.heater.id,
        fleet=config.heater.fleet,
        boot_id=boot_id,
        agent_version=__version__,
        firmware_version=identity.firmware_version,
        protocol_version=identity.protocol_version,
        heater_kind=config.heater.kind,
        rated_power_w=max_power_w,
        cpu_count=workers,
        capabilities=["jobs", "setpoint_override", "set_mode", "safety_reset"]
        + (["ha_discovery"] if config.homeassistant.discovery else []),
        actuators=actuators,
        config_digest=config_digest(config),
        started_at=started_at,
        temperatures=temperatures,  # type: ignore[arg-type]  # Temperatures keys
        display_name=config.homeassistant.name,
    )
