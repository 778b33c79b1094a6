"""One swept key's panel of the sensitivity view: a final metric's mean ± std at each of the key's values."""

from __future__ import annotations

import math
from typing import Any

from rich.console import Group
from rich.text import Text
from textual.widget import Widget

from sslterm.compare import format_value
from sslterm.compare_groups import KeySensitivity
from sslterm.tui.series import PALETTE, hex_color, home_color, swatch
from sslterm.tui.widgets.loss_chart import Line, nice_ticks, plot_lines

CATEGORIES = 12  # up to this many values are spaced evenly, labelled with themselves; more are placed by value


def positions(values: list[Any]) -> tuple[list[float], tuple[list[float], list[str]], tuple[float, float]]:
    """Where each value goes on the x axis, the ticks (positions, labels) and the axis range.

    A few values (a grid) are spaced evenly in order; many numbers (a random search) are placed by value, on
    a log scale when they are positive and span a factor of 20 or more.
    """
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    if not numeric or len(values) <= CATEGORIES:
        xs = [float(i) for i in range(len(values))]
        return xs, (xs, [format_value(v) for v in values]), (-0.5, len(values) - 0.5)
    log = min(values) > 0 and max(values) / min(values) >= 20
    xs = [math.log10(v) if log else float(v) for v in values]
    lo, hi = min(xs), max(xs)
    pad = (hi - lo) * 0.05 or 1.0
    ticks = [float(t) for t in nice_ticks(lo, hi, 5)] if not log else [float(t) for t in
                                                                        range(math.ceil(lo), math.floor(hi) + 1)]
    labels = [f"{10 ** t:g}" if log else f"{t:g}" for t in ticks]
    return xs, (ticks, labels), (lo - pad, hi + pad)


def values_line(ks: KeySensitivity, maximize: bool) -> Text:
    """``0.1: 0.710 ± 0.01 (3)   * 0.2: 0.790 ± 0.01 (3)``: each value's mean ± std and runs, the best marked."""
    text = Text(no_wrap=False)
    means = [s.mean for s in ks.stats]
    best = means.index(max(means) if maximize else min(means)) if means else -1
    for i, (v, s) in enumerate(zip(ks.values, ks.stats, strict=True)):
        text.append("   " if i else "")
        text.append(f"{'* ' if i == best else ''}{format_value(v)}: ", style="bold" if i == best else "")
        text.append(f"{s.text()} ({s.n})", style="bold" if i == best else "dim")
    return text


class SensitivityPanel(Widget):
    """A swept key's panel: what its values do to the metric, as a chart with a bar of ± one std per value."""

    def __init__(self, ks: KeySensitivity, metric: str, maximize: bool, note: str = "") -> None:
        super().__init__(classes="sensitivity-panel")
        self.ks, self.metric, self.maximize, self.note = ks, metric, maximize, note

    def header(self) -> Text:
        ks = self.ks
        color = PALETTE[home_color(ks.key)]
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append(f"{swatch(None)} ", style=hex_color(color)).append(ks.key, style="bold")
        if self.note:
            text.append(f" ({self.note})", style="bold cyan")
        if len(ks.stats) > 1:
            text.append(f"  moves it {ks.spread:.3g}", style="dim")
            noise = max((s.std for s in ks.stats if s.std is not None), default=None)
            if noise is not None:  # the largest spread of the seeds at one value
                than = "more" if ks.spread > noise else "less"
                text.append(f": {than} than seed noise (± {noise:.2g})", style="dim")
        return text

    def render(self) -> Group:
        width, height = self.content_size
        ks = self.ks
        head, values = self.header(), values_line(ks, self.maximize)
        if not ks.stats:
            return Group(head, Text(f"no run at any value of {ks.key} has {self.metric} yet", style="dim"))
        rows = height - 1 - len(values.wrap(self.app.console, max(1, width)))
        if rows < 5 or width < 20:
            return Group(head, values)
        color = PALETTE[home_color(ks.key)]
        xs, ticks, x_range = positions(ks.values)
        means = [s.mean for s in ks.stats]
        lines: list[Line] = [(xs, means, color, "braille")] if len(xs) > 1 else []
        for x, s in zip(xs, ks.stats, strict=True):
            if s.std:
                lines.append(([x, x], [s.mean - s.std, s.mean + s.std], color, "braille"))
        dots: list[Line] = [(xs, means, (255, 255, 255), "●")]
        chart = plot_lines(lines, width, rows, False, x_range=x_range, points=dots, x_ticks=ticks)
        return Group(head, Text.from_ansi(chart.rstrip("\n"), no_wrap=True, overflow="crop"), values)
