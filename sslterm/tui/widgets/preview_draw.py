"""Preview-server answers drawn as rich Text: pixels as half blocks, spectrograms as heat maps, tokens, graph lines.

Everything here is pure: an answer (see :mod:`sslterm.preview`) and a size in, lines of Text out.
Each layout shows as many examples as fit at a readable size, and fewer when space is short.
Without colour (``mono``) pixels and heat maps become shades; changed tokens are always reverse
and underlined, which reads in a monochrome terminal too.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import Any

from rich.color import Color
from rich.style import Style
from rich.text import Text

from sslterm.tui.widgets.preview_graph import GRAPH_KEY, graph_drawing

HALF = "▀"  # upper half block: foreground paints the top pixel of a cell, background the bottom one
SHADES = " ░▒▓█"
GAP = 1  # columns between the panels of one example
BLOCK_GAP = 3  # columns between examples side by side
CAPTION = 6  # narrowest panel: room for "view 1" over tiny images
HEAT = ((0, 0, 4), (81, 18, 124), (183, 55, 121), (252, 137, 97), (252, 253, 191))  # magma-like, quiet to loud
CHANGED = Style(reverse=True, underline=True, color="yellow")
MASK_GLYPH = "_"  # how sslterm.data.text.to_text shows MASK too
ROW_LABELS = ("orig", "view 1", "view 2")
Lines = list[Text]
RGB = tuple[int, int, int]


# ---- pixels and colours ----------------------------------------------------------------------------


def spans(n: int, k: int) -> list[range]:
    """``n`` cells split into ``k`` ≤ n runs of (almost) equal length."""
    return [range(i * n // k, max(i * n // k + 1, (i + 1) * n // k)) for i in range(k)]


def shrink(grid: Sequence[Sequence[Any]], rows: int, cols: int) -> list[list[Any]]:
    """Box-average a grid of numbers or RGB triples down to ``rows`` × ``cols`` (never up); triples become tuples."""
    h, w = len(grid), len(grid[0]) if grid else 0
    row_runs, col_runs = spans(h, min(rows, h)), spans(w, min(cols, w))
    out = []
    for rs in row_runs:
        line = []
        for cs in col_runs:
            cells = [grid[r][c] for r in rs for c in cs]
            if isinstance(cells[0], (int, float)):
                line.append(sum(cells) / len(cells))
            elif len(cells) == 1:
                line.append(tuple(cells[0]))
            else:
                n = len(cells)
                line.append((round(sum(p[0] for p in cells) / n), round(sum(p[1] for p in cells) / n),
                             round(sum(p[2] for p in cells) / n)))
        out.append(line)
    return out


def luma(p: RGB) -> float:
    """Brightness of an RGB pixel in [0, 1]."""
    return (0.299 * p[0] + 0.587 * p[1] + 0.114 * p[2]) / 255


def shade(v: float) -> str:
    """A shade character for a brightness in [0, 1]."""
    return SHADES[min(len(SHADES) - 1, max(0, int(v * len(SHADES))))]


@lru_cache(maxsize=65)
def heat_color(level: int) -> RGB:
    """The colour of heat level 0..64 on the quiet-to-loud scale."""
    t = level / 64 * (len(HEAT) - 1)
    k = min(len(HEAT) - 2, int(t))
    a, b, u = HEAT[k], HEAT[k + 1], t - k
    return (round(a[0] + (b[0] - a[0]) * u), round(a[1] + (b[1] - a[1]) * u), round(a[2] + (b[2] - a[2]) * u))


def heat(v: float) -> RGB:
    """The colour of a value in [0, 1]."""
    return heat_color(round(min(1.0, max(0.0, v)) * 64))


@lru_cache(maxsize=8192)
def pixel_style(top: RGB, bottom: RGB | None) -> Style:
    """The style of a half-block cell: the top pixel's colour on the bottom one's (none: the background)."""
    return Style(color=Color.from_rgb(*top), bgcolor=Color.from_rgb(*bottom) if bottom is not None else None)


def half_blocks(grid: Sequence[Sequence[RGB]], mono: bool) -> Lines:
    """RGB pixels, two rows per line: ``▀`` in the top pixel's colour over the bottom one's."""
    lines = []
    for i in range(0, len(grid), 2):
        top, bottom = grid[i], grid[i + 1] if i + 1 < len(grid) else None
        line = Text(no_wrap=True, overflow="crop")
        for j, p in enumerate(top):
            q = bottom[j] if bottom is not None else None
            if mono:
                line.append(shade((luma(p) + luma(q if q is not None else p)) / 2))
            else:
                line.append(HALF, pixel_style(p, q))
        lines.append(line)
    return lines


# ---- one payload as lines --------------------------------------------------------------------------


def image_lines(payload: dict[str, Any], side: int, mono: bool) -> Lines:
    """An image payload at most ``side`` pixels across."""
    rgb = payload["rgb"]
    return half_blocks(shrink(rgb, side, side), mono)


def heat_lines(payload: dict[str, Any], cols: int, rows: int, mono: bool) -> Lines:
    """A spectrogram payload in ``cols`` columns and ``rows`` pixel rows, low frequencies at the bottom."""
    grid = shrink(payload["values"], rows, cols)[::-1]
    if mono:
        return [Text("".join(shade(v) for v in line), no_wrap=True) for line in shrink(grid, len(grid) // 2 or 1, cols)]
    return half_blocks([[heat(v) for v in line] for line in grid], mono=False)


def token_text(payload: dict[str, Any]) -> Text:
    """A text payload with its changed tokens highlighted and the count of dropped tokens after it; BPE tokens
    (``bounds``) alternate plain and underlined, so each token's extent shows."""
    text = Text(no_wrap=True, overflow="ellipsis")
    for i, (token, changed) in enumerate(zip(payload["tokens"], payload["changed"], strict=True)):
        shown = MASK_GLYPH if token == "<mask>" else token
        text.append(shown, CHANGED if changed else "underline" if payload.get("bounds") and i % 2 else None)
    if payload.get("dropped"):
        text.append(f"  −{payload['dropped']}", style="dim")
    return text


def graph_cells(payload: dict[str, Any], original: bool) -> Text:
    """``15 n  23 e`` for an original; what a view lost and masked, ``−3 n  −11 e  12 f``, for a view."""
    if original:
        return Text(f"{payload['nodes']:>3} n {payload['edges']:>4} e", no_wrap=True)

    def lost(k: int) -> str:
        return f"−{k}" if k else "0"

    return Text(f"{lost(payload['dropped_nodes']):>3} n {lost(payload['dropped_edges']):>4} e "
                f"{payload['masked_features']:>3} f", no_wrap=True)


def fixed(text: Text, width: int) -> Text:
    """``text`` cut or padded to exactly ``width`` cells."""
    out = text.copy()
    out.truncate(width, overflow="ellipsis", pad=True)
    return out


def hjoin(panels: Sequence[Lines], widths: Sequence[int], gap: int) -> Lines:
    """Panels side by side, each padded to its width, top-aligned."""
    height = max((len(p) for p in panels), default=0)
    lines = []
    for i in range(height):
        line = Text(no_wrap=True, overflow="crop")
        for k, (panel, width) in enumerate(zip(panels, widths, strict=True)):
            if k:
                line.append(" " * gap)
            line.append_text(fixed(panel[i] if i < len(panel) else Text(), width))
        lines.append(line)
    return lines


# ---- a whole answer --------------------------------------------------------------------------------


def fit(count: int, sizes: Sequence[int], readable: int, block: Callable[[int], tuple[int, int]], width: int,
        height: int) -> tuple[int, int, int]:
    """(size, examples shown, examples per row) for ``sizes`` tried largest first.

    All ``count`` examples at the largest readable size that fits, else fewer examples; only when
    not even one fits at a readable size, one at a smaller size. (0, 0, 1) when nothing fits.
    """
    for pool in ([s for s in sizes if s >= readable], list(sizes)):
        for shown in range(count, 0, -1):
            for size in pool:
                w, h = block(size)
                if w > width:
                    continue
                per_row = max(1, min(shown, (width + BLOCK_GAP) // (w + BLOCK_GAP)))
                if math.ceil(shown / per_row) * h <= height:
                    return size, shown, per_row
    return 0, 0, 1


def grid_of(blocks: list[Lines], block_width: int, per_row: int) -> Lines:
    """Example blocks laid out ``per_row`` to a row."""
    lines: Lines = []
    for r in range(0, len(blocks), per_row):
        row = blocks[r : r + per_row]
        lines += hjoin(row, [block_width] * len(row), BLOCK_GAP)
    return lines


def captions(label: str | None, widths: Sequence[int]) -> Text:
    """The example's label over its original, ``view 1`` and ``view 2`` over the views."""
    names = [Text(label or "original", style="bold")] + [Text(f"view {k}", style="dim") for k in (1, 2)]
    return hjoin([[n] for n in names], widths, GAP)[0]


def pixel_layout(samples: list[dict[str, Any]], width: int, height: int, mono: bool) -> tuple[Lines, int]:
    """Images: per example, original and views side by side under their captions."""
    native = len(samples[0]["original"]["rgb"])

    def block(s: int) -> tuple[int, int]:
        return 3 * max(s, CAPTION) + 2 * GAP, 1 + math.ceil(s / 2)

    size, shown, per_row = fit(len(samples), range(native, 3, -1), 12, block, width, height)
    panel = max(size, CAPTION)
    blocks = []
    for sample in samples[:shown]:
        panels = [image_lines(p, size, mono) for p in (sample["original"], *sample["views"])]
        blocks.append([captions(sample["label"], [panel] * 3), *hjoin(panels, [panel] * 3, GAP)])
    return grid_of(blocks, block(size)[0], per_row), shown


def frames_layout(samples: list[dict[str, Any]], width: int, height: int, mono: bool) -> tuple[Lines, int]:
    """Video: per example, the original's and the views' strips of frames, one strip per row.

    Frames big enough to see motion come first: when the original and both views do not fit at a
    readable size, fewer strips are shown (original and view 1, then the original alone), then fewer
    frames per strip; only when nothing fits at a readable size are the frames made smaller.
    """
    n_frames = len(samples[0]["original"]["frames"])
    native = len(samples[0]["original"]["frames"][0])
    label_w = 7
    readable = min(native, 8)

    def block(s: int, strips: int, k: int) -> tuple[int, int]:
        return label_w + k * s + (k - 1) * GAP, 1 + strips * math.ceil(s / 2)

    choice = None
    for sizes in (range(native, readable - 1, -1), range(native, 3, -1)):
        for strips in (3, 2, 1):
            for k in range(n_frames, min(n_frames, 3) - 1, -1):
                def sized(s: int, strips: int = strips, k: int = k) -> tuple[int, int]:
                    return block(s, strips, k)

                size, shown, per_row = fit(len(samples), sizes, 0, sized, width, height)
                if shown:
                    choice = (size, shown, per_row, strips, k)
                    break
            if choice:
                break
        if choice:
            break
    if choice is None:
        return [], 0
    size, shown, per_row, strips, k = choice
    picked = [round(i * (n_frames - 1) / (k - 1)) for i in range(k)] if k > 1 else [0]
    blocks = []
    for sample in samples[:shown]:
        lines: Lines = [Text(sample["label"] or "", style="bold")]
        if strips < 3:
            lines[0].append(f"  ({' and '.join(ROW_LABELS[strips:])} need a taller terminal)", style="dim")
        payloads = (sample["original"], *sample["views"])[:strips]
        for name, payload in zip(ROW_LABELS, payloads, strict=False):
            frames = [payload["frames"][i] for i in picked]
            strip = hjoin([image_lines({"rgb": f}, size, mono) for f in frames], [size] * k, GAP)
            lines += hjoin([[Text(name, style="dim")], strip], [label_w - 1, block(size, strips, k)[0] - label_w], 1)
        blocks.append(lines)
    return grid_of(blocks, block(size, strips, k)[0], per_row), shown


def heat_layout(samples: list[dict[str, Any]], width: int, height: int, mono: bool) -> tuple[Lines, int]:
    """Audio: per example, the three spectrograms side by side; a colour scale first."""
    values = samples[0]["original"]["values"]
    legend = Text("quiet ", style="dim", no_wrap=True)
    for k in range(8):
        v = k / 7
        legend.append(shade(v) if mono else "█", None if mono else Style(color=Color.from_rgb(*heat(v))))
    legend.append(" loud  (60 dB; low pitch at the bottom)", style="dim")
    for rows in (len(values), len(values) // 2):
        def block(c: int, rows: int = rows) -> tuple[int, int]:
            return 3 * c + 2 * GAP, 1 + math.ceil(rows / 2)

        cols, shown, per_row = fit(len(samples), range(len(values[0]), 7, -1), 16, block, width, height - 1)
        if shown:
            break
    blocks = []
    for sample in samples[:shown]:
        panels = [heat_lines(p, cols, rows, mono) for p in (sample["original"], *sample["views"])]
        blocks.append([captions(sample["label"], [cols] * 3), *hjoin(panels, [cols] * 3, GAP)])
    return ([legend, *grid_of(blocks, 3 * cols + 2 * GAP, per_row)] if shown else []), shown


def wrapped(text: Text, width: int, lines: int) -> Lines:
    """``text`` cut into at most ``lines`` lines of ``width`` cells, the last one ending in … when cut short."""
    parts = list(text.divide(range(width, len(text), width)))
    if len(parts) > lines:
        parts = [*parts[: lines - 1], Text("").join(parts[lines - 1 :])]
    return [fixed(p, width) for p in parts]


def text_layout(samples: list[dict[str, Any]], width: int, height: int) -> tuple[Lines, int]:
    """Text: per example its label, then the original and each view, each wrapped over as many lines as fit."""
    shown = min(len(samples), height // 4)
    if not shown:
        return [], 0
    area = max(1, width - 7)
    texts = [[token_text(p) for p in (s["original"], *s["views"])] for s in samples[:shown]]
    longest = max(len(t) for row in texts for t in row)
    per_seq = max(1, min(math.ceil(longest / area), (height // shown - 1) // 3))
    lines: Lines = []
    for sample, row in zip(samples, texts, strict=False):
        lines.append(Text(sample["label"] or "", style="bold"))
        for name, text in zip(ROW_LABELS, row, strict=True):
            lines += hjoin([[Text(name, style="dim")], wrapped(text, area, per_seq)], [6, area], 1)
    return lines, shown


def graph_layout(samples: list[dict[str, Any]], width: int, height: int, mono: bool) -> tuple[Lines, int]:
    """Graphs: per example the original and each view drawn side by side, with what each view lost under it;
    without room for drawings (or drawing data), one summary line per example."""
    if "edge_list" not in samples[0]["original"] or height < 6:
        return graph_summary(samples, height)
    cols = min(32, (width - 2 * GAP) // 3)
    compact = height < 9  # no caption line: the names go on the counts line, the drawing gets the room
    rows = min(11, height - 2 if compact else height - 4)
    shown = min(len(samples), max(1, (height - 1) // (rows + 2)), max(1, (width + BLOCK_GAP) // (3 * cols + 2 * GAP)))
    blocks = []
    for sample in samples[:shown]:
        payloads = (sample["original"], *sample["views"])
        panels = [graph_drawing(p, cols, rows, mono) for p in payloads]
        counts = [graph_cells(p, k == 0) for k, p in enumerate(payloads)]
        if compact:
            names = [Text(sample["label"] or "original", style="bold"),
                     *(Text(f"view {k}", style="dim") for k in (1, 2))]
            counts = [Text.assemble(name, " ", count) for name, count in zip(names, counts, strict=True)]
        head = [] if compact else [captions(sample["label"], [cols] * 3)]
        blocks.append([*head, *hjoin(panels, [cols] * 3, GAP), *hjoin([[c] for c in counts], [cols] * 3, GAP)])
    key = fixed(Text(GRAPH_KEY, style="dim"), min(width, len(GRAPH_KEY)))
    return [*grid_of(blocks, 3 * cols + 2 * GAP, shown), key], shown


def graph_summary(samples: list[dict[str, Any]], height: int) -> tuple[Lines, int]:
    """Graphs: a header, one summary line per example, and a key."""
    shown = min(len(samples), height - 2)
    widths = [16, 12, 18, 18]
    head = hjoin([[Text(h, style="dim")] for h in ("graph", "original", "view 1", "view 2")], widths, 2)
    lines = head
    for sample in samples[:shown]:
        cells = [Text(sample["label"] or "", style="bold"), graph_cells(sample["original"], True),
                 *(graph_cells(v, False) for v in sample["views"])]
        lines += hjoin([[c] for c in cells], widths, 2)
    key = Text("n nodes, e edges; a view shows what it dropped, and f: feature values it zeroed", style="dim",
               no_wrap=True)
    return [*lines, key] if shown else [], shown


def answer_text(answer: dict[str, Any], width: int, height: int, mono: bool) -> Text:
    """A preview answer drawn in at most ``width`` × ``height`` cells: a summary line, then the examples."""
    if "error" in answer:
        return Text(f"preview: {answer['error']}", style="bold red")
    samples = answer.get("samples") or []
    if not samples:
        return Text("preview: no examples to show", style="dim")
    kind = samples[0]["original"]["kind"]
    body_height = height - 1
    if kind == "image":
        body, shown = pixel_layout(samples, width, body_height, mono)
    elif kind == "frames":
        body, shown = frames_layout(samples, width, body_height, mono)
    elif kind == "spectrogram":
        body, shown = heat_layout(samples, width, body_height, mono)
    elif kind == "text":
        body, shown = text_layout(samples, width, body_height)
    else:
        body, shown = graph_layout(samples, width, body_height, mono)
    head = Text(no_wrap=True, overflow="ellipsis")
    head.append(f"{answer['modality']}: ", style="bold")
    head.append(f"{shown} of {len(samples)} examples, two augmented draws each" if shown < len(samples)
                else f"{len(samples)} examples, two augmented draws each")
    for note in answer.get("notes", []):
        head.append(f" · {note}", style="dim")
    if not shown:
        return Text.assemble(head, "\n", Text("(too small to draw: enlarge the terminal)", style="dim"))
    return Text("\n", no_wrap=True, overflow="crop").join([head, *body])
