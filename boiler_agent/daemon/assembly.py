"""Build the daemon's parts from the config: the heater side, compute, power, the uplink.

`assemble()` takes optional stand-ins for the hardware (a heater link, a worker pool) so the
whole loop runs in-process against simulated parts: the fault campaign, the fleet benchmark
and the daemon's own tests build it that way; `boiler-agent run` builds the real ones.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

from boiler_agent.compute.pool import Pool, WorkerPool
from boiler_agent.compute.scheduler import DEFAULT_FILLER, JobScheduler
from boiler_agent.compute.store import JobStore
from boiler_agent.config import AgentConfig
from boiler_agent.daemon.clocks import Clocks
from boiler_agent.daemon.energy import EnergyCounter, Submit
from boiler_agent.daemon.heater_side import HeaterPort, HeaterSide
from boiler_agent.daemon.power_stage import PowerStage, probe_frequency_knob
from boiler_agent.daemon.uplink import Uplink, UplinkSettings
from boiler_agent.paths import numba_cache_dir
from boiler_agent.telemetry.client import ClientSettings
from boiler_agent.telemetry.job_feed import JobFeed
from boiler_agent.telemetry.topics import Topics
from firmware_bridge.link import HeaterLink

log = logging.getLogger(__name__)

MIN_HISTORICAL_AFTER_S = 30.0


@dataclass
class Parts:
    config: AgentConfig
    heater: HeaterSide
    scheduler: JobScheduler[Pool]
    power: PowerStage
    energy: EnergyCounter
    uplink: Uplink | None
    feed: JobFeed | None
    workers: int
    submit_write: Submit | None = None  # the background writer: no fsync on the loop's thread


def assemble(
    config: AgentConfig,
    clocks: Clocks,
    *,
    boot_id: str,
    link: HeaterPort | None = None,
    pool: Pool | None = None,
    submit_write: Submit | None = None,
) -> Parts:
    """Every part, built and connected; nothing started (no thread, no connection yet)."""
    energy = EnergyCounter(config.state_dir / "energy.json", submit_write)
    if link is None:
        link = HeaterLink(
            config.serial.port,
            baudrate=config.serial.baudrate,
            reconnect_max_s=config.serial.reconnect_max_s,
        )
    heater = HeaterSide(
        link, expected_kind=config.heater.kind, expected_serial=config.heater.expected_serial
    )
    workers = pool.size if pool is not None else config.power.max_workers or os.cpu_count() or 1
    # No fsync on the control loop's thread: the store's syncer makes commits durable.
    store = JobStore(config.state_dir / "jobs.sqlite", sync_off_thread=True)
    # The supervisor's CPU time is heat made by real workers' machine; a stand-in pool's is not.
    own_busy_seconds: Callable[[], float] | None = time.process_time if pool is None else None
    if pool is None:
        pool = WorkerPool(workers, cache_dir=str(numba_cache_dir(config.cache_dir)))
    scheduler = JobScheduler(
        store,
        pool,
        checkpoint_dir=config.state_dir / "checkpoints",
        checkpoint_interval_s=config.compute.checkpoint_interval_s,
        filler=DEFAULT_FILLER if config.compute.filler else None,
    )
    scheduler.set_active(0)
    power = PowerStage(
        scheduler,
        workers,
        period_s=config.power.period_s,
        watts_per_core=config.power.watts_per_core,
        frequency=probe_frequency_knob(config.power.actuators, config.power.sysfs_root),
        rated_power_w=config.heater.rated_power_w,
        meter=config.power.meter,
        idle_w=config.power.idle_w,
        own_busy_seconds=own_busy_seconds,
        sysfs_root=config.power.sysfs_root,
    )
    uplink: Uplink | None = None
    feed: JobFeed | None = None
    if config.mqtt.enabled:
        uplink = build_uplink(config, clocks, boot_id)
        if config.compute.accept_jobs:
            from boiler_agent.compute.memory import shard_memory_budget

            feed = JobFeed(
                uplink.client,
                uplink.topics,
                store,
                pool=config.mqtt.job_pool,
                clock=clocks.wall,
                monotonic=clocks.monotonic,
                workers=workers,
                memory_budget_bytes=shard_memory_budget(workers),
                checkpoint_dir=config.state_dir / "checkpoints",
                release_after_s=config.compute.release_after_s,
                event=uplink.publish_event,
            )
    else:
        log.info("MQTT is disabled (mqtt.enabled = false): no telemetry, no fleet jobs")
    return Parts(config, heater, scheduler, power, energy, uplink, feed, workers, submit_write)


def build_uplink(config: AgentConfig, clocks: Clocks, boot_id: str) -> Uplink:
    mqtt = config.mqtt
    topics = Topics(config.heater.fleet, config.heater.id, root=mqtt.topic_root)
    password = mqtt.resolved_password()
    return Uplink(
        UplinkSettings(
            client=ClientSettings(
                url=mqtt.url,
                client_id=config.mqtt_client_id,
                availability_topic=topics.availability,
                username=mqtt.username,
                password=password.get_secret_value() if password else None,
                ca_file=mqtt.ca_file,
                cert_file=mqtt.cert_file,
                key_file=mqtt.key_file,
                keepalive_s=mqtt.keepalive_s,
                session_expiry_s=mqtt.session_expiry_s,
                will_delay_s=mqtt.will_delay_s,
                historical_after_s=max(MIN_HISTORICAL_AFTER_S, 3 * mqtt.telemetry_period_s),
            ),
            topics=topics,
            weather_zone=config.heater.weather_zone,
            outbox_path=config.state_dir / "outbox.sqlite",
            outbox_max_bytes=int(mqtt.outbox_max_mb * 1024 * 1024),
            outbox_max_age_s=mqtt.outbox_max_age_h * 3600.0,
            setpoint_range_c=(config.control.setpoint_min_c, config.control.setpoint_max_c),
            ha_discovery=config.homeassistant.discovery,
            ha_prefix=config.homeassistant.prefix,
        ),
        boot_id=boot_id,
        wall_clock=clocks.wall,
        monotonic=clocks.monotonic,
    )
