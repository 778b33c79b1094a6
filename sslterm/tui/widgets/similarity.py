"""The similarity matrix between two views of the probe batch: viridis half-block cells, or shades in mono."""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

from rich.color import Color, ColorSystem
from rich.console import Group
from rich.style import Style
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from sslterm.tui.poller import Snapshot

HALF = "▀"  # upper half block: foreground paints the top row of a cell, background the bottom row
LEVELS = 64  # colour steps between the bottom and the top of the scale
# viridis (matplotlib's perceptual scale: lightness rises evenly from dark purple through teal to yellow),
# sampled at 0, 0.1, ..., 1; kept apart by lightness alone, so quantised or grey it still reads in order
VIRIDIS = ((68, 1, 84), (72, 36, 117), (65, 68, 135), (53, 95, 141), (42, 120, 142), (33, 145, 140),
           (34, 168, 132), (68, 191, 112), (122, 209, 81), (189, 223, 38), (253, 231, 37))
# 256 colours: viridis quantised by hand to colours of the 6x6x6 cube that keep its hues with L* rising by
# 5 to 14 (21, 28, 40, 52, 65, 78, 83, 97); the nearest cube colour of each level would repeat and fall back
EIGHT_BIT_RAMP = (53, 55, 25, 31, 37, 78, 184, 226)
# 16 colours: the standard colours that follow viridis' hues with rising lightness (in the usual palettes)
STANDARD_RAMP = ("blue", "bright_blue", "cyan", "bright_green", "bright_yellow")
MISSING = (70, 70, 70)  # NaN similarities (null in the snapshot)
SHADES = " ░▒▓█"  # mono: the bottom of the scale (blank) up to the top (full block); two per matrix column
NAN_SHADE = "·"
FULL = (-1.0, 1.0)  # the range of a cosine similarity


@dataclass(frozen=True)
class Scale:
    """The values the colour scale spans: cosine's -1 to 1, or (stretched) one snapshot's own range."""

    lo: float = -1.0
    hi: float = 1.0

    @property
    def stretched(self) -> bool:
        return (self.lo, self.hi) != FULL

    def level(self, v: float) -> int:
        """The colour level of a value: 0 at ``lo`` (or below) up to LEVELS - 1 at ``hi``; -1 for NaN."""
        if math.isnan(v):
            return -1
        span = self.hi - self.lo
        t = (min(self.hi, max(self.lo, v)) - self.lo) / span if span > 0 else 1.0
        return min(LEVELS - 1, int(t * LEVELS))


def snapshot_scale(snap: Snapshot) -> Scale:
    """The range of a snapshot's finite values (the full range where it has none, or all are equal)."""
    finite = [v for v in snap.values if math.isfinite(v)]
    if not finite or max(finite) - min(finite) < 1e-6:
        return Scale()
    return Scale(min(finite), max(finite))


def level(v: float) -> int:
    """The colour level of a similarity on the full scale: 0 for -1 up to LEVELS - 1 for 1; -1 for NaN."""
    return Scale().level(v)


def lightness(rgb: tuple[int, int, int]) -> float:
    """CIE L* (0 black to 100 white) of an sRGB colour: how light it looks, whatever its hue."""

    def linear(c: int) -> float:
        u = c / 255
        return u / 12.92 if u <= 0.04045 else ((u + 0.055) / 1.055) ** 2.4

    y = 0.2126 * linear(rgb[0]) + 0.7152 * linear(rgb[1]) + 0.0722 * linear(rgb[2])
    f = y ** (1 / 3) if y > 216 / 24389 else (24389 / 27 * y + 16) / 116
    return 116 * f - 16


def viridis(t: float) -> tuple[int, int, int]:
    """The viridis colour at ``t`` in [0, 1], interpolated between its samples."""
    x = min(1.0, max(0.0, t)) * (len(VIRIDIS) - 1)
    i = min(len(VIRIDIS) - 2, int(x))
    u = x - i
    return tuple(round(a + (b - a) * u) for a, b in zip(VIRIDIS[i], VIRIDIS[i + 1], strict=True))  # type: ignore[return-value]


@lru_cache(maxsize=8)
def scale_colors(system: ColorSystem = ColorSystem.TRUECOLOR) -> tuple[Color, ...]:
    """The LEVELS colours of the scale, bottom to top, as a terminal with ``system`` colours shows them:
    viridis itself, or in equal bands :data:`EIGHT_BIT_RAMP` (256 colours) or :data:`STANDARD_RAMP` (16)."""
    if system == ColorSystem.TRUECOLOR:
        return tuple(Color.from_rgb(*viridis((lv + 0.5) / LEVELS)) for lv in range(LEVELS))
    ramp = [Color.from_ansi(n) for n in EIGHT_BIT_RAMP] if system == ColorSystem.EIGHT_BIT else [
        Color.parse(name) for name in STANDARD_RAMP]
    return tuple(ramp[lv * len(ramp) // LEVELS] for lv in range(LEVELS))


def level_color(lv: int, system: ColorSystem = ColorSystem.TRUECOLOR) -> Color:
    """The colour of a level (-1: NaN) on the scale as drawn with ``system`` colours."""
    if lv < 0:
        missing = Color.from_rgb(*MISSING)
        return Color.parse("bright_black") if system in (ColorSystem.STANDARD, ColorSystem.WINDOWS) else missing
    return scale_colors(system)[lv]


@lru_cache(maxsize=4 * (LEVELS + 1) * (LEVELS + 2))
def cell_style(top: int, bottom: int | None, system: ColorSystem = ColorSystem.TRUECOLOR) -> Style:
    """The style of one text cell holding two matrix rows (no bottom row: terminal background)."""
    return Style(color=level_color(top, system), bgcolor=level_color(bottom, system) if bottom is not None else None)


def block_average(snap: Snapshot, block: int) -> list[list[float]]:
    """The matrix shrunk by averaging ``block`` × ``block`` tiles (NaN cells left out of the mean)."""
    n = snap.n
    if block <= 1:
        return [list(snap.row(i)) for i in range(n)]
    m = math.ceil(n / block)
    out = []
    for bi in range(m):
        rows = [snap.row(i) for i in range(bi * block, min(n, (bi + 1) * block))]
        line = []
        for bj in range(m):
            vals = [v for r in rows for v in r[bj * block : (bj + 1) * block] if not math.isnan(v)]
            line.append(sum(vals) / len(vals) if vals else math.nan)
        out.append(line)
    return out


def matrix_text(snap: Snapshot, max_cols: int, max_lines: int, scale: Scale | None = None,
                system: ColorSystem = ColorSystem.TRUECOLOR) -> Text:
    """The matrix in at most ``max_cols`` × ``max_lines`` cells, two matrix rows per line."""
    if max_cols < 1 or max_lines < 1:
        return Text("")
    scale = scale or Scale()
    block = max(1, math.ceil(snap.n / max_cols), math.ceil(snap.n / (2 * max_lines)))
    grid = [[scale.level(v) for v in row] for row in block_average(snap, block)]
    text = Text(no_wrap=True, overflow="crop")
    for i in range(0, len(grid), 2):
        top, bottom = grid[i], grid[i + 1] if i + 1 < len(grid) else None
        for j, lv in enumerate(top):
            text.append(HALF, cell_style(lv, bottom[j] if bottom is not None else None, system))
        if i + 2 < len(grid):
            text.append("\n")
    return text


def shade(lv: int) -> str:
    """The shade character of a colour level (NaN: a dot)."""
    return NAN_SHADE if lv < 0 else SHADES[lv * len(SHADES) // LEVELS]


def shaded_text(snap: Snapshot, max_cols: int, max_lines: int, scale: Scale | None = None) -> Text:
    """The matrix without colour: a shade per cell, two characters per column so that it stays square."""
    if max_cols < 2 or max_lines < 1:
        return Text("")
    scale = scale or Scale()
    block = max(1, math.ceil(snap.n / (max_cols // 2)), math.ceil(snap.n / max_lines))
    rows = ["".join(2 * shade(scale.level(v)) for v in row) for row in block_average(snap, block)]
    return Text("\n".join(rows), no_wrap=True, overflow="crop")


def bound_label(v: float) -> str:
    """An end of the scale: ``-1``/``+1`` for cosine's own, else two decimals (``0.08``)."""
    return f"{v:+.0f}" if v in FULL else f"{v:.2f}"


def legend_text(step: int | None, position: str, mono: bool = False, scale: Scale | None = None,
                system: ColorSystem = ColorSystem.TRUECOLOR) -> Text:
    """``-1 ▀▀▀▀ +1  step 250  live``: the scale and its range, the snapshot's step and which one it is.

    A stretched scale shows the snapshot's own range (``0.08 ▀▀▀ 0.52``) in yellow, as a reminder that
    colours then compare within this snapshot only.
    """
    scale = scale or Scale()
    ends = "bold yellow" if scale.stretched else "dim"
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(bound_label(scale.lo), style=ends)
    if mono:
        text.append(f"[{SHADES}]")
    else:
        blocks = 6 if scale.stretched else 8
        for k in range(blocks):
            text.append("█", Style(color=level_color(round(k * (LEVELS - 1) / (blocks - 1)), system)))
    text.append(bound_label(scale.hi), style=ends)
    if step is not None:
        text.append("  step ", style="dim").append(f"{step:,}", style="bold")
        text.append(f"  {position}", style="bold green" if position == "live" else "bold yellow")
    return text


SYSTEMS = {"truecolor": ColorSystem.TRUECOLOR, "256": ColorSystem.EIGHT_BIT, "standard": ColorSystem.STANDARD,
           "windows": ColorSystem.WINDOWS}  # Rich's names of its colour systems (Console.color_system)


class SimilarityView(Widget):
    """A similarity snapshot under its legend; redrawn when the snapshot, its position or the scale changes."""

    snapshot: reactive[Snapshot | None] = reactive(None)  # compared by identity: snapshots never change
    position: reactive[str] = reactive("live")  # "live", or "3/7" when stepping through older ones
    stretch: reactive[bool] = reactive(False)  # the scale spans the snapshot's own range, not -1 to 1

    def scale(self) -> Scale:
        """The range the colours span now."""
        return snapshot_scale(self.snapshot) if self.stretch and self.snapshot is not None else Scale()

    def text(self) -> Text:
        """What the view shows: legend, then the matrix (shades where the app draws no colour)."""
        snap, mono, scale = self.snapshot, self.app.no_color, self.scale()
        system = SYSTEMS.get(self.app.console.color_system or "", ColorSystem.TRUECOLOR)
        legend = legend_text(snap.step if snap else None, self.position, mono, scale, system)
        if snap is None:
            return Text.assemble(legend, "\n", Text("no snapshot yet", style="dim"), no_wrap=True)
        width, height = self.content_size
        body = (shaded_text(snap, width, height - 1, scale) if mono
                else matrix_text(snap, width, height - 1, scale, system))
        return Text.assemble(legend, "\n", body, no_wrap=True, overflow="crop")

    def render(self) -> Group:
        return Group(self.text())  # drawn by Rich: half the cost of Textual's conversion of a style per cell
