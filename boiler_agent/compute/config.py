"""The `[compute]` config section: which work makes the heat, and how often it is saved."""

from __future__ import annotations

from pydantic import Field

from boiler_agent.compute.scheduler import DEFAULT_CHECKPOINT_INTERVAL_S
from boiler_agent.config.fields import Section


class ComputeConfig(Section):
    accept_jobs: bool = Field(
        default=True,
        description="Take compute jobs from the fleet's job pool while the heater wants heat.",
    )
    filler: bool = Field(
        default=True,
        description="Run a built-in filler kernel on the workers heat needs and no job can use.",
    )
    checkpoint_interval_s: float = Field(
        default=DEFAULT_CHECKPOINT_INTERVAL_S,
        ge=5,
        le=3600,
        description="How often a running job saves its state (temp file, fsync, rename).",
    )
    release_after_s: float = Field(
        default=600.0,
        ge=0,
        le=86_400,
        description=(
            "A fleet job held while no heat has been wanted for this long is handed back to "
            "the fleet with its checkpoints, for a heater that wants heat; 0: never."
        ),
    )
