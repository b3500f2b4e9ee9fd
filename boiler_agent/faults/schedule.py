"""Which faults, when, for how long: a schedule drawn from a seed, the same for the same seed.

As in FoundationDB's simulation testing, one seed replays a failure exactly: the schedule is
a pure function of (seed, count, duration), and every kind is drawn in turn before any comes
again, so a campaign of N faults covers every kind when N is at least their number.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass

WARMUP_S = 600.0  # the heater settles before the first fault
COOLDOWN_S = 900.0  # and has time to recover after the last


class Fault(enum.StrEnum):
    UNPLUG = "unplug"  # the serial port vanishes and comes back
    MCU_SILENT = "mcu_silent"  # the MCU neither hears nor speaks
    MCU_RESET = "mcu_reset"  # the MCU reboots on its own (a brown-out)
    LINE_NOISE = "line_noise"  # CRC errors and garbage on the line
    SENSOR_OPEN = "sensor_open"
    SENSOR_SHORT = "sensor_short"
    SENSOR_FROZEN = "sensor_frozen"  # stuck at one value: latches, an operator resets it
    OVERHEAT = "overheat"  # the controlled temperature forced above the hard maximum
    BODY_OVERHEAT = "body_overheat"  # the heater body past the MCU's limit (a blocked outlet)
    ONE_WAY_LINK = "one_way_link"  # the MCU stops hearing the host; readings keep coming
    WORKER_CRASH = "worker_crash"
    WORKERS_BROKEN = "workers_broken"  # the workers hang (a broken kernel cache): no heat made
    AGENT_KILL = "agent_kill"  # kill -9, then systemd's restart
    AGENT_TERM = "agent_term"  # SIGTERM (a clean stop), then a start
    TERM_IN_CHECKPOINT = "term_in_checkpoint"  # SIGTERM while a worker stops to checkpoint
    DB_CORRUPT = "db_corrupt"  # kill -9, a state database damaged while down, then a start
    CLOCK_STEP = "clock_step"  # the wall clock jumps (NTP after a boot in 1970, or back)
    DISK_FULL = "disk_full"  # the state directory's databases cannot grow
    BROKER_RESTART = "broker_restart"  # needs a broker
    BROKER_PAUSE = "broker_pause"  # a partition: the broker stops answering (SIGSTOP)
    COMMAND_FLOOD = "command_flood"  # many commands, bad ones among them
    OVERSIZED = "oversized"  # messages larger than the agent takes
    OFFER_BURST = "offer_burst"  # many job offers at once
    # The MCU's thermostat says 327 °C (a misread knob, a firmware bug): as its setpoint, or
    # as the next setpoint its schedule announces.
    THERMOSTAT_GARBAGE = "thermostat_garbage"
    # Not a fault: the occupant turns the knob 2-4 K up (until the schedule's next change). A
    # heater that cannot keep up at once must not take it for a runaway: I8 still holds.
    KNOB_UP = "knob_up"


NEEDS_BROKER = {
    Fault.BROKER_RESTART,
    Fault.BROKER_PAUSE,
    Fault.COMMAND_FLOOD,
    Fault.OVERSIZED,
    Fault.OFFER_BURST,
}
# How long a fault lasts, seconds of plant time (min, max); 0: an instant event.
DURATIONS_S: dict[Fault, tuple[float, float]] = {
    Fault.UNPLUG: (2.0, 60.0),
    Fault.MCU_SILENT: (4.0, 30.0),
    Fault.MCU_RESET: (0.0, 0.0),
    Fault.LINE_NOISE: (10.0, 120.0),
    Fault.SENSOR_OPEN: (10.0, 120.0),
    Fault.SENSOR_SHORT: (10.0, 120.0),
    Fault.SENSOR_FROZEN: (400.0, 600.0),
    Fault.OVERHEAT: (0.0, 0.0),
    # How long the outlet stays blocked: the body is held past the limit, then cools.
    Fault.BODY_OVERHEAT: (10.0, 120.0),
    Fault.ONE_WAY_LINK: (5.0, 60.0),
    Fault.WORKER_CRASH: (0.0, 0.0),
    Fault.WORKERS_BROKEN: (30.0, 120.0),
    Fault.AGENT_KILL: (5.0, 5.0),  # RestartSec=5
    Fault.AGENT_TERM: (5.0, 5.0),
    # The longest wait for a worker to stop to checkpoint: long, since a room tripped over
    # temperature makes no heat for half an hour. The start comes 5 s after the stop.
    Fault.TERM_IN_CHECKPOINT: (600.0, 1800.0),
    Fault.DB_CORRUPT: (5.0, 5.0),
    Fault.CLOCK_STEP: (0.0, 0.0),
    Fault.DISK_FULL: (30.0, 300.0),
    Fault.BROKER_RESTART: (1.0, 30.0),
    Fault.BROKER_PAUSE: (5.0, 60.0),
    Fault.COMMAND_FLOOD: (0.0, 0.0),
    Fault.OVERSIZED: (0.0, 0.0),
    Fault.OFFER_BURST: (0.0, 0.0),
    Fault.THERMOSTAT_GARBAGE: (10.0, 120.0),
    Fault.KNOB_UP: (0.0, 0.0),
}
# What a healthy heater lives through: a run with only these is still judged by I8.
BENIGN = {Fault.KNOB_UP}
MIN_GAP_S = 120.0  # between two faults' starts: each has its effect before the next


@dataclass(frozen=True)
class Injection:
    at_s: float  # plant seconds from the campaign's start
    fault: Fault
    duration_s: float
    draw: float  # a number in [0, 1) for the fault's own choices (which worker, how far)


def draw_schedule(
    seed: int, count: int, duration_s: float, kinds: tuple[Fault, ...]
) -> list[Injection]:
    """`count` faults over `duration_s`, every kind in turn, at least MIN_GAP_S apart."""
    if count < 0:
        raise ValueError(f"count must be >= 0, got {count}")
    window = duration_s - WARMUP_S - COOLDOWN_S
    if count and window < count * MIN_GAP_S:
        raise ValueError(
            f"{count} faults need at least {count * MIN_GAP_S + WARMUP_S + COOLDOWN_S:.0f} s "
            f"of campaign (--duration), got {duration_s:.0f} s"
        )
    rng = random.Random(seed)
    slack = window - count * MIN_GAP_S
    offsets = sorted(rng.uniform(0.0, slack) for _ in range(count))
    order: list[Fault] = []
    while len(order) < count:
        batch = list(kinds)
        rng.shuffle(batch)
        order += batch
    injections = []
    for index, (offset, fault) in enumerate(zip(offsets, order, strict=False)):
        low, high = DURATIONS_S[fault]
        at = WARMUP_S + index * MIN_GAP_S + offset
        injections.append(Injection(at, fault, rng.uniform(low, high), rng.random()))
    return injections
