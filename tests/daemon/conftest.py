"""An in-process daemon rig: the real loop on a virtual clock, a fake heater, simulated workers;
and a real Mosquitto per test (the telemetry tests' fixture)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from boiler_agent.compute.simulated_pool import SimulatedPool
from boiler_agent.config import AgentConfig
from boiler_agent.daemon.clocks import VirtualClock
from boiler_agent.daemon.loop import PeriodReport
from boiler_agent.daemon.supervisor import Supervisor
from tests.daemon.fakes import FakeHeater
from tests.telemetry.conftest import broker

# A test that takes both asks for `broker` before `make_rig`: fixtures stop in the reverse order,
# so the agent stops while its broker still runs (stopped after its broker, paho's reconnect wait
# holds the agent's stop for up to a second).
__all__ = ["broker"]

WORKERS = 4


@dataclass
class Rig:
    clock: VirtualClock
    heater: FakeHeater
    pool: SimulatedPool
    agent: Supervisor
    reports: list[PeriodReport] = field(default_factory=list)
    step_world: Callable[[], None] | None = None  # default: the fake heater's advance()

    def run_for(self, seconds: float, *, each_turn: Callable[[], None] | None = None) -> None:
        """Turn the real loop for `seconds` of virtual time (the heater reports as it goes)."""
        end = self.clock.now() + seconds

        step_world = self.step_world or self.heater.advance

        def until() -> bool:
            step_world()
            if each_turn is not None:
                each_turn()
            return self.clock.now() >= end

        self.agent.run_turns(until=until, on_period=self.reports.append)

    def last(self) -> PeriodReport:
        return self.reports[-1]


def rig_config(tmp_path: Path, **sections: Any) -> AgentConfig:
    data: dict[str, Any] = {
        "state_dir": tmp_path / "state",
        "cache_dir": tmp_path / "cache",
        "heater": {"id": "h1", "fleet": "test", "kind": "room"},
        "serial": {"port": "/dev/fake-heater"},
        "mqtt": {"enabled": False},
        "status": {
            "socket": tmp_path / "status.sock",
            "control_socket": tmp_path / "control.sock",
        },
    }
    for name, values in sections.items():
        data[name] = {**data.get(name, {}), **values}
    return AgentConfig.model_validate(data)


@pytest.fixture
def make_rig(tmp_path: Path) -> Iterator[Callable[..., Rig]]:
    rigs: list[Rig] = []

    def make(
        config: AgentConfig | None = None,
        *,
        config_path: Path | None = None,
        serve_status: bool = False,
        **sections: Any,
    ) -> Rig:
        clock = VirtualClock()
        heater = FakeHeater(clock)
        pool = SimulatedPool(WORKERS, clock=clock.now, sleep=clock.sleep)
        agent = Supervisor(
            config or rig_config(tmp_path, **sections),
            clocks=clock.clocks(),
            serve_status=serve_status,
            link=heater,
            pool=pool,
            cpu_sensor=lambda: None,
            cpu_clock=lambda: 1234.5,
            config_path=config_path,
        )
        agent.start()
        rig = Rig(clock, heater, pool, agent)
        rigs.append(rig)
        return rig

    yield make
    for rig in rigs:
        rig.agent.shutdown()
