"""Simulation trace and plot: PNG output, gaps, empty trace, CSV round trip, decimation."""

from __future__ import annotations

import math
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from matplotlib.image import imread

from boiler_agent.simulation.plot import (
    FIGSIZE_IN,
    PLOT_DPI,
    outdoor_needs_own_axis,
    plot_trace,
    trace_figure,
)
from boiler_agent.simulation.trace import (
    DEFAULT_MAX_SAMPLES,
    FIELD_NAMES,
    Trace,
    TraceSample,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
EXPECTED_WIDTH_PX = round(FIGSIZE_IN[0] * PLOT_DPI)
EXPECTED_HEIGHT_PX = round(FIGSIZE_IN[1] * PLOT_DPI)


def sample(
    time_s: float,
    *,
    temp_c: float | None = 20.0,
    setpoint_c: float | None = 20.0,
    outdoor_c: float | None = 0.0,
    power_w: float = 1000.0,
    workers: int = 4,
) -> TraceSample:
    return TraceSample(
        sim_time_s=time_s,
        temp_c=temp_c,
        setpoint_c=setpoint_c,
        outdoor_c=outdoor_c,
        heat_demand_w=power_w * 1.05,
        power_w=power_w,
        workers=workers,
    )


def winter_day(*, outdoor_offset_c: float = 0.0, gaps: bool = True) -> Trace:
    """One sample a minute over a day: night setback, cold outdoor, a sensor outage."""
    trace = Trace()
    for minute in range(1440):
        hour = minute / 60
        setpoint = 21.0 if 7 <= hour < 22 else 18.0
        outdoor = outdoor_offset_c - 2.0 - 5.0 * math.cos(2 * math.pi * (hour - 3) / 24)
        outage = gaps and 600 <= minute < 660
        power = 1500.0 + 40.0 * (setpoint - outdoor)
        trace.append(
            sample(
                minute * 60.0,
                temp_c=None if outage else setpoint - 0.3 + 0.2 * math.sin(minute / 9),
                setpoint_c=setpoint,
                outdoor_c=None if gaps and minute % 97 == 0 else outdoor,
                power_w=power,
                workers=min(8, int(power // 300)),
            )
        )
    return trace


def assert_png(path: Path) -> None:
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    pixels = imread(path)
    height, width = pixels.shape[:2]
    assert height > 0
    assert width > 0
    # tight layout rearranges inside the canvas, it does not crop it
    assert abs(width - EXPECTED_WIDTH_PX) <= 2
    assert abs(height - EXPECTED_HEIGHT_PX) <= 2
    # something was drawn: not a blank canvas
    assert float(np.asarray(pixels).std()) > 0.01


# --- plot ---------------------------------------------------------------------------


def test_plots_a_day_as_png(tmp_path: Path) -> None:
    path = tmp_path / "day.png"
    returned = plot_trace(winter_day(), path, title="winter day", rated_power_w=2500.0)
    assert returned == path
    assert_png(path)


def test_png_whatever_the_suffix(tmp_path: Path) -> None:
    path = plot_trace(winter_day(), tmp_path / "day.plot", title="winter day")
    assert_png(path)


def test_tank_label_and_title(tmp_path: Path) -> None:
    figure = trace_figure(winter_day(), title="tank day", temp_label="tank temperature")
    assert figure.get_suptitle() == "tank day"
    legend = figure.axes[0].get_legend()
    assert legend is not None
    labels = [line.get_label() for line in legend.get_lines()]
    assert labels[:2] == ["tank temperature", "setpoint"]


@pytest.mark.parametrize(
    "trace_samples",
    [
        pytest.param([sample(0.0)], id="one-sample"),
        pytest.param(
            [sample(60.0 * i, temp_c=None, setpoint_c=None, outdoor_c=None) for i in range(50)],
            id="no-temperatures",
        ),
        pytest.param(
            [sample(60.0 * i, temp_c=20.0 if i % 2 else None) for i in range(50)],
            id="isolated-points",
        ),
        pytest.param(
            [sample(60.0 * i, power_w=math.nan, workers=0) for i in range(50)],
            id="nan-power-no-workers",
        ),
        pytest.param([sample(3600.0 * i) for i in range(24 * 40)], id="forty-days"),
        pytest.param([sample(float(i)) for i in range(30)], id="thirty-seconds"),
    ],
)
def test_gaps_and_odd_traces_do_not_crash(tmp_path: Path, trace_samples: list[TraceSample]) -> None:
    trace = Trace()
    trace.extend(trace_samples)
    assert_png(plot_trace(trace, tmp_path / "odd.png", title="odd"))


def test_none_becomes_a_gap() -> None:
    figure = trace_figure(winter_day(), title="gaps")
    temp_line = figure.axes[0].get_lines()[0]
    y = np.asarray(temp_line.get_ydata(), dtype=float)
    assert np.isnan(y[600:660]).all()
    assert np.isfinite(y[:600]).all()


def test_empty_trace_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "empty.png"
    with pytest.raises(ValueError, match="nothing to plot: the trace is empty"):
        plot_trace(Trace(), path, title="empty")
    assert not path.exists()


def test_time_axis_reads_as_clock_time() -> None:
    figure = trace_figure(winter_day(), title="clock")
    formatter = figure.axes[1].xaxis.get_major_formatter()
    assert formatter(6.0, None) == "06:00"
    assert formatter(13.5, None) == "13:30"
    assert formatter(30.0, None) == "+1d 06:00"


def test_power_axis_starts_at_zero_and_shows_the_rated_power() -> None:
    figure = trace_figure(winter_day(), title="power", rated_power_w=2500.0)
    bottom, top = figure.axes[1].get_ylim()
    assert bottom == 0.0
    assert top > 2500.0
    legend = figure.axes[1].get_legend()
    assert legend is not None
    assert "rated power (2500 W)" in [text.get_text() for text in legend.get_texts()]


def test_outdoor_gets_its_own_axis_only_when_ranges_differ_a_lot() -> None:
    # temperature, power + twins for outdoor and workers
    cold = trace_figure(winter_day(), title="cold")
    assert len(cold.axes) == 4
    # a mild day close to the room temperature shares the °C axis
    mild = trace_figure(winter_day(outdoor_offset_c=22.0), title="mild")
    assert len(mild.axes) == 3


def test_outdoor_axis_rule() -> None:
    room = np.array([19.8, 20.2, math.nan])
    assert outdoor_needs_own_axis(room, np.array([-5.0, 3.0]))
    assert not outdoor_needs_own_axis(room, np.array([17.0, 19.0]))
    assert outdoor_needs_own_axis(np.array([55.0, 60.0]), np.array([5.0, 10.0]))
    assert not outdoor_needs_own_axis(room, np.array([math.nan]))
    assert not outdoor_needs_own_axis(np.array([math.nan]), np.array([-5.0]))


def test_importing_and_plotting_leave_the_pyplot_backend_alone(tmp_path: Path) -> None:
    # A fresh interpreter: other tests may already have imported pyplot in this one.
    script = textwrap.dedent(
        f"""
        import sys
        from pathlib import Path
        import matplotlib
        from boiler_agent.simulation.plot import plot_trace
        from boiler_agent.simulation.trace import Trace, TraceSample
        trace = Trace()
        trace.append(TraceSample(0.0, 20.0, 20.0, 0.0, 1000.0, 1000.0, 4))
        plot_trace(trace, Path({str(tmp_path / "x.png")!r}), title="x")
        assert matplotlib.get_backend() == "svg", matplotlib.get_backend()
        assert "matplotlib.pyplot" not in sys.modules
        """
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "MPLBACKEND": "svg"},
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr


# --- trace --------------------------------------------------------------------------


def test_csv_round_trip(tmp_path: Path) -> None:
    trace = winter_day()
    trace.append(sample(86400.0, temp_c=20.123456789012345, outdoor_c=-0.1, workers=0))
    path = trace.to_csv(tmp_path / "trace.csv")
    assert path.read_text(encoding="utf-8").splitlines()[0] == ",".join(FIELD_NAMES)
    again = Trace.from_csv(path)
    assert again.samples == trace.samples
    assert any(s.temp_c is None for s in again.samples)


def test_csv_columns_in_any_order(tmp_path: Path) -> None:
    path = tmp_path / "trace.csv"
    header = list(reversed(FIELD_NAMES))
    row = {"sim_time_s": "60.0", "temp_c": "", "setpoint_c": "21.0", "outdoor_c": "-3.5"}
    row |= {"heat_demand_w": "1200.0", "power_w": "1150.5", "workers": "3"}
    path.write_text(",".join(header) + "\n" + ",".join(row[name] for name in header) + "\n")
    assert Trace.from_csv(path).samples == [TraceSample(60.0, None, 21.0, -3.5, 1200.0, 1150.5, 3)]


def test_csv_errors_name_the_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.csv"
    path.write_text("sim_time_s,temp_c\n0,20\n")
    with pytest.raises(ValueError, match="not a trace CSV"):
        Trace.from_csv(path)
    good = "0.0,20.0,20.0,0.0,1000.0,1000.0,4"
    path.write_text(",".join(FIELD_NAMES) + f"\n{good}\n0.0,20.0,20.0,0.0,,1000.0,4\n")
    with pytest.raises(ValueError, match=r"bad\.csv:3: heat_demand_w is empty"):
        Trace.from_csv(path)
    path.write_text(",".join(FIELD_NAMES) + f"\n{good}\n0.0,20.0,20.0,0.0,1.0,1.0,four\n")
    with pytest.raises(ValueError, match=r"bad\.csv:3: workers 'four' is not an integer"):
        Trace.from_csv(path)


def test_decimation_bounds_size_keeps_first_and_last_evenly() -> None:
    trace = Trace(max_samples=100)
    samples = [sample(float(i)) for i in range(1000)]
    for appended, new in enumerate(samples, start=1):
        trace.append(new)
        kept = trace.samples
        assert len(kept) == len(trace) <= 100
        assert kept[0] is samples[0]
        assert kept[-1] is new
        assert trace.appended == appended
    times = [s.sim_time_s for s in trace.samples]
    # evenly spaced by the stride, except the latest sample that may fall between
    assert set(np.diff(times[:-1])) == {float(trace.stride)}
    assert 0 < times[-1] - times[-2] <= trace.stride
    assert trace.stride > 1
    assert len(trace) >= 50  # halving leaves at least half of the room used


def test_default_bound() -> None:
    trace = Trace()
    assert trace.max_samples == DEFAULT_MAX_SAMPLES == 20_000
    trace.extend(sample(float(i)) for i in range(50_001))
    assert len(trace.samples) <= DEFAULT_MAX_SAMPLES
    assert trace.samples[0].sim_time_s == 0.0
    assert trace.samples[-1].sim_time_s == 50_000.0


def test_no_decimation_below_the_bound() -> None:
    trace = Trace(max_samples=10)
    samples = [sample(float(i)) for i in range(10)]
    trace.extend(samples)
    assert trace.samples == samples
    assert trace.stride == 1


def test_bound_must_hold_first_and_last() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        Trace(max_samples=1)
