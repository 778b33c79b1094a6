"""A graph preview drawn in terminal cells: nodes on an ellipse, edges as dotted lines, what a view dropped marked."""

from __future__ import annotations

import math
from typing import Any

from rich.text import Text

NODE_KEPT, NODE_DROPPED, EDGE_KEPT, EDGE_DROPPED = "o", "×", "·", ":"
GRAPH_KEY = "o node  × dropped node  · edge  : dropped edge  n/e/f: nodes, edges, features zeroed"


def node_positions(n: int, cols: int, rows: int) -> list[tuple[int, int]]:
    """``n`` nodes on an ellipse filling ``cols`` × ``rows`` cells, the first at the top, clockwise."""
    cx, cy = (cols - 1) / 2, (rows - 1) / 2
    return [(round(cx + cx * math.cos(2 * math.pi * k / n - math.pi / 2)),
             round(cy + cy * math.sin(2 * math.pi * k / n - math.pi / 2))) for k in range(n)]


def line_cells(a: tuple[int, int], b: tuple[int, int]) -> list[tuple[int, int]]:
    """The cells of a straight line from ``a`` to ``b`` (Bresenham), ends excluded."""
    (x0, y0), (x1, y1) = a, b
    dx, dy, sx, sy = abs(x1 - x0), -abs(y1 - y0), 1 if x0 < x1 else -1, 1 if y0 < y1 else -1
    err, out = dx + dy, []
    while (x0, y0) != (x1, y1):
        e2 = 2 * err
        if e2 >= dy:
            err, x0 = err + dy, x0 + sx
        if e2 <= dx:
            err, y0 = err + dx, y0 + sy
        out.append((x0, y0))
    return out[:-1]


def graph_drawing(payload: dict[str, Any], cols: int, rows: int, mono: bool) -> list[Text]:
    """A graph payload drawn in ``cols`` × ``rows`` cells: nodes on an ellipse, edges as dotted lines; what the
    view dropped in red (and with its own glyph, which reads without colour)."""
    kept_nodes, edges, kept_edges = payload["kept_nodes"], payload["edge_list"], payload["kept_edges"]
    grid: list[list[tuple[str, str | None]]] = [[(" ", None)] * cols for _ in range(rows)]
    at = node_positions(len(kept_nodes), cols, rows) if kept_nodes else []
    for (a, b), kept in sorted(zip(edges, kept_edges, strict=True), key=lambda e: e[1]):  # kept edges on top
        for x, y in line_cells(at[a], at[b]):
            grid[y][x] = (EDGE_KEPT, "cyan") if kept else (EDGE_DROPPED, "red")
    for (x, y), kept in zip(at, kept_nodes, strict=True):
        grid[y][x] = (NODE_KEPT, "bold") if kept else (NODE_DROPPED, "bold red")
    lines: list[Text] = []
    for row in grid:
        line = Text(no_wrap=True, overflow="crop")
        for char, style in row:
            line.append(char, None if mono and style != "bold" else style)
        lines.append(line)
    return lines
