"""The similarity matrix between two views of the probe batch: coloured half-block cells, or shades in mono."""

from __future__ import annotations

import math
from functools import lru_cache

from rich.color import Color
from rich.console import Group
from rich.style import Style
from rich.text import Text
from textual.reactive import reactive
from textual.widget import Widget

from sslterm.tui.poller import Snapshot

HALF = "▀"  # upper half block: foreground paints the top row of a cell, background the bottom row
LEVELS = 64  # colour steps between -1 and 1
LOW, MID, HIGH = (59, 76, 192), (221, 221, 221), (180, 4, 38)  # blue -> light grey -> red, as coolwarm
MISSING = (70, 70, 70)  # NaN similarities (null in the snapshot)
SHADES = " ░▒▓█"  # mono: -1 (blank) up to 1 (full block); two per matrix column, one line per row
NAN_SHADE = "·"


def level(v: float) -> int:
    """The colour level of a similarity: 0 for -1 up to LEVELS - 1 for 1; -1 for NaN."""
    if math.isnan(v):
        return -1
    t = (min(1.0, max(-1.0, v)) + 1.0) / 2.0
    return min(LEVELS - 1, int(t * LEVELS))


@lru_cache(maxsize=LEVELS + 1)
def level_color(lv: int) -> Color:
    """The colour of a level on the diverging blue-grey-red scale."""
    if lv < 0:
        return Color.from_rgb(*MISSING)
    t = (lv + 0.5) / LEVELS
    a, b, u = (LOW, MID, t * 2) if t < 0.5 else (MID, HIGH, t * 2 - 1)
    return Color.from_rgb(*(round(x + (y - x) * u) for x, y in zip(a, b, strict=True)))


@lru_cache(maxsize=(LEVELS + 1) * (LEVELS + 2))
def cell_style(top: int, bottom: int | None) -> Style:
    """The style of one text cell holding two matrix rows (no bottom row: terminal background)."""
    return Style(color=level_color(top), bgcolor=level_color(bottom) if bottom is not None else None)


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


def matrix_text(snap: Snapshot, max_cols: int, max_lines: int) -> Text:
    """The matrix in at most ``max_cols`` × ``max_lines`` cells, two matrix rows per line."""
    if max_cols < 1 or max_lines < 1:
        return Text("")
    block = max(1, math.ceil(snap.n / max_cols), math.ceil(snap.n / (2 * max_lines)))
    grid = [[level(v) for v in row] for row in block_average(snap, block)]
    text = Text(no_wrap=True, overflow="crop")
    for i in range(0, len(grid), 2):
        top, bottom = grid[i], grid[i + 1] if i + 1 < len(grid) else None
        for j, lv in enumerate(top):
            text.append(HALF, cell_style(lv, bottom[j] if bottom is not None else None))
        if i + 2 < len(grid):
            text.append("\n")
    return text


def shade(lv: int) -> str:
    """The shade character of a colour level (NaN: a dot)."""
    return NAN_SHADE if lv < 0 else SHADES[lv * len(SHADES) // LEVELS]


def shaded_text(snap: Snapshot, max_cols: int, max_lines: int) -> Text:
    """The matrix without colour: a shade per cell, two characters per column so that it stays square."""
    if max_cols < 2 or max_lines < 1:
        return Text("")
    block = max(1, math.ceil(snap.n / (max_cols // 2)), math.ceil(snap.n / max_lines))
    rows = ["".join(2 * shade(level(v)) for v in row) for row in block_average(snap, block)]
    return Text("\n".join(rows), no_wrap=True, overflow="crop")


def legend_text(step: int | None, position: str, mono: bool = False) -> Text:
    """``-1 ▀▀▀▀ +1  step 250  live``: the colour (or shade) scale, the snapshot's step and which one it is."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append("-1", style="dim")
    if mono:
        text.append(f"[{SHADES}]")
    else:
        for k in range(8):
            text.append("█", Style(color=level_color(round(k * (LEVELS - 1) / 7))))
    text.append("+1", style="dim")
    if step is not None:
        text.append("  step ", style="dim").append(f"{step:,}", style="bold")
        text.append(f"  {position}", style="bold green" if position == "live" else "bold yellow")
    return text


class SimilarityView(Widget):
    """A similarity snapshot under its legend; redrawn when the snapshot or its position changes."""

    snapshot: reactive[Snapshot | None] = reactive(None)  # compared by identity: snapshots never change
    position: reactive[str] = reactive("live")  # "live", or "3/7" when stepping through older ones

    def text(self) -> Text:
        """What the view shows: legend, then the matrix (shades where the app draws no colour)."""
        snap, mono = self.snapshot, self.app.no_color
        legend = legend_text(snap.step if snap else None, self.position, mono)
        if snap is None:
            return Text.assemble(legend, "\n", Text("no snapshot yet", style="dim"), no_wrap=True)
        width, height = self.content_size
        body = shaded_text(snap, width, height - 1) if mono else matrix_text(snap, width, height - 1)
        return Text.assemble(legend, "\n", body, no_wrap=True, overflow="crop")

    def render(self) -> Group:
        return Group(self.text())  # drawn by Rich: half the cost of Textual's conversion of a style per cell
