"""Thermal plants of the heater: rooms and a water tank as small RC networks, stepped in time."""

from __future__ import annotations

import enum
import math
from collections.abc import Sequence
from dataclasses import dataclass

from heater_physics.units import DAY_S, HOUR_S

OUTDOOR = "outdoor"  # boundary: the weather's outdoor temperature
AMBIENT = "ambient"  # boundary: the fixed indoor temperature around a boiler
BOUNDARIES = (OUTDOOR, AMBIENT)
# Sub-step at most this fraction of the fastest node's time constant C/ΣG. Every eigenvalue is
# within 2/tau (Gershgorin), so h*|lambda| <= 0.4: far inside RK4's stability limit of 2.78, and
# an exponential decay comes out within 1e-5 of exact.
STEP_FRACTION_OF_TAU = 0.2
# Classic Runge-Kutta: (weight of this stage's rate, fraction of the step to the next stage).
RK4_STAGES = ((1 / 6, 0.5), (1 / 3, 0.5), (1 / 3, 1.0), (1 / 6, 0.0))
WATER_J_PER_L_K = 4180.0  # rho*c of water: ~1 kg/L * 4180 J/(kg K)


class PlantKind(enum.StrEnum):
    """What the heater warms: the air of a space, or a tank of water."""

    SPACE = "space"
    TANK = "tank"


@dataclass(frozen=True)
class Node:
    name: str
    capacity_j_k: float
    initial_c: float


@dataclass(frozen=True)
class Link:
    """Conductance from node `a` to node or boundary `b`.

    `buoyant_w_k` is added while `a` (the lower layer of a tank) is warmer than `b`: water
    heated from below rises and mixes, a cold bottom under a hot top stays stratified.
    """

    a: str
    b: str
    conductance_w_k: float
    buoyant_w_k: float = 0.0


@dataclass(frozen=True)
class PlantPreset:
    name: str
    kind: PlantKind
    rated_power_w: int
    min_temp_c: float  # hard limits the MCU advertises for every sensor
    max_temp_c: float
    nodes: tuple[Node, ...]
    links: tuple[Link, ...]
    heater_node: str
    sensor_nodes: tuple[str, ...]  # nodes with a sensor; the first is the controlled one
    schedule: tuple[tuple[float, float], ...]  # (hour of day, setpoint °C)
    ambient_c: float = 18.0
    mains_c: float = 10.0
    draw_path: tuple[str, ...] = ()  # tank layers mains water flows through, inlet first

    def __post_init__(self) -> None:
        names = [node.name for node in self.nodes]
        known = set(names) | set(BOUNDARIES)
        problems = [f"duplicate node names {names}"] if len(set(names)) != len(names) else []
        problems += [
            f"node {n.name} capacity {n.capacity_j_k}" for n in self.nodes if not n.capacity_j_k > 0
        ]
        for link in self.links:
            if link.a not in names or link.b not in known or link.a == link.b:
                problems.append(f"link {link.a}->{link.b} joins unknown nodes")
            if not (link.conductance_w_k >= 0 and link.buoyant_w_k >= 0):
                problems.append(f"link {link.a}->{link.b} has a negative conductance")
        used = [self.heater_node, *self.sensor_nodes, *self.draw_path]
        problems += [f"{node!r} is not a node" for node in used if node not in names]
        if not self.sensor_nodes:
            problems.append("no sensor node")
        if not self.min_temp_c < self.max_temp_c:
            problems.append(f"limits {self.min_temp_c}..{self.max_temp_c}")
        if problems:
            raise ValueError(f"plant preset {self.name!r}: " + "; ".join(problems))

    @property
    def controlled_node(self) -> str:
        """The node whose temperature the heater is there to hold."""
        return self.sensor_nodes[0]


@dataclass(frozen=True)
class EnergyAccount:
    """Joules since the start: heat_in - lost - drawn = stored, to rounding."""

    heat_in_j: float  # from the heater
    lost_j: float  # through links to the outdoor or the ambient
    drawn_j: float  # carried off by hot water above mains temperature
    stored_j: float  # sum of C * (T - T_initial) over the nodes

    @property
    def balance_error_j(self) -> float:
        return self.heat_in_j - self.lost_j - self.drawn_j - self.stored_j


class ThermalPlant:
    """The preset's network stepped in time; time is passed in.

    Nodes are heat capacities; links are conductances between nodes or to a boundary (the
    weather's outdoor air, or the fixed ambient around a boiler). A hot-water draw pushes mains
    water through the tank layers, bottom first. Runge-Kutta 4 on sub-steps short enough for
    any step the caller takes; the energy account balances to rounding.
    """

    def __init__(self, preset: PlantPreset) -> None:
        self.preset = preset
        index = {node.name: i for i, node in enumerate(preset.nodes)}
        count = len(preset.nodes)
        # Boundaries sit after the nodes in the temperature list, so links index one list.
        self._outdoor, self._ambient, self._mains = count, count + 1, count + 2
        index |= {OUTDOOR: self._outdoor, AMBIENT: self._ambient}
        self._links = [
            (index[k.a], index[k.b], k.conductance_w_k, k.buoyant_w_k) for k in preset.links
        ]
        self._capacity = [node.capacity_j_k for node in preset.nodes]
        self._temps = [node.initial_c for node in preset.nodes]
        self._temps += [preset.ambient_c, preset.ambient_c, preset.mains_c]
        self._heater = index[preset.heater_node]
        self._index = index
        self._sensors = [index[name] for name in preset.sensor_nodes]
        self._path = [index[name] for name in preset.draw_path]
        # Per node: the largest conductance it can see (buoyancy on) for the stability bound.
        self._g_max = [0.0] * count
        for a, b, g, g_up in self._links:
            for i in (a, b):
                if i < count:
                    self._g_max[i] += g + g_up
        self.elapsed_s = 0.0
        self._heat_in_j = self._lost_j = self._drawn_j = 0.0

    def step(
        self, dt_s: float, heater_power_w: float, outdoor_c: float, draw_l_per_min: float = 0.0
    ) -> None:
        """Advance dt_s seconds with the inputs held constant; any dt from ms to hours."""
        for label, value in (("dt_s", dt_s), ("power", heater_power_w), ("draw", draw_l_per_min)):
            if not (math.isfinite(value) and value >= 0):
                raise ValueError(f"{label} must be finite and >= 0, got {value}")
        if not math.isfinite(outdoor_c):
            raise ValueError(f"outdoor temperature must be finite, got {outdoor_c}")
        self._temps[self._outdoor] = outdoor_c
        flow_w_k = draw_l_per_min / 60.0 * WATER_J_PER_L_K if self._path else 0.0
        g_total = self._g_max.copy()
        for i in self._path:
            g_total[i] += flow_w_k
        tau_min = min(
            (c / g for c, g in zip(self._capacity, g_total, strict=True) if g > 0),
            default=math.inf,
        )
        substeps = max(1, math.ceil(dt_s / (STEP_FRACTION_OF_TAU * tau_min)))
        h = dt_s / substeps
        count = len(self._capacity)
        for _ in range(substeps):
            start = self._temps
            trial = start
            total = [0.0] * count
            for weight, to_next in RK4_STAGES:
                rate, lost, drawn = self._flows(trial, heater_power_w, flow_w_k)
                # Node changes and boundary flows use the same weights: the account balances.
                self._lost_j += weight * h * lost
                self._drawn_j += weight * h * drawn
                for i in range(count):
                    total[i] += weight * rate[i]
                if to_next:
                    trial = start.copy()
                    for i in range(count):
                        trial[i] += to_next * h * rate[i] / self._capacity[i]
            for i in range(count):
                start[i] += h * total[i] / self._capacity[i]
        self._heat_in_j += heater_power_w * dt_s
        self.elapsed_s += dt_s

    def _flows(
        self, temps: list[float], power_w: float, flow_w_k: float
    ) -> tuple[list[float], float, float]:
        """Net heat into each node (W), heat lost to boundaries (W), heat drawn off (W)."""
        count = len(self._capacity)
        net = [0.0] * count
        net[self._heater] += power_w
        lost = 0.0
        for a, b, g, g_up in self._links:
            diff = temps[a] - temps[b]
            flow = (g + g_up if diff > 0 else g) * diff
            net[a] -= flow
            if b < count:
                net[b] += flow
            else:
                lost += flow
        drawn = 0.0
        if flow_w_k > 0:
            upstream = temps[self._mains]
            for i in self._path:
                net[i] += flow_w_k * (upstream - temps[i])
                upstream = temps[i]
            drawn = flow_w_k * (upstream - temps[self._mains])
        return net, lost, drawn

    def sensor_temps_c(self) -> tuple[float, ...]:
        """What each of the preset's sensors would read, without noise, in `sensor_nodes` order."""
        return tuple(self._temps[i] for i in self._sensors)

    def temp_c(self, node: str) -> float:
        """One node's temperature; KeyError for a name that is not a node of the preset."""
        i = self._index[node]
        if i >= len(self._capacity):
            raise KeyError(f"{node!r} is a boundary, not a node")
        return self._temps[i]

    def set_temp(self, node: str, temp_c: float) -> None:
        """Warm or cool a node from outside the model (sun on the sensor, a hair dryer): a fault
        for campaigns to inject."""
        i = self._index[node]
        if i >= len(self._capacity):
            raise KeyError(f"{node!r} is a boundary, not a node")
        self._temps[i] = temp_c

    def node_temps_c(self) -> dict[str, float]:
        return {node.name: self._temps[i] for i, node in enumerate(self.preset.nodes)}

    def energy(self) -> EnergyAccount:
        stored = sum(
            node.capacity_j_k * (self._temps[i] - node.initial_c)
            for i, node in enumerate(self.preset.nodes)
        )
        return EnergyAccount(self._heat_in_j, self._lost_j, self._drawn_j, stored)


@dataclass(frozen=True)
class Draw:
    hour_of_day: float
    litres: float
    l_per_min: float


# A household of three or four: ~160 L/day of hot water, a shower being ~8 L/min for 5 min.
DEFAULT_DRAWS = (
    Draw(7.0, 40.0, 8.0),  # morning shower
    Draw(8.0, 10.0, 8.0),  # breakfast washing-up
    Draw(12.5, 10.0, 8.0),  # lunch
    Draw(19.0, 60.0, 8.0),  # evening bath or two showers
    Draw(21.0, 40.0, 8.0),  # late shower
)


class DrawSchedule:
    """Hot-water draws by time of day, the same every day."""

    def __init__(self, draws: Sequence[Draw] = DEFAULT_DRAWS) -> None:
        for draw in draws:
            if not (0 <= draw.hour_of_day < 24 and draw.litres > 0 and draw.l_per_min > 0):
                raise ValueError(f"bad draw {draw}: needs 0 <= hour < 24, litres and flow > 0")
        # (start s of day, duration s, flow); durations longer than a day are not meaningful.
        self._spans = [
            (d.hour_of_day * HOUR_S, min(DAY_S, d.litres / d.l_per_min * 60.0), d.l_per_min)
            for d in draws
        ]

    @property
    def litres_per_day(self) -> float:
        return sum((duration / 60.0 * flow for _, duration, flow in self._spans), start=0.0)

    def next_start_in_s(self, sim_time_s: float) -> float:
        """Seconds until the next draw starts (0 at its start); a day's draws repeat daily."""
        time_of_day = sim_time_s % DAY_S
        return min((start - time_of_day) % DAY_S for start, _, _ in self._spans)

    def flow_l_per_min(self, sim_time_s: float) -> float:
        """Total flow at that moment; overlapping draws add up, a draw may run past midnight."""
        time_of_day = sim_time_s % DAY_S
        return sum(
            (
                flow
                for start, duration, flow in self._spans
                if (time_of_day - start) % DAY_S < duration
            ),
            start=0.0,
        )


def _space(
    name: str,
    rated_power_w: int,
    *,
    c_j_k: tuple[float, float, float],
    g_w_k: tuple[float, float, float],
    schedule: tuple[tuple[float, float], ...],
) -> PlantPreset:
    """A heated space: nodes air (+ furniture), envelope, heater body (C in that order, J/K).

    g_w_k: heater-air, air-outdoor (windows, air changes) and the wall's U*A; the envelope's
    mass sits mid-wall, each half conducting twice U*A, so UA = air-outdoor + wall.
    """
    heater_air, air_outdoor, wall = g_w_k
    return PlantPreset(
        name=name,
        kind=PlantKind.SPACE,
        rated_power_w=rated_power_w,
        min_temp_c=0.0,
        max_temp_c=45.0,
        # A cold morning: the heater has been off overnight.
        nodes=(
            Node("air", c_j_k[0], 16.0),
            Node("envelope", c_j_k[1], 12.0),
            Node("heater", c_j_k[2], 16.0),
        ),
        links=(
            Link("heater", "air", heater_air),
            Link("air", OUTDOOR, air_outdoor),
            Link("air", "envelope", 2 * wall),
            Link("envelope", OUTDOOR, 2 * wall),
        ),
        heater_node="heater",
        sensor_nodes=("air", "heater"),
        schedule=schedule,
    )


# A ~30 m² room, 2.5 m high, with one 500 W heater like Qarnot's QH-1.
# C: air 75 m³ * 1206 J/(m³ K) = 90 kJ/K + ~110 kg of furniture * 1500 J/(kg K) = 250 kJ/K;
#    envelope 25 m² of outer wall and roof, 0.1 m of masonry * 1500 kg/m³ * 900 J/(kg K);
#    heater a ~20 kg aluminium body * 900 J/(kg K).
# G: heater-air 40 W/K, so 500 W runs the body 12.5 K above the air, under the 45 °C limit;
#    air-outdoor 4 m² window * U 1.4 + 0.2 air changes/h * 75 m³ * 1206 J/(m³ K) / 3600 s;
#    wall 25 m² * U 0.4 W/(m² K).
# UA = 10 + 10 = 20 W/K: 500 W holds 25 K above outdoor. Node tau C/ΣG: air 250k/70 = 1.0 h,
# envelope 3.4M/40 = 24 h, heater 18k/40 = 7.5 min.
ROOM = _space(
    "room",
    500,
    c_j_k=(250_000.0, 3_400_000.0, 18_000.0),
    g_w_k=(40.0, 10.0, 10.0),
    schedule=((7.0, 19.0), (22.0, 16.0)),
)

# A ~100 m² open office, 3 m high, with three such heaters (1500 W).
# C: air 300 m³ * 1206 J/(m³ K) = 362 kJ/K + ~600 kg of desks, partitions * 1300 J/(kg K);
#    envelope 80 m² of facade and roof, 0.12 m of concrete * 2000 kg/m³ * 900 J/(kg K);
#    three 18 kJ/K heater bodies.
# G: three heaters at 40 W/K; air-outdoor 12 m² glazing * U 1.4 = 17 W/K + 0.5 air changes/h
#    with 75 % heat recovery = 13 W/K; wall 80 m² * U 0.4 W/(m² K).
# UA = 30 + 32 = 62 W/K: 1500 W holds 24 K above outdoor. Node tau: air 1.15M/214 = 1.5 h,
# envelope 17.3M/128 = 38 h, heaters 54k/120 = 7.5 min.
OFFICE = _space(
    "office",
    1500,
    c_j_k=(1_150_000.0, 17_300_000.0, 54_000.0),
    g_w_k=(120.0, 30.0, 32.0),
    schedule=((7.0, 21.0), (19.0, 15.0)),  # office hours, set back at night
)

# A 200 L water boiler rated 4000 W: the CPUs' water loop (the heater node) feeds an exchanger
# at the bottom of a tank of two 100 L layers. Mains water enters at the bottom and hot water
# leaves at the top, so a draw cools the bottom first.
# Standing loss 1.1 + 0.7 + 0.2 = 2.0 W/K to an 18 °C room: ~1.8 kWh/day with the tank at 55 °C.
# tau C/ΣG: heater 52k/267 = 3.2 min; top layer 418k/803 = 8.7 min while the layers mix,
# 418k/2.7 = 43 h stratified.
BOILER = PlantPreset(
    name="boiler",
    kind=PlantKind.TANK,
    rated_power_w=4000,
    min_temp_c=5.0,
    max_temp_c=85.0,
    nodes=(
        Node("tank_top", 100 * WATER_J_PER_L_K, 55.0),  # 100 L * 4180 J/(L K) = 418 kJ/K
        Node("tank_bottom", 100 * WATER_J_PER_L_K, 50.0),
        # 10 L of loop water * 4180 J/(L K) + ~20 kg copper and steel * 500 J/(kg K)
        Node("heater", 52_000.0, 50.0),
    ),
    links=(
        # 4000 W across 15 K in the exchanger: the CPUs' water stays under 85 °C at 70 °C tank
        Link("heater", "tank_bottom", 267.0),
        # stratified: conduction through 0.22 m² of water and the steel wall; heated from below,
        # the plume mixes the layers (half the power crosses: ~2.5 K inversion at full power)
        Link("tank_bottom", "tank_top", 1.6, buoyant_w_k=800.0),
        # ~50 mm of foam: top layer and lid lose more than the bottom over the same area
        Link("tank_top", AMBIENT, 1.1),
        Link("tank_bottom", AMBIENT, 0.7),
        Link("heater", AMBIENT, 0.2),
    ),
    heater_node="heater",
    sensor_nodes=("tank_top", "tank_bottom", "heater"),
    schedule=((0.0, 55.0),),
    ambient_c=18.0,  # a utility room inside the heated house
    mains_c=10.0,  # cold mains water in winter
    draw_path=("tank_bottom", "tank_top"),
)

PRESETS: dict[str, PlantPreset] = {preset.name: preset for preset in (ROOM, OFFICE, BOILER)}
