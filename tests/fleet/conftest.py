"""A real Mosquitto per test (the telemetry tests' fixture)."""

from tests.telemetry.conftest import broker

__all__ = ["broker"]
