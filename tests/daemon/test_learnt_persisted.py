"""The learnt model and the draw forecast survive a restart, for the heater they were learnt on."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from boiler_agent.compute.simulated_pool import SimulatedPool
from boiler_agent.control.default import ModelBased
from boiler_agent.daemon.clocks import VirtualClock
from boiler_agent.daemon.learnt_record import FILE_NAME
from boiler_agent.daemon.supervisor import Supervisor
from boiler_agent.durations import HOUR_S
from boiler_agent.faults.harness import TURN_S
from firmware_bridge.simulator.in_process import InProcessHeater
from tests.daemon.conftest import WORKERS, Rig, rig_config
from tests.daemon.fakes import FakeHeater


def _start(
    tmp_path: Path, clock: VirtualClock, heater: InProcessHeater, controller: str = "default"
) -> Rig:
    pool = SimulatedPool(WORKERS, clock=clock.now, sleep=clock.sleep)
    agent = Supervisor(
        rig_config(tmp_path, control={"controller": controller}),
        clocks=clock.clocks(),
        serve_status=False,
        link=heater.new_link(),
        pool=pool,
        cpu_sensor=lambda: None,
        turn_s=TURN_S,  # the campaign's turns: hours of plant time in seconds
    )
    agent.start()
    return Rig(clock, FakeHeater(clock), pool, agent, step_world=heater.pump)


def _controller(rig: Rig) -> ModelBased:
    loop = rig.agent.loop
    assert loop is not None
    controller = loop.regulation.controller
    assert isinstance(controller, ModelBased)
    return controller


@dataclass(frozen=True)
class Learnt:
    state_dir: Path
    stopped_at_s: float
    theta: list[float]
    updates: int


@pytest.fixture(scope="module")
def learnt(tmp_path_factory: pytest.TempPathFactory) -> Learnt:
    """An hour and a half of a January room with a knob turned up, then a clean stop."""
    tmp_path = tmp_path_factory.mktemp("learn")
    clock = VirtualClock()
    heater = InProcessHeater("room", clock=clock.now, seed=3, start_day=15, start_hour=6.0)
    rig = _start(tmp_path, clock, heater)
    rig.run_for(60.0)
    heater.world.turn_knob(21.0)
    rig.run_for(1.5 * HOUR_S)
    controller = _controller(rig)
    theta, updates = list(controller.model.theta), controller.model.updates
    assert updates >= 5, "the rig did not run long enough to learn anything"
    rig.agent.shutdown()
    return Learnt(tmp_path / "state", clock.now(), theta, updates)


def _restart(tmp_path: Path, learnt: Learnt, *, serial: str | None = None) -> Rig:
    """The learnt state directory, five minutes after the stop, on the same or another heater."""
    shutil.copytree(learnt.state_dir, tmp_path / "state")
    clock = VirtualClock(learnt.stopped_at_s + 300.0)
    heater = InProcessHeater(
        "room", clock=clock.now, seed=4, start_day=15, start_hour=9.0, serial_number=serial
    )
    return _start(tmp_path, clock, heater)


def test_a_restarted_agent_resumes_the_model_it_learnt(tmp_path: Path, learnt: Learnt) -> None:
    saved = json.loads((learnt.state_dir / FILE_NAME).read_text())
    assert saved["model"]["updates"] == learnt.updates
    rig = _restart(tmp_path, learnt)
    try:
        rig.run_for(30.0)
        controller = _controller(rig)
        assert controller.model.updates == learnt.updates
        assert controller.model.theta == learnt.theta  # no window fitted in 30 s: as saved
    finally:
        rig.agent.shutdown()


def test_a_model_learnt_on_another_heater_is_not_used(tmp_path: Path, learnt: Learnt) -> None:
    rig = _restart(tmp_path, learnt, serial="OTHER-1")
    try:
        rig.run_for(30.0)
        controller = _controller(rig)
        assert controller.model.updates == 0
        assert controller.model.theta != learnt.theta
    finally:
        rig.agent.shutdown()


def test_an_unreadable_record_means_learning_afresh_not_refusing_heat(tmp_path: Path) -> None:
    clock = VirtualClock()
    heater = InProcessHeater("room", clock=clock.now, seed=3, start_day=15, start_hour=6.0)
    state = tmp_path / "state"
    state.mkdir()
    (state / FILE_NAME).write_text('{"version": 1, "model": "not a model"')
    rig = _start(tmp_path, clock, heater)
    try:
        heater.world.turn_knob(23.0)
        rig.run_for(120.0)
        assert _controller(rig).model.updates == 0
        assert rig.last().allowed == 1.0 and rig.last().demand_w > 0
    finally:
        rig.agent.shutdown()


def test_draw_onsets_move_back_by_the_downtime() -> None:
    controller = ModelBased(3000.0, 30.0)
    controller.forecast.record(10_000.0)
    controller.forecast.record(96_400.0)
    model, forecast = controller.learnt(100_000.0)
    assert forecast.onsets_ago_s == [90_000.0, 3_600.0]
    resumed = ModelBased(3000.0, 30.0)
    # The new run's clock starts at 50 after 600 s of downtime.
    resumed.restore(model, forecast, now_s=50.0, ago_s=600.0)
    assert resumed.forecast.onsets_s == [50.0 - 600.0 - 90_000.0, 50.0 - 600.0 - 3_600.0]
    assert resumed.model.theta == controller.model.theta
