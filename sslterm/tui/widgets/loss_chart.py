"""Line charts of metrics (the live loss, overlaid runs): plotext sized to the widget, over a min/max downsample."""

from __future__ import annotations

import math
from array import array
from collections.abc import Sequence
from dataclasses import dataclass

from rich.console import Group
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from sslterm.humanize import fmt_duration
from sslterm.tui.series import (
    PALETTE,
    RGB,
    EmaSmoother,
    group_by_unit,
    hex_color,
    home_color,
    step_smoothing,
    steps_to_times,
    swatch,
)


def downsample(xs: Sequence[float], ys: Sequence[float], buckets: int) -> tuple[list[float], list[float]]:
    """At most three points per bucket of consecutive points: its minimum, maximum and last, in order.

    The buckets split the series evenly by index (one per screen column), so spikes and dips survive
    whatever the length, and a series of 1e6 points costs a few passes in C (min, max, index).
    """
    n = len(ys)
    if buckets <= 0 or n <= 3 * buckets:
        return list(xs), list(ys)
    extrema = _buffer_extrema(ys, buckets) if n >= NUMPY_FROM else None
    out_x: list[float] = []
    out_y: list[float] = []
    for b in range(buckets):
        lo, hi = n * b // buckets, n * (b + 1) // buckets
        if extrema is not None:
            lowest, highest = extrema[b]
        else:
            chunk = ys[lo:hi]
            lowest, highest = lo + chunk.index(min(chunk)), lo + chunk.index(max(chunk))
        for i in sorted({lowest, highest, hi - 1}):
            out_x.append(xs[i])
            out_y.append(ys[i])
    return out_x, out_y


NUMPY_FROM = 100_000
"""Series at least this long are downsampled by numpy (imported then, not at start-up) when they are buffers."""


def _buffer_extrema(ys: Sequence[float], buckets: int) -> list[tuple[int, int]] | None:
    """(index of the first minimum, of the first maximum) of each bucket, read in place from an
    ``array('d')`` by numpy; None for other sequences or where there is a NaN (the loop then decides,
    so both paths give the same points)."""
    if not isinstance(ys, array) or ys.typecode != "d":
        return None
    import numpy as np

    y = np.frombuffer(ys, dtype=np.float64)
    if np.isnan(y).any():
        return None
    n, out = len(y), []
    for b in range(buckets):
        lo, hi = n * b // buckets, n * (b + 1) // buckets
        chunk = y[lo:hi]
        out.append((lo + int(chunk.argmin()), lo + int(chunk.argmax())))
    return out


def step_label(step: float) -> str:
    """A step count in at most five characters: ``500``, ``2.5k``, ``12k``, ``1.2M``."""
    for scale, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(step) >= scale:
            v = step / scale
            return f"{v:.1f}".rstrip("0").rstrip(".") + suffix if v < 10 else f"{v:.0f}{suffix}"
    return f"{step:.0f}"


def nice_ticks(lo: float, hi: float, count: int) -> list[float]:
    """About ``count`` round values (1, 2 or 5 times a power of ten apart) between ``lo`` and ``hi``."""
    if hi <= lo or count < 1:
        return [lo]
    power = 10 ** math.floor(math.log10((hi - lo) / count))
    steps = [m * power for m in (1, 2, 5, 10)]
    step = max(1, min(steps, key=lambda d: abs((hi - lo) / d - count)))  # steps are whole numbers
    first = math.ceil(lo / step) * step
    return [first + k * step for k in range(int((hi - first) / step) + 1)]


def time_label(seconds: float) -> str:
    """A time on the axis: ``45s``, ``1m10s``, ``12m``, ``1h30m``, ``2d12h`` (:func:`fmt_duration`, short)."""
    return fmt_duration(seconds, short=True)


TIME_STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)


def time_ticks(lo: float, hi: float, count: int) -> list[float]:
    """About ``count`` round times (seconds, minutes, hours apart) between ``lo`` and ``hi``."""
    if hi <= lo or count < 1:
        return [lo]
    step = next((s for s in TIME_STEPS if (hi - lo) / s <= count), None)
    if step is None:
        step = 86400 * max(1, math.ceil((hi - lo) / 86400 / count))
    first = math.ceil(lo / step) * step
    return [first + k * step for k in range(int((hi - first) / step) + 1)]


@dataclass(frozen=True, eq=False)
class Curve:
    """One line of a chart: a metric of a run, by step, with the run's (step, t) pairs for a time axis."""

    key: str  # what the line is (a metric, a run id): its colour and smoothing state follow it
    label: str
    color: RGB
    steps: Sequence[float]
    values: Sequence[float]
    clock: tuple[Sequence[float], Sequence[float]] | None = None  # (steps, t) of the run's records
    marker: str | None = None  # a plotext marker that tells it apart without colour (None: braille, colour only)
    unit: str | None = None  # curves of different units are drawn in panels of their own, one above the other
    band: tuple[Sequence[float], Sequence[float]] | None = None  # (low, high) at the same steps: drawn dimmer


BAND_DIM = 0.45  # a band's lines are drawn in the curve's colour this far towards the dark background
BAND_MARKER = "·"  # without colour a band is dotted


def dim(rgb: RGB, amount: float = BAND_DIM) -> RGB:
    """A colour moved ``amount`` of the way towards black: a band under its curve."""
    r, g, b = (round(c * (1 - amount)) for c in rgb)
    return (r, g, b)


Line = tuple[Sequence[float], Sequence[float], RGB, str]  # x, y, colour, plotext marker
PANEL_HEIGHT = 6  # rows a panel needs at least (plot, x axis and its labels): fewer panels in a low chart


def plot_lines(lines: Sequence[Line], width: int, height: int, log_y: bool, x_time: bool = False,
               x_range: tuple[float, float] | None = None, points: Sequence[Line] = (),
               x_ticks: tuple[list[float], list[str]] | None = None) -> str:
    """Lines of (x, y, colour, marker) as a plotext chart of ``width`` × ``height`` cells (ANSI colours).

    x is a step, or seconds with ``x_time``; each line is downsampled to about the plot's width first.
    ``x_range`` fixes the x axis (panels one above the other share one); else it spans the lines.
    ``points`` are drawn as their markers alone, over the lines; ``x_ticks`` (values, labels) replace the
    step or time labels.
    """
    import plotext  # here: importing it takes ~0.2 s (it loads its own docs), paid at the first chart, not at start-up
    shown = [(*downsample(xs, ys, max(1, width - 8)), rgb, mark) for xs, ys, rgb, mark in lines if len(ys)]
    dots = [(list(xs), list(ys), rgb, mark) for xs, ys, rgb, mark in points if len(ys)]
    every = [*shown, *dots]
    lo, hi = x_range or (min(min(xs) for xs, _, _, _ in every), max(max(xs) for xs, _, _, _ in every))
    count = max(1, width // 7)
    ticks = time_ticks(lo, hi, count) if x_time else nice_ticks(lo, hi, count)
    labels = [time_label(t) if x_time else step_label(t) for t in ticks]
    if x_ticks is not None:
        ticks, labels = x_ticks
    log_y = log_y and all(min(ys) > 0 for _, ys, _, _ in every)
    if hasattr(plotext, "figure"):  # plotext 6: one figure object
        fig = plotext.figure
        fig.clear()
        fig.plot_size(width, height)
        fig.theme("simple")
        if log_y:
            fig.ruler(1).scale("log")
        fig.ruler(0).ticks(ticks, labels)
        if x_range is not None:
            fig.ruler(0).lim(lo, hi)
        for k, (xs, ys, rgb, mark) in enumerate(every):
            marker = plotext.marker(mark, pixel=plotext.pixel(foreground=rgb))
            signal = fig.signal(xs, ys, marker=marker)
            if k < len(shown):  # a line, not points
                signal.lines()
            fig.draw(signal)
        return str(fig.build().string())
    plotext.clf()  # plotext 5: module-level state
    plotext.plotsize(width, height)
    plotext.theme("pro")
    if log_y:
        plotext.yscale("log")
    plotext.xticks(ticks, labels)
    if x_range is not None:
        plotext.xlim(lo, hi)
    for xs, ys, rgb, mark in shown:
        plotext.plot(xs, ys, marker=mark, color=rgb)
    for xs, ys, rgb, mark in dots:
        plotext.scatter(xs, ys, marker=mark, color=rgb)
    return str(plotext.build())


AXIS = frozenset("┌└┤├│┼")  # the y axis and the plot's frame, left of which plotext writes the y labels


def axis_column(chart: str) -> int:
    """The column of a plotext chart's y axis (the width of its y labels); 0 when it has none."""
    found = [i for line in chart.splitlines() for i, ch in enumerate(line) if ch in AXIS]
    return min(found, default=0)


def plot_loss(steps: Sequence[float], losses: Sequence[float], width: int, height: int, log_y: bool) -> str:
    """One loss curve against the step (what benchmarks/app.py times)."""
    return plot_lines([(steps, losses, PALETTE[home_color("loss")], "braille")], width, height, log_y)


class LossChart(Widget):
    """Curves against the step or wall time, smoothed or not; redrawn only when something it shows changes.

    The owner sets :attr:`curves` (kept by reference) and bumps :attr:`version` when they grow, and
    :attr:`generation` when values were dropped (a resumed run), which restarts the smoothing.
    """

    version: reactive[int] = reactive(0)  # bumped by show(): what the cached drawing was made for
    log_y: reactive[bool] = reactive(False)
    smoothing: reactive[float] = reactive(0.0)  # TensorBoard's weight, 0 = off
    x_time: reactive[bool] = reactive(False)  # x is the wall time ``t`` rather than the step

    def __init__(self, *, id: str | None = None, what: str = "loss") -> None:
        super().__init__(id=id)
        self.what = what  # what the curves are, for the "waiting" line
        self.band_what = ""  # what the curves' bands are (``band min–max``), said in the title when drawn
        self.curves: list[Curve] = []
        self.generation = 0
        self._smoothers: dict[str, EmaSmoother] = {}
        self._smoothed_for: tuple[float, int] = (0.0, 0)
        self._cache: tuple[tuple[int, bool, float, bool, int, int], Text] | None = None

    def show(self, curves: list[Curve], generation: int = 0) -> None:
        """Draw these curves (their sequences kept by reference: call again after they grow).

        Each call redraws the chart: a live owner calls it at a bounded rate, not for every new point.
        """
        self.curves, self.generation = curves, generation
        self.version += 1

    def _time_axis(self) -> bool:
        return self.x_time and all(c.clock is not None and len(c.clock[0]) for c in self.curves)

    def smoothed(self, curve: Curve, values: Sequence[float] | None = None, part: str = "") -> Sequence[float]:
        """The curve's values (or its band's ``values``, ``part`` naming which) smoothed with the current weight
        (incrementally, as a live series grows)."""
        values = curve.values if values is None else values
        if self.smoothing <= 0:
            return values
        if self._smoothed_for != (self.smoothing, self.generation):
            self._smoothers.clear()
            self._smoothed_for = (self.smoothing, self.generation)
        smoother = self._smoothers.get(curve.key + part)
        if smoother is None:
            smoother = self._smoothers[curve.key + part] = EmaSmoother(self.smoothing)
        return smoother.update(values)

    def title(self, width: int = 0) -> Text:
        """The view's settings, then each curve's label and latest value (and min and step for one curve).

        The step, then the min, are left out where the line would not fit in ``width`` columns (0: any width).
        """
        text = Text(no_wrap=True, overflow="ellipsis")
        settings = [f"smooth {self.smoothing:g}" if self.smoothing else "", "log y" if self.log_y else "",
                    "x time" if self._time_axis() else "",
                    self.band_what if any(c.band is not None for c in self.curves) else ""]
        for setting in filter(None, settings):
            text.append(f"{setting}  ", style="cyan")
        drawn = [c for c in self.curves if len(c.values)]
        for i, c in enumerate(drawn):
            text.append("  " if i else "")
            if len(drawn) > 1:
                text.append(f"{swatch(c.marker)} ", style=hex_color(c.color))
            text.append(f"{c.label} ", style="bold")
            text.append(f"{c.values[-1]:.4g}", style=f"bold {hex_color(c.color)}")
        if not drawn:
            text.append(self.what, style="bold")
        if len(drawn) == 1:
            extras = [f"  min {min(drawn[0].values):.4g}", f"  step {int(drawn[0].steps[-1]):,}"]
            while extras and width and text.cell_len + sum(map(len, extras)) > width:
                extras.pop()
            for extra in extras:
                text.append(extra, style="dim")
        return text

    def render(self) -> Group:
        return Group(self.text())  # drawn by Rich: half the cost of Textual's conversion of a style per cell

    def text(self) -> Text:
        """The title line over the chart (cached until something it shows changes)."""
        width, height = self.content_size
        if not any(len(c.values) for c in self.curves):
            return Text.assemble(self.title(width), "\n", Text("waiting for metrics…", style="dim"), no_wrap=True)
        key = (self.version, self.log_y, self.smoothing, self.x_time, width, height)
        if self._cache is None or self._cache[0] != key:
            chart = Text("")
            if width >= 12 and height >= 4:
                chart = self._panels(width, height - 1)
            self._cache = (key, Text.assemble(self.title(width), "\n", chart, no_wrap=True, overflow="crop"))
        return self._cache[1]

    def _panels(self, width: int, height: int) -> Text:
        """A chart per unit, stacked (one y axis each: loss near 5 no longer flattens an accuracy near 0.1)."""
        drawn = [c for c in self.curves if len(c.values)]
        groups = group_by_unit([c.unit for c in drawn], height // PANEL_HEIGHT)
        sized = []
        for k, group in enumerate(groups):
            rows = height // len(groups) + (1 if k < height % len(groups) else 0)
            sized.append((self._lines([drawn[i] for i in group]), rows))
        x_time = self._time_axis()
        spans = [(xs[0], xs[-1]) for lines, _ in sized for xs, _, _, _ in lines if len(xs)]
        x_range = (min(a for a, _ in spans), max(b for _, b in spans)) if len(sized) > 1 and spans else None
        parts = [Text.from_ansi(plot_lines(lines, width, rows, self.log_y, x_time, x_range)) for lines, rows in sized]
        if len(parts) > 1:  # plot areas one under the other: narrower y labels are padded to the widest
            margin = max(axis_column(p.plain) for p in parts)
            for k, (lines, rows) in enumerate(sized):
                pad = margin - axis_column(parts[k].plain)
                if pad > 0:
                    part = Text.from_ansi(plot_lines(lines, width - pad, rows, self.log_y, x_time, x_range))
                    pad = max(0, margin - axis_column(part.plain))  # the same labels at this width, as a rule
                    parts[k] = Text("\n").join(Text(" " * pad) + line for line in part.split("\n"))
        return Text("\n").join(parts)

    def _lines(self, curves: Sequence[Curve]) -> list[Line]:
        time_axis = self._time_axis()
        lines: list[Line] = []
        bands: list[Line] = []  # drawn first: every curve over every band
        for c in curves:
            if not len(c.values):
                continue
            parts = [("", c.values)] + ([("|low", c.band[0]), ("|high", c.band[1])] if c.band is not None else [])
            for part, values in parts:
                xs, ys = downsample(c.steps, self.smoothed(c, values, part), max(1, self.content_size.width - 8))
                if time_axis and c.clock is not None:  # after downsampling (by index): a few hundred lookups
                    xs = steps_to_times(xs, *c.clock)
                if part:
                    bands.append((xs, ys, dim(c.color), BAND_MARKER if c.marker else "braille"))
                else:
                    lines.append((xs, ys, c.color, c.marker or "braille"))
        return bands + lines


class ChartKeys:
    """Key actions of a screen that shows one :class:`LossChart`: smoothing, x axis, log scale."""

    def _chart(self) -> LossChart:
        return self.query_one(LossChart)  # type: ignore[attr-defined]

    def action_smooth(self, direction: int) -> None:
        chart = self._chart()
        chart.smoothing = step_smoothing(chart.smoothing, direction)

    def action_x_axis(self) -> None:
        chart = self._chart()
        chart.x_time = not chart.x_time

    def action_log_y(self) -> None:
        chart = self._chart()
        chart.log_y = not chart.log_y
