"""The live loss curve: a plotext line chart sized to the widget, over a min/max-preserving downsample."""

from __future__ import annotations

import math
from collections.abc import Sequence

import plotext
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget


def downsample(xs: Sequence[float], ys: Sequence[float], buckets: int) -> tuple[list[float], list[float]]:
    """At most three points per bucket of consecutive points: its minimum, maximum and last, in order.

    The buckets split the series evenly by index (one per screen column), so spikes and dips survive
    whatever the length, and a series of 1e6 points costs a few passes in C (min, max, index).
    """
    n = len(ys)
    if buckets <= 0 or n <= 3 * buckets:
        return list(xs), list(ys)
    out_x: list[float] = []
    out_y: list[float] = []
    for b in range(buckets):
        lo, hi = n * b // buckets, n * (b + 1) // buckets
        chunk = ys[lo:hi]
        lowest, highest = lo + chunk.index(min(chunk)), lo + chunk.index(max(chunk))
        for i in sorted({lowest, highest, hi - 1}):
            out_x.append(xs[i])
            out_y.append(ys[i])
    return out_x, out_y


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


def plot_loss(steps: Sequence[float], losses: Sequence[float], width: int, height: int, log_y: bool) -> str:
    """The loss against the step as a plotext chart of ``width`` × ``height`` cells (ANSI colours)."""
    xs, ys = downsample(steps, losses, max(1, width - 8))  # about the plot area, without the y labels
    ticks = nice_ticks(xs[0], xs[-1], max(1, width // 7))
    labels = [step_label(t) for t in ticks]
    log_y = log_y and min(ys) > 0
    if hasattr(plotext, "figure"):  # plotext 6: one figure object
        fig = plotext.figure
        fig.clear()
        fig.plot_size(width, height)
        fig.theme("simple")
        if log_y:
            fig.ruler(1).scale("log")
        fig.ruler(0).ticks(ticks, labels)
        signal = fig.signal(xs, ys, marker="braille")
        signal.lines()
        fig.draw(signal)
        return str(fig.build().string())
    plotext.clf()  # plotext 5: module-level state
    plotext.plotsize(width, height)
    plotext.theme("pro")
    if log_y:
        plotext.yscale("log")
    plotext.xticks(ticks, labels)
    plotext.plot(xs, ys, marker="braille")
    return str(plotext.build())


class LossChart(Widget):
    """The loss curve and the latest loss; redrawn when :attr:`version` changes or the widget resizes."""

    version: reactive[int] = reactive(0)
    log_y: reactive[bool] = reactive(False)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.steps: Sequence[float] = []
        self.losses: Sequence[float] = []
        self._cache: tuple[tuple[int, bool, int, int], Text] | None = None

    def show(self, steps: Sequence[float], losses: Sequence[float]) -> None:
        """Draw these series (kept by reference: bump :attr:`version` after they grow)."""
        self.steps, self.losses = steps, losses
        self.version += 1

    def watch_version(self) -> None:
        self.refresh()

    def watch_log_y(self) -> None:
        self.refresh()

    def title(self) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        text.append("loss ", style="bold")
        if self.losses:
            text.append(f"{self.losses[-1]:.4g}", style="bold yellow")
            text.append(f"  min {min(self.losses):.4g}", style="dim")
        if self.log_y:
            text.append("  log y", style="cyan")
        if self.losses:
            text.append(f"  step {int(self.steps[-1]):,}", style="dim")
        return text

    def render(self) -> Text:
        width, height = self.content_size
        if not self.losses:
            return Text.assemble(self.title(), "\n", Text("waiting for metrics…", style="dim"), no_wrap=True)
        key = (self.version, self.log_y, width, height)
        if self._cache is None or self._cache[0] != key:
            chart = Text("")
            if width >= 12 and height >= 4:
                chart = Text.from_ansi(plot_loss(self.steps, self.losses, width, height - 1, self.log_y))
            self._cache = (key, Text.assemble(self.title(), "\n", chart, no_wrap=True, overflow="crop"))
        return self._cache[1]
