"""What the default control law has learnt, as a document that outlives the process.

A heater learns its room or tank over days (the thermal model's fit, the daily draws it
pre-charges for); an upgrade, a crash or a power cut must not send it back to its first day.
The model's parameters are plain numbers. Disturbance onsets are kept as seconds before the
save, because the controller's clock (the plant clock: monotonic on a heater) restarts with the
machine; the wall clock carries them across, and a restore moves them back by the downtime.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

FORMAT_VERSION = 1


class LearntModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    theta: tuple[float, float]  # ThermalModel's [3600 Pmax / C, 3600 REF UA / C]
    cov: tuple[tuple[float, float], tuple[float, float]]
    updates: int = Field(ge=0)


class LearntForecast(BaseModel):
    model_config = ConfigDict(extra="forbid")

    lead_s: float = Field(gt=0)
    onsets_ago_s: list[float] = Field(max_length=1000)  # before `saved_at_wall`


class LearntState(BaseModel):
    """One controller's learning, for the heater it was learnt on."""

    model_config = ConfigDict(extra="forbid")

    version: int = FORMAT_VERSION
    heater_serial: str
    max_power_w: float = Field(gt=0)
    saved_at_wall: float
    model: LearntModel
    forecast: LearntForecast
