"""Telemetry and fleet: MQTT topics, payloads, the on-disk outbox, commands and jobs."""
