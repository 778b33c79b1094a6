"""One swept key's panel of the sensitivity view: a final metric's mean ± std at each of the key's values."""

from __future__ import annotations

import math

from rich.console import Group
from rich.text import Text
from textual.widget import Widget

from sslterm.compare import format_value
from sslterm.sweep.analysis import Sensitivity
from sslterm.tui.series import PALETTE, hex_color, home_color, swatch
from sslterm.tui.widgets.loss_chart import Line, nice_ticks, plot_lines

CATEGORIES = 12  # up to this many values are spaced evenly, labelled with themselves; more are placed by value


def positions(s: Sensitivity) -> tuple[list[float], tuple[list[float], list[str]], tuple[float, float]]:
    """Where each value goes on the x axis, the ticks (positions, labels) and the axis range.

    A few values (a grid) are spaced evenly in order; many numbers (a random search) are placed by value, on
    a log scale where :attr:`Sensitivity.log` says so.
    """
    values = [p.value for p in s.points]
    if not s.numeric or len(values) <= CATEGORIES:
        xs = [float(i) for i in range(len(values))]
        return xs, (xs, [format_value(v) for v in values]), (-0.5, len(values) - 0.5)
    xs = [math.log10(v) if s.log else float(v) for v in values]
    lo, hi = min(xs), max(xs)
    pad = (hi - lo) * 0.05 or 1.0
    ticks = [float(t) for t in (range(math.ceil(lo), math.floor(hi) + 1) if s.log else nice_ticks(lo, hi, 5))]
    labels = [f"{10 ** t:g}" if s.log else f"{t:g}" for t in ticks]
    return xs, (ticks, labels), (lo - pad, hi + pad)


def values_line(s: Sensitivity) -> Text:
    """``0.1: 0.71 ± 0.01 (3)   * 0.2: 0.79 ± 0.01 (3)``: each value's mean ± std and runs, the best marked."""
    text = Text(no_wrap=False)
    best = s.best()
    for i, p in enumerate(s.points):
        style = "bold" if p is best else ""
        text.append("   " if i else "")
        text.append(f"{'* ' if p is best else ''}{format_value(p.value)}: ", style=style)
        spread = f" ± {p.std:.2g}" if p.std is not None else ""
        text.append(f"{format_value(p.mean)}{spread} ({p.n})", style=style or "dim")
    return text


class SensitivityPanel(Widget):
    """A swept key's panel: what its values do to the metric, as a chart with a bar of ± one std per value."""

    def __init__(self, ks: Sensitivity, note: str = "") -> None:
        super().__init__(classes="sensitivity-panel")
        self.ks, self.note = ks, note

    def header(self) -> Text:
        ks = self.ks
        color = PALETTE[home_color(ks.key)]
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"{swatch(None)} ", style=hex_color(color)).append(ks.key, style="bold")
        if self.note:
            text.append(f" ({self.note})", style="bold cyan")
        if len(ks.points) > 1:
            text.append(f"  moves it {ks.spread():.3g}", style="dim")
            noise = max((p.std for p in ks.points if p.std is not None), default=None)
            if noise is not None:  # the largest spread of the seeds at one value
                than = "more" if ks.spread() > noise else "less"
                text.append(f": {than} than seed noise (± {noise:.2g})", style="dim")
        return text

    def render(self) -> Group:
        width, height = self.content_size
        ks = self.ks
        head, values = self.header(), values_line(ks)
        if not ks.points:
            return Group(head, Text(f"no run at any value of {ks.key} has {ks.metric} yet", style="dim"))
        rows = height - 1 - len(values.wrap(self.app.console, max(1, width)))
        if rows < 5 or width < 20:
            return Group(head, values)
        color = PALETTE[home_color(ks.key)]
        xs, ticks, x_range = positions(ks)
        means = [p.mean for p in ks.points]
        lines: list[Line] = [(xs, means, color, "braille")] if len(xs) > 1 else []
        for x, p in zip(xs, ks.points, strict=True):
            if p.std:
                lines.append(([x, x], [p.mean - p.std, p.mean + p.std], color, "braille"))
        dots: list[Line] = [(xs, means, (255, 255, 255), "●")]
        chart = plot_lines(lines, width, rows, False, x_range=x_range, points=dots, x_ticks=ticks)
        return Group(head, Text.from_ansi(chart.rstrip("\n"), no_wrap=True, overflow="crop"), values)
