"""Thermal plants: steady state, energy balance, time constants, stability, tank draws."""

from __future__ import annotations

import math

import numpy as np
import pytest

from heater_physics.plant import (
    AMBIENT,
    BOILER,
    OFFICE,
    OUTDOOR,
    PRESETS,
    ROOM,
    WATER_J_PER_L_K,
    Draw,
    DrawSchedule,
    Link,
    Node,
    PlantKind,
    PlantPreset,
    ThermalPlant,
)

H = 3600.0
DAY = 86400.0


def conductance(preset: PlantPreset, a: str, b: str) -> float:
    (link,) = [k for k in preset.links if (k.a, k.b) == (a, b)]
    return link.conductance_w_k


def space_ua(preset: PlantPreset) -> float:
    """Loss to outdoor of a space: direct, plus the two envelope halves in series."""
    inner, outer = conductance(preset, "air", "envelope"), conductance(preset, "envelope", OUTDOOR)
    return conductance(preset, "air", OUTDOOR) + inner * outer / (inner + outer)


def linear_system(preset: PlantPreset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """dT/dt = A T + B u with u = (heater W, outdoor °C); C the node capacities."""
    names = [node.name for node in preset.nodes]
    g = np.zeros((len(names), len(names)))
    b = np.zeros((len(names), 2))
    for link in preset.links:
        assert link.buoyant_w_k == 0, "only linear plants have this exact solution"
        i = names.index(link.a)
        g[i, i] += link.conductance_w_k
        if link.b == OUTDOOR:
            b[i, 1] += link.conductance_w_k
        else:
            j = names.index(link.b)
            g[j, j] += link.conductance_w_k
            g[i, j] -= link.conductance_w_k
            g[j, i] -= link.conductance_w_k
    b[names.index(preset.heater_node), 0] = 1.0
    capacity = np.array([node.capacity_j_k for node in preset.nodes])
    return -g / capacity[:, None], b / capacity[:, None], capacity


def exact(
    preset: PlantPreset, start: np.ndarray, power_w: float, outdoor_c: float, t: float
) -> np.ndarray:
    a, b, _ = linear_system(preset)
    steady = np.linalg.solve(a, -b @ np.array([power_w, outdoor_c]))
    values, vectors = np.linalg.eig(a)
    decay = vectors @ np.diag(np.exp(values * t)) @ np.linalg.solve(vectors, start - steady)
    return np.real(steady + decay)


def temps(plant: ThermalPlant) -> np.ndarray:
    return np.array(list(plant.node_temps_c().values()))


def run(
    plant: ThermalPlant,
    total_s: float,
    dt_s: float,
    power_w: float,
    outdoor_c: float,
    *,
    draw_l_per_min: float = 0.0,
) -> None:
    for _ in range(round(total_s / dt_s)):
        plant.step(dt_s, power_w, outdoor_c, draw_l_per_min)


def test_presets_are_named_and_report_the_controlled_temperature_first() -> None:
    assert set(PRESETS) >= {"room", "office", "boiler"}
    assert ROOM.sensor_nodes == ("air", "heater")
    assert OFFICE.controlled_node == "air"
    assert BOILER.sensor_nodes == ("tank_top", "tank_bottom", "heater")
    assert BOILER.kind is PlantKind.TANK and ROOM.kind is OFFICE.kind is PlantKind.SPACE
    assert (ROOM.rated_power_w, OFFICE.rated_power_w, BOILER.rated_power_w) == (500, 1500, 4000)


def test_preset_physics_is_in_the_intended_range() -> None:
    assert 18.0 <= space_ua(ROOM) <= 22.0
    air = ROOM.nodes[0].capacity_j_k / sum(
        k.conductance_w_k for k in ROOM.links if "air" in (k.a, k.b)
    )
    assert 0.5 * H <= air <= 2 * H, f"room air time constant {air / H:.2f} h"
    standing = sum(k.conductance_w_k for k in BOILER.links if k.b == AMBIENT)
    assert 2.0 <= standing <= 3.0
    tank_l = (
        sum(n.capacity_j_k for n in BOILER.nodes if n.name.startswith("tank")) / WATER_J_PER_L_K
    )
    assert tank_l == pytest.approx(200.0)


@pytest.mark.parametrize("preset", [ROOM, OFFICE], ids=lambda p: p.name)
def test_space_settles_at_outdoor_plus_power_over_ua(preset: PlantPreset) -> None:
    plant = ThermalPlant(preset)
    run(plant, 20 * DAY, H, preset.rated_power_w, -2.0)
    expected = -2.0 + preset.rated_power_w / space_ua(preset)
    air = plant.temp_c("air")
    assert air == pytest.approx(expected, abs=0.02), (
        f"steady air {air:.3f}, expected {expected:.3f}"
    )
    body = plant.temp_c("heater")
    rise = preset.rated_power_w / conductance(preset, "heater", "air")
    assert body == pytest.approx(air + rise, abs=0.02)
    assert body < preset.max_temp_c, "full power at -2 °C outdoor must not trip the hard limit"


def test_energy_balances_with_varying_inputs() -> None:
    plant = ThermalPlant(ROOM)
    for minute in range(2 * 24 * 60):
        power = 250.0 + 250.0 * math.sin(minute / 90.0)
        plant.step(60.0, power, 5.0 + 4.0 * math.cos(minute / 300.0))
    account = plant.energy()
    assert account.heat_in_j > 0 and account.lost_j > 0
    assert abs(account.balance_error_j) < 0.005 * account.heat_in_j
    assert abs(account.balance_error_j) < 1.0, "the account should balance to rounding"


def test_boiler_energy_balances_with_draws() -> None:
    plant, draws = ThermalPlant(BOILER), DrawSchedule()
    for second in range(0, int(DAY), 30):
        plant.step(30.0, 450.0, -5.0, draws.flow_l_per_min(second))
    account = plant.energy()
    assert account.drawn_j > 160 * WATER_J_PER_L_K * 30.0, "160 L/day at 40+ °C should be drawn"
    assert abs(account.balance_error_j) < 0.005 * account.heat_in_j


@pytest.mark.parametrize("steps", [1, 7, 1000])
def test_single_node_cools_with_its_time_constant(steps: int) -> None:
    # C = 1 MJ/K, G = 100 W/K: tau = 10 000 s.
    preset = PlantPreset(
        name="lump",
        kind=PlantKind.SPACE,
        rated_power_w=100,
        min_temp_c=-50.0,
        max_temp_c=100.0,
        nodes=(Node("mass", 1e6, 30.0),),
        links=(Link("mass", OUTDOOR, 100.0),),
        heater_node="mass",
        sensor_nodes=("mass",),
        schedule=((0.0, 20.0),),
    )
    plant = ThermalPlant(preset)
    run(plant, 10_000.0, 10_000.0 / steps, 0.0, 10.0)
    expected = 10.0 + 20.0 / math.e
    assert plant.temp_c("mass") == pytest.approx(expected, abs=0.01)


def test_room_cools_along_the_exact_solution_with_its_slowest_time_constant() -> None:
    plant = ThermalPlant(ROOM)
    start = temps(plant)
    a, _, _ = linear_system(ROOM)
    slowest = -1.0 / max(np.linalg.eigvals(a).real)
    assert 24 * H < slowest < 72 * H, f"slowest time constant {slowest / H:.1f} h"
    excess, elapsed = [], 0
    for hours in (1, 6, 24, 48, 72):
        run(plant, (hours - elapsed) * H, 60.0 if hours == 1 else 900.0, 0.0, 0.0)
        elapsed = hours
        want = exact(ROOM, start, 0.0, 0.0, hours * H)
        np.testing.assert_allclose(temps(plant), want, atol=1e-3, err_msg=f"after {hours} h")
        excess.append(plant.temp_c("air"))
    # Once the fast modes (minutes, 2.4 h) have died, the air cools with the slowest one.
    assert excess[4] / excess[3] == pytest.approx(math.exp(-24 * H / slowest), rel=0.01)


@pytest.mark.parametrize(
    ("dt_s", "steps"), [(0.001, 2000), (7.0, 1000), (3600.0, 48), (2 * DAY, 1)]
)
def test_any_step_size_matches_the_exact_solution(dt_s: float, steps: int) -> None:
    plant = ThermalPlant(ROOM)
    start = temps(plant)
    run(plant, dt_s * steps, dt_s, 500.0, -5.0)
    want = exact(ROOM, start, 500.0, -5.0, dt_s * steps)
    np.testing.assert_allclose(temps(plant), want, atol=1e-3)


def test_hour_steps_match_second_steps_with_power_switching() -> None:
    coarse, fine = ThermalPlant(OFFICE), ThermalPlant(OFFICE)
    for hour in range(24):
        power = 1500.0 if hour % 8 < 4 else 0.0
        coarse.step(H, power, -3.0)
        run(fine, H, 10.0, power, -3.0)
        np.testing.assert_allclose(temps(coarse), temps(fine), atol=1e-3, err_msg=f"hour {hour}")


def test_boiler_is_stable_for_huge_steps_and_tiny_steps() -> None:
    huge, hourly = ThermalPlant(BOILER), ThermalPlant(BOILER)
    huge.step(2 * DAY, 100.0, 0.0, 8.0)
    run(hourly, 2 * DAY, H, 100.0, 0.0, draw_l_per_min=8.0)
    np.testing.assert_allclose(temps(huge), temps(hourly), atol=1e-6)
    # A constant draw with a little heat settles near mains + heat / (flow * rho * c).
    settled = BOILER.mains_c + 100.0 / (8.0 / 60.0 * WATER_J_PER_L_K)
    assert huge.temp_c("tank_top") == pytest.approx(settled, abs=0.2)
    tiny, once = ThermalPlant(BOILER), ThermalPlant(BOILER)
    for _ in range(2000):
        tiny.step(0.001, BOILER.rated_power_w, 0.0, 8.0)
    once.step(2.0, BOILER.rated_power_w, 0.0, 8.0)
    np.testing.assert_allclose(temps(tiny), temps(once), atol=1e-6)


def test_draw_cools_the_bottom_layer_more_than_the_top() -> None:
    plant = ThermalPlant(BOILER)
    before = plant.node_temps_c()
    for _ in range(300):  # a 40 L shower: 5 min at 8 L/min
        plant.step(1.0, 0.0, 0.0, 8.0)
    after = plant.node_temps_c()
    bottom = before["tank_bottom"] - after["tank_bottom"]
    top = before["tank_top"] - after["tank_top"]
    assert bottom > 5.0, (
        f"40 L of 10 °C mains into 100 L should cool the bottom, got {bottom:.2f} K"
    )
    assert bottom > 3 * top, f"bottom cooled {bottom:.2f} K, top {top:.2f} K"
    # The heat carried off is the 40 L that left the top, from about 55 °C to 10 °C mains.
    assert plant.energy().drawn_j == pytest.approx(40 * WATER_J_PER_L_K * 45.0, rel=0.05)


def test_heat_from_below_mixes_into_the_top_layer() -> None:
    plant = ThermalPlant(BOILER)
    start_top = plant.temp_c("tank_top")
    run(plant, 2 * H, 30.0, BOILER.rated_power_w, 0.0)
    after = plant.node_temps_c()
    assert after["tank_top"] - start_top > 8.0, "buoyancy should carry heat upward"
    inversion = after["tank_bottom"] - after["tank_top"]
    assert 0.0 < inversion < 4.0
    assert after["heater"] == pytest.approx(after["tank_bottom"] + 15, abs=1)


def test_draw_schedule_flows_by_time_of_day() -> None:
    draws = DrawSchedule()
    assert draws.litres_per_day == pytest.approx(160.0)
    assert draws.flow_l_per_min(7 * H + 120) == 8.0
    assert draws.flow_l_per_min(7 * H + 301) == 0.0  # 40 L at 8 L/min lasts 5 min
    assert isinstance(draws.flow_l_per_min(3 * H), float)
    assert draws.flow_l_per_min(3 * DAY + 19 * H + 60) == 8.0
    assert sum(draws.flow_l_per_min(t) / 60.0 for t in range(int(DAY))) == pytest.approx(160, abs=1)


def test_draws_overlap_and_cross_midnight() -> None:
    draws = DrawSchedule([Draw(23.95, 40.0, 8.0), Draw(0.0, 10.0, 2.0)])
    assert draws.flow_l_per_min(23.99 * H) == 8.0
    assert draws.flow_l_per_min(DAY + 60) == 10.0
    assert draws.flow_l_per_min(DAY + 200) == 2.0
    with pytest.raises(ValueError, match="bad draw"):
        DrawSchedule([Draw(25.0, 10.0, 8.0)])


def test_bad_inputs_are_refused() -> None:
    plant = ThermalPlant(ROOM)
    for args in [(-1.0, 0.0, 0.0), (1.0, -5.0, 0.0), (1.0, 0.0, math.nan), (math.inf, 0.0, 0.0)]:
        with pytest.raises(ValueError):
            plant.step(*args)
    with pytest.raises(ValueError, match="'attic' is not a node"):
        PlantPreset(**{**ROOM.__dict__, "heater_node": "attic"})
    with pytest.raises(ValueError, match="joins unknown nodes"):
        PlantPreset(**{**ROOM.__dict__, "links": (Link("air", "cellar", 1.0),)})
    with pytest.raises(ValueError, match="no sensor node"):
        PlantPreset(**{**ROOM.__dict__, "sensor_nodes": ()})
    with pytest.raises(KeyError, match="boundary"):
        plant.temp_c(OUTDOOR)


def test_sensors_read_their_nodes_in_the_presets_order() -> None:
    plant = ThermalPlant(BOILER)
    run(plant, H, 60.0, BOILER.rated_power_w, 0.0)
    nodes = plant.node_temps_c()
    assert plant.sensor_temps_c() == tuple(nodes[name] for name in BOILER.sensor_nodes)
