"""Draw a simulated run (a `Trace`) as a PNG: temperatures above, power and workers below.

The figure is built on `matplotlib.figure.Figure` with an explicit Agg canvas instead of
pyplot: pyplot keeps a global registry of open figures and a process-wide backend, so
using it here would leak figures in a long-lived agent unless each is closed, share that
registry with any other thread drawing, and could switch the backend under a caller that
uses pyplot itself. A bare Figure is freed like any object. Importing this module never
imports pyplot nor calls `matplotlib.use`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import numpy.typing as npt
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import FuncFormatter, MaxNLocator, MultipleLocator

from boiler_agent.simulation.trace import Trace

FIGSIZE_IN = (12.0, 7.5)
"""Figure size in inches; at PLOT_DPI the PNG is 1800 x 1125 pixels."""

PLOT_DPI = 150

OUTDOOR_OWN_AXIS_RATIO = 3.0
"""Outdoor gets its own (right) axis when sharing would stretch the °C axis this many times."""

MIN_INDOOR_SPAN_K = 2.0
"""A tightly regulated room spans a fraction of a kelvin; that alone must not evict outdoor."""

_MAX_TIME_TICKS = 12
# Tick spacings that land on round clock times, in hours: 5 s to 30 s, 1 min to 30 min, then
# hours; beyond 12 days, whole days (see _time_step_h).
_TIME_STEPS_H = (
    *(seconds / 3600 for seconds in (5, 10, 15, 30)),
    *(minutes / 60 for minutes in (1, 5, 10, 15, 30)),
    *(1.0, 2.0, 3.0, 4.0, 6.0, 12.0, 24.0),
)

_TEMP_COLOR = "tab:red"
_SETPOINT_COLOR = "black"
_OUTDOOR_COLOR = "tab:blue"
_DEMAND_COLOR = "tab:orange"
_POWER_COLOR = "tab:green"
_WORKERS_COLOR = "tab:gray"

FloatArray = npt.NDArray[np.float64]


def plot_trace(
    trace: Trace,
    path: Path,
    *,
    title: str,
    temp_label: str = "room temperature",
    rated_power_w: float | None = None,
) -> Path:
    """Draw `trace` into the PNG file `path` (PNG whatever the suffix) and return `path`.

    Top: `temp_label` and the setpoint (as steps) in °C, with the outdoor temperature
    dashed, on the same axis or on a right axis when the ranges differ a lot (see
    `outdoor_needs_own_axis`). Bottom: heat demand and measured power in W, with the
    running workers as steps on a right axis, and `rated_power_w` as a dotted line when
    given. The x axis is the simulated time as HH:MM (time of day when the run starts at
    midnight; "+1d 06:00" on the following days). None values are drawn as gaps.
    Raises ValueError when the trace is empty. The parent directory must exist.
    """
    figure = trace_figure(trace, title=title, temp_label=temp_label, rated_power_w=rated_power_w)
    figure.savefig(path, format="png", dpi=PLOT_DPI)
    return path


def trace_figure(
    trace: Trace,
    *,
    title: str,
    temp_label: str = "room temperature",
    rated_power_w: float | None = None,
) -> Figure:
    """The figure `plot_trace` saves, for callers that want another format or to inspect it."""
    samples = trace.samples
    if not samples:
        raise ValueError("nothing to plot: the trace is empty")

    hours = _series(sample.sim_time_s / 3600.0 for sample in samples)
    temp = _series(sample.temp_c for sample in samples)
    setpoint = _series(sample.setpoint_c for sample in samples)
    outdoor = _series(sample.outdoor_c for sample in samples)
    demand = _series(sample.heat_demand_w for sample in samples)
    power = _series(sample.power_w for sample in samples)
    workers = _series(float(sample.workers) for sample in samples)

    figure = Figure(figsize=FIGSIZE_IN, dpi=PLOT_DPI, layout="tight")
    FigureCanvasAgg(figure)  # attaches itself as figure.canvas; nothing global is touched
    figure.suptitle(title)
    temp_axes, power_axes = figure.subplots(2, 1, sharex=True, height_ratios=(3, 2))

    _draw_temperatures(
        temp_axes, hours, temp=temp, setpoint=setpoint, outdoor=outdoor, temp_label=temp_label
    )
    _draw_power(
        power_axes, hours, demand=demand, power=power, workers=workers, rated_power_w=rated_power_w
    )
    _format_time_axis(power_axes, hours)
    return figure


def outdoor_needs_own_axis(indoor: FloatArray, outdoor: FloatArray) -> bool:
    """Whether outdoor should go on its own right axis rather than share the indoor °C axis.

    One shared scale is the most honest (the indoor-outdoor difference, which drives the
    losses, reads directly), so it is used whenever the ranges are close. But what a
    simulation plot is read for is how well the temperature tracks the setpoint: when a
    20 °C room shares its axis with a -5 °C winter day (or a 60 °C tank with any outdoor
    temperature), that tracking is squashed into a thin band. So outdoor moves to a right
    axis once sharing would make the axis more than OUTDOOR_OWN_AXIS_RATIO times the
    indoor span (at least MIN_INDOOR_SPAN_K). NaNs are ignored.
    """
    indoor = indoor[np.isfinite(indoor)]
    outdoor = outdoor[np.isfinite(outdoor)]
    if indoor.size == 0 or outdoor.size == 0:
        return False
    indoor_span = max(float(indoor.max() - indoor.min()), MIN_INDOOR_SPAN_K)
    shared_span = max(float(indoor.max()), float(outdoor.max())) - min(
        float(indoor.min()), float(outdoor.min())
    )
    return shared_span > OUTDOOR_OWN_AXIS_RATIO * indoor_span


def _draw_temperatures(
    axes: Axes,
    hours: FloatArray,
    *,
    temp: FloatArray,
    setpoint: FloatArray,
    outdoor: FloatArray,
    temp_label: str,
) -> None:
    lines = [
        *_line(axes, hours, temp, label=temp_label, color=_TEMP_COLOR),
        *_line(
            axes, hours, setpoint, label="setpoint", color=_SETPOINT_COLOR, drawstyle="steps-post"
        ),
    ]
    if np.isfinite(outdoor).any():
        indoor = np.concatenate((temp, setpoint))
        if outdoor_needs_own_axis(indoor, outdoor):
            outdoor_axes = axes.twinx()
            # Coloured like its line, so the two °C scales are not read against each other.
            outdoor_axes.set_ylabel("outdoor temperature (°C)", color=_OUTDOOR_COLOR)
            outdoor_axes.tick_params(axis="y", colors=_OUTDOOR_COLOR)
            outdoor_axes.ticklabel_format(axis="y", useOffset=False)
            lines += _line(
                outdoor_axes,
                hours,
                outdoor,
                label="outdoor (right axis)",
                color=_OUTDOOR_COLOR,
                linestyle="--",
            )
        else:
            lines += _line(
                axes, hours, outdoor, label="outdoor", color=_OUTDOOR_COLOR, linestyle="--"
            )
    axes.set_ylabel("temperature (°C)")
    # A tracked setpoint is often the extreme value: keep it off the frame.
    axes.margins(y=0.08)
    # Without this a 20.0-20.4 °C range is labelled as offsets from "+2e1".
    axes.ticklabel_format(axis="y", useOffset=False)
    axes.grid(True, alpha=0.4)
    _legend_above(axes, lines)


def _draw_power(
    axes: Axes,
    hours: FloatArray,
    *,
    demand: FloatArray,
    power: FloatArray,
    workers: FloatArray,
    rated_power_w: float | None,
) -> None:
    lines = [
        *_line(axes, hours, demand, label="heat demand", color=_DEMAND_COLOR),
        *_line(axes, hours, power, label="measured power", color=_POWER_COLOR),
    ]
    if rated_power_w is not None:
        lines.append(
            axes.axhline(
                rated_power_w,
                color="black",
                linestyle=":",
                linewidth=1.0,
                label=f"rated power ({rated_power_w:g} W)",
            )
        )
    axes.set_ylabel("power (W)")
    # Watts in the thousands must read as 2500, not as 2.5 with a "1e3" in the corner.
    axes.ticklabel_format(axis="y", style="plain", useOffset=False)
    axes.set_ylim(*_power_limits(demand, power, rated_power_w))
    axes.grid(True, alpha=0.4)

    workers_axes = axes.twinx()
    lines += _line(
        workers_axes,
        hours,
        workers,
        label="workers (right axis)",
        color=_WORKERS_COLOR,
        drawstyle="steps-post",
        linewidth=1.0,
    )
    workers_axes.set_ylabel("workers", color=_WORKERS_COLOR)
    workers_axes.tick_params(axis="y", colors=_WORKERS_COLOR)
    workers_axes.yaxis.set_major_locator(MaxNLocator(integer=True))
    most = float(np.nanmax(workers)) if np.isfinite(workers).any() else 0.0
    # Headroom above the top count so the step line does not run along the frame.
    workers_axes.set_ylim(0.0, max(most, 1.0) * 1.1)
    _legend_above(axes, lines)


def _power_limits(
    demand: FloatArray, power: FloatArray, rated_power_w: float | None
) -> tuple[float, float]:
    # From zero, not from the smallest value: the eye reads a power plot against zero.
    # And with headroom above the top value, often the rated power line, off the frame.
    values = np.concatenate((demand, power, [0.0 if rated_power_w is None else rated_power_w]))
    values = values[np.isfinite(values)]
    low = min(0.0, float(values.min()))
    high = max(float(values.max()), low + 1.0)  # an idle run still gets a visible range
    return low, high + 0.08 * (high - low)


def _line(
    axes: Axes,
    x: FloatArray,
    y: FloatArray,
    *,
    label: str,
    color: str,
    linestyle: str = "-",
    drawstyle: str = "default",
    linewidth: float = 1.4,
) -> list[Line2D]:
    # A value with gaps on both sides draws no segment, so it would vanish (a one-sample
    # trace, or a sensor known only now and then): mark such isolated points. Only then,
    # as a marker also shows in the legend.
    isolated = _isolated(y)
    return axes.plot(
        x,
        y,
        label=label,
        color=color,
        linestyle=linestyle,
        drawstyle=drawstyle,
        linewidth=linewidth,
        marker="." if isolated.any() else None,
        markevery=isolated.tolist(),
    )


def _legend_above(axes: Axes, handles: Sequence[Line2D]) -> None:
    # Above the axes, in one row: inside, it would hide some of the curves whatever the
    # corner, and twin axes would each want a legend of their own.
    axes.legend(
        handles=list(handles),
        labels=[str(handle.get_label()) for handle in handles],
        loc="lower left",
        bbox_to_anchor=(0.0, 1.0),
        ncols=len(handles),
        fontsize="small",
        frameon=False,
    )


def _format_time_axis(axes: Axes, hours: FloatArray) -> None:
    start, end = float(hours.min()), float(hours.max())
    if end == start:
        # One instant: matplotlib would warn about a zero-width axis.
        start, end = start - 0.5, end + 0.5
    axes.set_xlim(start, end)
    step = _time_step_h(end - start)
    axes.xaxis.set_major_locator(MultipleLocator(step))
    with_seconds = not math.isclose(step * 60.0, round(step * 60.0))
    axes.xaxis.set_major_formatter(
        FuncFormatter(lambda value, _position: _clock(value, with_seconds=with_seconds))
    )
    axes.set_xlabel("simulated time (HH:MM)")


def _time_step_h(span_h: float) -> float:
    for step in _TIME_STEPS_H:
        if span_h / step <= _MAX_TIME_TICKS:
            return step
    # Beyond 12 days: whole days.
    return 24.0 * math.ceil(span_h / 24.0 / _MAX_TIME_TICKS)


def _clock(hours: float, *, with_seconds: bool) -> str:
    """`hours` since the start of day 0 as HH:MM (or HH:MM:SS), "+Nd " on later days."""
    seconds = round(hours * 3600.0)
    day, second_of_day = divmod(seconds, 86400)
    hh, rest = divmod(second_of_day, 3600)
    mm, ss = divmod(rest, 60)
    clock = f"{hh:02d}:{mm:02d}:{ss:02d}" if with_seconds else f"{hh:02d}:{mm:02d}"
    return f"{day:+d}d {clock}" if day else clock


def _series(values: Iterable[float | None]) -> FloatArray:
    """Floats with None as NaN: NaN is what matplotlib draws as a gap."""
    return np.array([math.nan if value is None else value for value in values], dtype=np.float64)


def _isolated(values: FloatArray) -> npt.NDArray[np.bool_]:
    known = np.isfinite(values)
    before = np.concatenate(([False], known[:-1]))
    after = np.concatenate((known[1:], [False]))
    return known & ~before & ~after
