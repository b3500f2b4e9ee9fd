"""The fleet benchmark, small: two real agents, a quarter of a day, both modes, every key."""

from __future__ import annotations

from pathlib import Path

import pytest

from boiler_agent.benchmarks import fleet
from boiler_agent.durations import DAY_S, HOUR_S
from boiler_agent.telemetry.local_broker import LocalBroker

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]


def test_the_scenario_is_the_issues_mix_in_two_climates_and_four_zones() -> None:
    heaters = fleet.heaters_for(20)
    kinds = [h.preset for h in heaters]
    assert (kinds.count("room"), kinds.count("office"), kinds.count("boiler")) == (12, 6, 2)
    assert {h.climate for h in heaters} == set(fleet.CLIMATES)
    assert {h.zone_h for h in heaters} == {0.0, 1.0, 2.0, 3.0}
    jobs = fleet.jobs_for(1, 20, 7)
    assert 150 <= len(jobs) <= 250  # 200 expected
    assert all(fleet.MIN_JOB_CPU_S <= j.cpu_s <= fleet.MAX_JOB_CPU_S for j in jobs)
    assert fleet.jobs_for(1, 20, 7) == jobs  # a seed replays its stream


def test_start_day_moves_every_heaters_plant_to_that_day(tmp_path: Path) -> None:
    """`--start-day 105` runs the fleet in mid-April: each plant's calendar, hence its weather."""
    assert {h.start_day for h in fleet.heaters_for(20)} == {fleet.START_DAY}
    april = fleet.heaters_for(4, start_day=105)
    assert {h.start_day for h in april} == {105}
    broker = LocalBroker(workdir=tmp_path / "broker")
    broker.start()
    try:
        heater = fleet.FleetHeater(april[3], tmp_path, str(broker.url), 0.0, lambda _: 600.0)
        try:
            hour = (fleet.START_HOUR + april[3].zone_h) * HOUR_S
            assert heater.heater.world.sim_time_s == pytest.approx(104 * DAY_S + hour)
        finally:
            heater.agent.shutdown()
    finally:
        broker.stop()


def test_a_small_fleet_runs_both_modes_and_reports_every_key() -> None:
    result = fleet.run(heaters=2, days=0.25, seeds=1, drain_s=8 * HOUR_S)
    for key in (
        "heaters",
        "jobs_done",
        "p50_completion_h",
        "p95_completion_h",
        "fleet_valorisation",
        "handoffs",
        "handoff_failures",
        "results_identical",
        "messages_per_heater_hour",
        "bytes_per_heater_hour",
    ):
        assert key in result, key
    assert result["heaters"] == 2
    for mode in ("stay", "follow"):
        assert result["jobs_done"][mode] == result["jobs"], result
        assert result["jobs_failed"][mode] == 0, result
    assert result["jobs"] >= 1, result
    assert result["results_identical"] is True
    assert result["handoff_failures"] == 0
    assert result["fleet_valorisation"] is not None and result["fleet_valorisation"] >= 0.9
    assert result["messages_per_heater_hour"] > 0 and result["bytes_per_heater_hour"] > 0
    # A job of one shard runs on one core: its own run time is the floor of its completion.
    for mode in ("stay", "follow"):
        assert result["p95_completion_h"][mode] >= result["p95_floor_h"] > 0, result


def test_one_mode_and_one_seed_alone_report_that_mode_and_seed_only(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """A scale run (`--mode follow`) pays for one mode, not both."""
    import json

    arguments = ["--heaters", "1", "--days", "0.05", "--mode", "follow", "--drain-h", "0"]
    assert fleet.main([*arguments, "--seed", "2", "--start-day", "105", "--json"]) == 0
    result = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert result["seed"] == 2, "--seed runs that seed alone"
    assert result["start_day"] == 105, result
    assert set(result["jobs_done"]) == set(result["wall_s"]) == {"follow"}, result
    assert result["heater_cpu_s_per_hour"] > 0 and result["broker_cpu_share"] is not None


def test_seed_and_seeds_together_are_refused(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        fleet.main(["--seeds", "3", "--seed", "2", "--json"])
    assert exit_.value.code == 2
    assert "--seed" in capsys.readouterr().err


@pytest.mark.parametrize("day", ["0", "366"])
def test_a_start_day_outside_the_year_is_refused_by_name(
    day: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert fleet.main(["--start-day", day, "--json"]) == 2
    assert f"--start-day must be in [1, 365], got {day}" in capsys.readouterr().err
