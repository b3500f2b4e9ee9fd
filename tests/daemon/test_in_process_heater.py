"""The real loop and the real link against the simulated MCU, in-process on a virtual clock."""

from __future__ import annotations

from pathlib import Path

from boiler_agent.compute.simulated_pool import SimulatedPool
from boiler_agent.daemon.clocks import VirtualClock
from boiler_agent.daemon.supervisor import Supervisor
from boiler_agent.durations import HOUR_S
from boiler_agent.faults.harness import TURN_S
from firmware_bridge.link import LinkState
from firmware_bridge.simulator.in_process import InProcessHeater
from firmware_bridge.simulator.world import SENSOR_AT_NODE
from tests.daemon.conftest import WORKERS, Rig, rig_config
from tests.daemon.fakes import FakeHeater


def _rig(
    tmp_path: Path, *, start_day: int = 75, start_hour: float = 11.0
) -> tuple[Rig, InProcessHeater]:
    """The real agent against the in-process room heater, by default a mild March noon."""
    clock = VirtualClock()
    heater = InProcessHeater(
        "room", clock=clock.now, seed=1, start_day=start_day, start_hour=start_hour
    )
    pool = SimulatedPool(WORKERS, clock=clock.now, sleep=clock.sleep)
    agent = Supervisor(
        rig_config(tmp_path),
        clocks=clock.clocks(),
        serve_status=False,
        link=heater.link,
        pool=pool,
        cpu_sensor=lambda: None,
        turn_s=TURN_S,  # the campaign's turns: hours of plant time in seconds
    )
    agent.start()
    rig = Rig(clock, FakeHeater(clock), pool, agent, step_world=heater.pump)
    return rig, heater


def _room_c(heater: InProcessHeater) -> float:
    temps = heater.world.snapshot().temperatures_c
    return temps[SENSOR_AT_NODE[heater.heater.plant.controlled_node]]


def test_the_link_handshakes_and_the_room_follows_a_raised_knob(tmp_path: Path) -> None:
    rig, heater = _rig(tmp_path)
    try:
        rig.run_for(30.0)
        assert heater.link.state is LinkState.UP
        latest = rig.agent.latest
        assert latest is not None and latest.identity is not None
        assert latest.identity.serial_number == heater.config.serial_number
        start_c = _room_c(heater)
        heater.world.turn_knob(start_c + 2.0)
        rig.run_for(2 * HOUR_S)
        assert heater.mcu.counters.leases_granted > 0
        assert _room_c(heater) > start_c + 1.5, f"{start_c:.2f} -> {_room_c(heater):.2f} °C"
        assert not rig.last().trips, rig.last().trips
    finally:
        rig.agent.shutdown()


def test_a_replugged_port_is_reconnected_and_heat_resumes(tmp_path: Path) -> None:
    rig, heater = _rig(tmp_path)
    try:
        heater.world.turn_knob(25.0)
        rig.run_for(60.0)
        assert rig.last().lease_s == 3.0
        heater.unplug()
        rig.run_for(10.0)
        assert heater.link.state is not LinkState.UP
        assert rig.last().lease_s is None  # no MCU accepted: no heartbeat at all
        heater.plug()
        rig.run_for(20.0)
        assert heater.link.state is LinkState.UP
        assert heater.link.stats.reconnects >= 1
        assert rig.last().lease_s == 3.0
    finally:
        rig.agent.shutdown()


def test_a_cold_morning_with_an_undersized_heater_is_not_a_runaway(tmp_path: Path) -> None:
    """Mid-January at 6:00 the 500 W room heater loses ground at first: heat that does not win
    against the cold is not a sensor that lost the heat (a false trip seen in-process)."""
    rig, heater = _rig(tmp_path, start_day=15, start_hour=6.0)
    try:
        rig.run_for(30.0)
        heater.world.turn_knob(_room_c(heater) + 2.0)
        rig.run_for(HOUR_S)
        tripped = {kind for report in rig.reports for kind in report.trips}
        assert not tripped, tripped
    finally:
        rig.agent.shutdown()
