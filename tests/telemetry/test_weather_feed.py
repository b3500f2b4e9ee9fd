"""WeatherFeed: the fleet's retained outdoor temperature, taken while fresh, refused when bad."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from boiler_agent.telemetry.client_types import IncomingMessage
from boiler_agent.telemetry.weather import FUTURE_TOLERANCE_S, WeatherFeed

NOW = datetime(2026, 1, 15, 7, 0, tzinfo=UTC).timestamp()
TOPIC = "dh/v1/test/weather"
HOUR = 3600.0


def _message(payload: bytes) -> IncomingMessage:
    return IncomingMessage(TOPIC, payload, None, None, 0.0)


def _report(outdoor_c: object, at_s: float = NOW) -> bytes:
    stamp = datetime.fromtimestamp(at_s, UTC).isoformat()
    return json.dumps({"schema": 1, "outdoor_c": outdoor_c, "observed_at": stamp}).encode()


def _feed(*payloads: bytes) -> tuple[WeatherFeed, list[str]]:
    feed = WeatherFeed(lambda: NOW)
    for payload in payloads:
        feed.inbox.put(_message(payload))
    return feed, feed.poll()


def test_a_fresh_report_gives_the_outdoor_temperature() -> None:
    feed, errors = _feed(_report(-7.5, NOW - HOUR))
    assert errors == [] and feed.outdoor_c(3 * HOUR) == -7.5


def test_the_latest_report_wins() -> None:
    feed, _ = _feed(_report(-7.5, NOW - HOUR), _report(-3.0))
    assert feed.outdoor_c(3 * HOUR) == -3.0


@pytest.mark.parametrize(
    ("at_s", "max_age_s"),
    [(NOW - 4 * HOUR, 3 * HOUR), (NOW + 2 * FUTURE_TOLERANCE_S, 3 * HOUR), (NOW, 0.0)],
    ids=["stale", "from-the-future", "turned-off"],
)
def test_a_report_too_old_too_new_or_unwanted_is_not_used(at_s: float, max_age_s: float) -> None:
    feed, errors = _feed(_report(-7.5, at_s))
    assert errors == [] and feed.latest is not None
    assert feed.outdoor_c(max_age_s) is None


@pytest.mark.parametrize(
    ("payload", "named"),
    [
        (b"not json", "payload"),
        (_report(99.0), "outdoor_c"),
        (_report("cold"), "outdoor_c"),
        (b'{"schema": 1, "outdoor_c": NaN, "observed_at": "2026-01-15T07:00:00Z"}', "outdoor_c"),
        (b'{"schema": 1, "outdoor_c": 1.0, "observed_at": "2026-01-15T07:00:00"}', "observed_at"),
        (b'{"schema": 1, "outdoor_c": 1.0}', "observed_at"),
        (_report(1.0)[:-1] + b', "__class__": "x"}', "__class__"),
    ],
    ids=["not-json", "out-of-range", "a-string", "nan", "no-time-zone", "no-time", "extra-key"],
)
def test_a_bad_report_is_refused_counted_and_named_and_the_last_good_one_stays(
    payload: bytes, named: str
) -> None:
    feed, errors = _feed(_report(-2.0), payload)
    assert feed.rejected == 1
    assert len(errors) == 1 and named in errors[0], errors
    assert feed.outdoor_c(3 * HOUR) == -2.0


def test_an_empty_retained_message_clears_the_report() -> None:
    feed, errors = _feed(_report(-2.0), b"")
    assert errors == [] and feed.latest is None and feed.outdoor_c(3 * HOUR) is None


def test_a_refusal_names_the_field_and_the_value() -> None:
    _, errors = _feed(_report(99.0))
    assert errors == ["outdoor_c: Input should be less than or equal to 60 (got 99.0)"], errors
