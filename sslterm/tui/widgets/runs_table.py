"""The runs table: one row per run, filtered, sorted (starred first), with a mark column for the selection."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import DataTable

from sslterm.tui.scanner import RunRow
from sslterm.tui.widgets.run_header import fmt_duration, state_text

NOTES_WIDTH = 32  # characters of tags and notes shown; the rest is in the notes dialog


def notes_cell(row: RunRow) -> str:
    """``#tag #other first words of the notes…``, cut to :data:`NOTES_WIDTH`."""
    text = " ".join([*(f"#{t}" for t in row.tags), " ".join(row.notes.split())]).strip()
    return text if len(text) <= NOTES_WIDTH else text[: NOTES_WIDTH - 1] + "…"


def state_cell(row: RunRow) -> Text:
    """The run's state, with a yellow ⚠ when its status has a warning (its dashboard's header says it)."""
    text = state_text(row.state)
    return text.append(" ⚠", style="yellow") if row.warning else text


@dataclass(frozen=True)
class Column:
    """A column of the runs table: its key, header and, if it sorts, the value it sorts by (None last)."""

    key: str
    label: str
    cell: Callable[[RunRow], str | Text]
    sort: Callable[[RunRow], Any] | None = None
    right: bool = False


def _step(row: RunRow) -> Text:
    return Text(f"{row.step:,}/{row.total:,}" if row.total else f"{row.step:,}", justify="right")


def _number(value: float | None, fmt: str, style: str = "") -> Text:
    return Text(format(value, fmt) if value is not None else "-", justify="right", style=style)


COLUMNS: tuple[Column, ...] = (
    Column("mark", "", lambda r: ""),  # filled in by the table: selection and star
    Column("state", "state", lambda r: state_cell(r), lambda r: r.state),
    Column("id", "run", lambda r: r.id, lambda r: r.id),
    Column("modality", "modality", lambda r: r.modality, lambda r: r.modality),
    Column("objective", "objective", lambda r: r.objective, lambda r: r.objective),
    Column("step", "step", _step, lambda r: r.step, right=True),
    Column("loss", "loss", lambda r: _number(r.loss, ".4g"), lambda r: r.loss, right=True),
    Column("probe", "probe", lambda r: _number(r.probe, ".3f", "bold" if r.probe_evaluated else ""),
           lambda r: r.probe, right=True),
    Column("time", "time", lambda r: Text(fmt_duration(r.duration), justify="right"), lambda r: r.duration,
           right=True),
    Column("notes", "tags/notes", notes_cell, lambda r: notes_cell(r) or None),
)
SORTABLE = tuple(c.key for c in COLUMNS if c.sort is not None)  # the number keys 1… sort by these, in order
BY_KEY = {c.key: c for c in COLUMNS}
NARROW_DROPS = ("modality", "objective")  # left out below WIDE columns: the run's name usually says its task
WIDE = 100  # columns of the table from which every column is shown


STAMP = re.compile(r"\d{6}-\d{6}-")  # the date and time a run id starts with (store.create_run)


ID_WIDTH = 26  # cells of a narrow table's run column: a longer name is cut in its middle (its suffix kept)


def short_id(row: RunRow) -> str:
    """The run id without its leading date and time (the list is newest first; any part of an id names it)."""
    short = STAMP.sub("", row.id, count=1) if STAMP.match(row.id) else row.id
    if len(short) <= ID_WIDTH:
        return short
    head = (ID_WIDTH - 1) // 2
    return f"{short[:head]}…{short[head + 1 - ID_WIDTH:]}"


NARROW_ID = Column("id", "run", short_id, lambda r: r.id)


def columns_for(width: int) -> tuple[Column, ...]:
    """The columns shown in a table ``width`` cells wide: at 80, loss, probe, time and 12 cells of tags and
    notes fit without scrolling (the ids lose their date and time)."""
    if width >= WIDE:
        return COLUMNS
    return tuple(NARROW_ID if c.key == "id" else c for c in COLUMNS if c.key not in NARROW_DROPS)


def order_rows(rows: list[RunRow], query: str, sort: str | None, reverse: bool) -> list[RunRow]:
    """The rows the filter lets through, sorted by a column (None: as given), starred first.

    The filter is words that must all appear in a run's id, name, modality, objective, state or tags;
    runs without a value in the sort column go last whichever the direction.
    """
    words = query.lower().split()
    shown = [r for r in rows if all(w in r.haystack() for w in words)]
    column = BY_KEY.get(sort) if sort else None
    if column is not None and column.sort is not None:
        key = column.sort
        present = sorted((r for r in shown if key(r) is not None), key=key, reverse=reverse)
        shown = present + [r for r in shown if key(r) is None]
    return sorted(shown, key=lambda r: not r.starred)  # stable: each group keeps its order


class RunsTable(DataTable[Any]):
    """The runs browser's table; keeps the cursor on its run and the selection across every refresh."""

    filter_text: reactive[str] = reactive("", init=False)
    sort_spec: reactive[tuple[str | None, bool]] = reactive((None, False), init=False)  # (column key, reversed)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True, fixed_columns=3)  # mark, state, run
        self.rows_by_id: dict[str, RunRow] = {}
        self.selected: set[str] = set()
        self.shown: list[str] = []  # run ids in table order
        self.shown_columns: tuple[Column, ...] = COLUMNS  # the columns shown: fewer in a narrow terminal

    def on_mount(self) -> None:
        self.shown_columns = columns_for(self.app.size.width)
        self._add_columns()

    def on_resize(self) -> None:
        columns = columns_for(self.size.width)
        if columns != self.shown_columns:
            self.shown_columns = columns
            self._rebuild_if_reordered(columns=True)

    def _add_columns(self) -> None:
        key, reverse = self.sort_spec
        for c in self.shown_columns:
            label = c.label + ((" ▼" if reverse else " ▲") if c.key == key else "")
            self.add_column(Text(label, justify="right") if c.right else label, key=c.key)

    def set_rows(self, rows: list[RunRow]) -> None:
        """Show a new scan: rows that changed are updated in place, the table rebuilt only if the order changed.

        The selection is kept by run id, also for a run missing from one scan (its status unreadable a moment).
        """
        old = self.rows_by_id
        self.rows_by_id = {r.id: r for r in rows}
        if not self._rebuild_if_reordered():
            for rid in self.shown:
                if self.rows_by_id[rid] != old.get(rid):
                    self._update_row(self.rows_by_id[rid])

    def watch_filter_text(self) -> None:
        self._rebuild_if_reordered()

    def watch_sort_spec(self) -> None:
        self._rebuild_if_reordered(columns=True)

    def sort_by(self, key: str) -> None:
        """Sort by a column; the same column again reverses the order."""
        current, reverse = self.sort_spec
        self.sort_spec = (key, not reverse) if key == current else (key, False)

    def cursor_id(self) -> str | None:
        """The id of the run under the cursor."""
        if not self.shown or not 0 <= self.cursor_row < len(self.shown):
            return None
        return self.shown[self.cursor_row]

    def cursor_run(self) -> RunRow | None:
        rid = self.cursor_id()
        return self.rows_by_id.get(rid) if rid else None

    def toggle_selected(self) -> None:
        """Select or unselect the run under the cursor, and move down."""
        rid = self.cursor_id()
        if rid is None:
            return
        self.selected ^= {rid}
        self.update_cell(rid, "mark", self._mark(self.rows_by_id[rid]))
        self.action_cursor_down()

    def selected_rows(self) -> list[RunRow]:
        """The selected runs, in table order first, then any hidden by the filter (not those gone from the root)."""
        order = [rid for rid in self.shown if rid in self.selected]
        order += sorted(self.selected - set(order))
        return [self.rows_by_id[rid] for rid in order if rid in self.rows_by_id]

    def _mark(self, row: RunRow) -> Text:
        text = Text("✓" if row.id in self.selected else " ", style="bold green")
        return text.append("★" if row.starred else " ", style="bold yellow")

    def _cells(self, row: RunRow) -> list[str | Text]:
        return [self._mark(row) if c.key == "mark" else c.cell(row) for c in self.shown_columns]

    def _update_row(self, row: RunRow) -> None:
        for c, cell in zip(self.shown_columns, self._cells(row), strict=True):
            self.update_cell(row.id, c.key, cell, update_width=True)

    def _rebuild_if_reordered(self, columns: bool = False) -> bool:
        order = order_rows(list(self.rows_by_id.values()), self.filter_text, *self.sort_spec)
        ids = [r.id for r in order]
        if ids == self.shown and not columns:
            return False
        current, index = self.cursor_id(), self.cursor_row
        self.clear(columns=columns)
        if columns:
            self._add_columns()
        for row in order:
            self.add_row(*self._cells(row), key=row.id)
        self.shown = ids
        if ids:
            self.move_cursor(row=ids.index(current) if current in ids else min(index, len(ids) - 1), animate=False)
        return True
