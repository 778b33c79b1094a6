"""The runs table: one row per run, filtered, sorted (starred first), with a mark column for the selection;
the runs of a sweep under one collapsible row with the sweep's progress."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from rich.text import Text
from textual.reactive import reactive
from textual.widgets import DataTable

from sslterm.tui.scanner import RunRow, SweepGroup
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


def short_id(run_id: str) -> str:
    """A run's (or sweep's) id without its leading date and time (the list is newest first; any part of an
    id names it)."""
    return STAMP.sub("", run_id, count=1) if STAMP.match(run_id) else run_id


def squeeze_end(text: str, width: int) -> str:
    """``text`` in at most ``width`` cells, cut in its middle (its suffix, which tells runs apart, kept)."""
    if len(text) <= width:
        return text
    head = (width - 1) // 2
    return f"{text[:head]}…{text[head + 1 - width:]}"


NARROW_ID = Column("id", "run", lambda r: squeeze_end(short_id(r.id), ID_WIDTH), lambda r: r.id)


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


COLLAPSE_FROM = 5  # a sweep of more trials than this starts closed (a filter opens every sweep it matches); by
# its trials, not its runs so far, so that a sweep does not close as its runs start
Item = RunRow | SweepGroup


def layout(rows: list[RunRow], groups: list[SweepGroup], query: str, sort: str | None, reverse: bool,
           is_open: Callable[[SweepGroup], bool]) -> list[Item]:
    """The table's rows in order: runs as :func:`order_rows` puts them, except that a sweep's runs follow
    its group row, which stands where its first run would be; sweeps with no run yet come first.

    With a filter, a sweep is shown with the runs it lets through (their trial and setting count: ``t004``,
    ``0.2``; all of them when the sweep's own id or name matches), and not at all when none does; a closed
    sweep shows its group row only.
    """
    words = query.lower().split()
    of = {rid: g for g in groups for rid in g.run_ids}
    labels = {rid: label.lower() for g in groups for rid, label in g.labels}
    present = {r.id for r in rows}
    named = {g.id: bool(words) and all(w in g.haystack() for w in words) for g in groups}
    members: dict[str, list[RunRow]] = {g.id: [] for g in groups}
    order: list[Item] = [g for g in groups if (not words or named[g.id]) and not present.intersection(g.run_ids)]
    for r in order_rows(rows, "", sort, reverse):
        g = of.get(r.id)
        if g is None:
            if all(w in r.haystack() for w in words):
                order.append(r)
        elif named[g.id] or all(w in f"{r.haystack()} {labels.get(r.id, '')}" for w in words):
            if not members[g.id]:
                order.append(g)
            members[g.id].append(r)
    out: list[Item] = []
    for item in order:
        out.append(item)
        if isinstance(item, SweepGroup) and is_open(item):
            out.extend(members[item.id])
    return out


def best_of(rows: list[RunRow]) -> tuple[float | None, float | None]:
    """The lowest loss and the highest probe accuracy among a sweep's runs so far."""
    losses = [r.loss for r in rows if r.loss is not None]
    probes = [r.probe for r in rows if r.probe is not None]
    return min(losses, default=None), max(probes, default=None)


def progress_note(group: SweepGroup) -> str:
    """``2 running · 3 queued · 1 failed`` (what is not zero), or why the sweep cannot be read."""
    if group.error:
        return group.error
    running = group.count("running") + group.count("starting")
    parts = [(running, "running"), (group.count("queued"), "queued"), (group.count("failed"), "failed"),
             (group.count("cancelled"), "cancelled")]
    return " · ".join(f"{n} {what}" for n, what in parts if n) or "all ended"


def sweep_summary(group: SweepGroup, runs: list[RunRow]) -> Text:
    """The line under the runs list for the sweep at the cursor: its progress and its best runs so far."""
    text = Text(no_wrap=False)
    text.append(f"sweep {group.name}", style="bold").append("  ").append_text(state_text(group.state))
    text.append(f"  {group.count('done')}/{group.total} trials done · {progress_note(group)}")
    labels = dict(group.labels)
    for what, key, pick, fmt in (("probe", lambda r: r.probe, max, ".3f"), ("loss", lambda r: r.loss, min, ".4g")):
        have = [r for r in runs if key(r) is not None]
        if have:
            best = pick(have, key=key)
            text.append(f" · best {what} ", style="dim").append(format(key(best), fmt), style="bold")
            text.append(f" ({labels.get(best.id, best.id)})", style="dim")
    if group.keys:
        text.append(f" · swept: {', '.join(group.keys)}", style="dim")
        text.append(" · c compares its settings, v which key matters", style="cyan")
    return text


class RunsTable(DataTable[Any]):
    """The runs browser's table; keeps the cursor on its row and the selection across every refresh.

    A row's key is its run's id, or a sweep's :attr:`~SweepGroup.row_key` for the row that groups its runs.
    """

    filter_text: reactive[str] = reactive("", init=False)
    sort_spec: reactive[tuple[str | None, bool]] = reactive((None, False), init=False)  # (column key, reversed)

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True, fixed_columns=3)  # mark, state, run
        self.rows_by_id: dict[str, RunRow] = {}
        self.groups: dict[str, SweepGroup] = {}  # by row key
        self.selected: set[str] = set()
        self.shown: list[str] = []  # row keys in table order
        self.shown_columns: tuple[Column, ...] = COLUMNS  # the columns shown: fewer in a narrow terminal
        self._open: dict[str, bool] = {}  # sweeps the user opened or closed (without a filter)
        self._open_filtered: dict[str, bool] = {}  # the same while a filter is typed (forgotten when it changes)
        self._member_of: dict[str, SweepGroup] = {}
        self._group_cells: dict[str, list[str | Text]] = {}

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

    def set_rows(self, rows: list[RunRow], groups: list[SweepGroup] | None = None) -> None:
        """Show a new scan: rows that changed are updated in place, the table rebuilt only if the order changed.

        The selection is kept by run id, also for a run missing from one scan (its status unreadable a moment).
        """
        old = self.rows_by_id
        self.rows_by_id = {r.id: r for r in rows}
        if groups is not None:
            self.groups = {g.row_key: g for g in groups}
            self._member_of = {rid: g for g in groups for rid in g.run_ids}
        if not self._rebuild_if_reordered():
            for key in self.shown:
                if key in self.groups:
                    self._update_group(self.groups[key])
                elif self.rows_by_id[key] != old.get(key):
                    self._update_row(self.rows_by_id[key])

    def watch_filter_text(self) -> None:
        self._open_filtered.clear()
        self._rebuild_if_reordered()

    def watch_sort_spec(self) -> None:
        self._rebuild_if_reordered(columns=True)

    def sort_by(self, key: str) -> None:
        """Sort by a column; the same column again reverses the order."""
        current, reverse = self.sort_spec
        self.sort_spec = (key, not reverse) if key == current else (key, False)

    def is_open(self, group: SweepGroup) -> bool:
        """Whether the sweep's runs are shown under its row: sweeps of a few trials and filtered ones start open."""
        choices = self._open_filtered if self.filter_text else self._open
        return choices.get(group.id, bool(self.filter_text) or group.total <= COLLAPSE_FROM)

    def toggle_open(self, group: SweepGroup) -> None:
        """Open a closed sweep, close an open one (the cursor stays on its row)."""
        choices = self._open_filtered if self.filter_text else self._open
        choices[group.id] = not self.is_open(group)
        self._rebuild_if_reordered(force=True)

    def cursor_id(self) -> str | None:
        """The key of the row under the cursor: a run's id or a sweep's row key."""
        if not self.shown or not 0 <= self.cursor_row < len(self.shown):
            return None
        return self.shown[self.cursor_row]

    def cursor_run(self) -> RunRow | None:
        rid = self.cursor_id()
        return self.rows_by_id.get(rid) if rid else None

    def cursor_group(self) -> SweepGroup | None:
        """The sweep under the cursor: its own row, or one of its runs."""
        key = self.cursor_id()
        if key is None:
            return None
        return self.groups.get(key) or self._member_of.get(key)

    def members(self, group: SweepGroup) -> list[RunRow]:
        """The sweep's runs that are listed now, in queue order."""
        return [self.rows_by_id[rid] for rid in group.run_ids if rid in self.rows_by_id]

    def toggle_selected(self) -> None:
        """Select or unselect the run under the cursor (on a sweep's row: all its runs), and move down."""
        key = self.cursor_id()
        if key is None:
            return
        group = self.groups.get(key)
        if group is not None:
            ids = {r.id for r in self.members(group)}
            self.selected = self.selected - ids if ids <= self.selected else self.selected | ids
            for rid in ids.intersection(self.shown):
                self.update_cell(rid, "mark", self._mark(self.rows_by_id[rid]))
        else:
            self.selected ^= {key}
            self.update_cell(key, "mark", self._mark(self.rows_by_id[key]))
            group = self._member_of.get(key)
        if group is not None and group.row_key in self.shown:
            self._update_group(group)
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
        group = self._member_of.get(row.id)
        label = dict(group.labels).get(row.id) if group is not None else None
        cells: list[str | Text] = []
        for c in self.shown_columns:
            if c.key == "mark":
                cells.append(self._mark(row))
            elif c.key == "id" and label is not None:
                cells.append(Text("  " + squeeze_end(label, ID_WIDTH - 2)))  # in its sweep: the trial and setting
            else:
                cells.append(c.cell(row))
        return cells

    def _group_row(self, group: SweepGroup) -> list[str | Text]:
        """A sweep's row: open or closed, its state, name, trials done of all, best loss and probe so far."""
        runs = self.members(group)
        loss, probe = best_of(runs)
        ids = {r.id for r in runs}
        cells: dict[str, str | Text] = {
            "mark": Text("▾" if self.is_open(group) else "▸", style="bold").append(
                "✓" if ids and ids <= self.selected else " ", style="bold green"),
            "state": state_text(group.state),
            "id": Text(squeeze_end(short_id(group.id), ID_WIDTH), style="bold"),
            "step": Text(f"{group.count('done')}/{group.total} done", justify="right"),
            "loss": _number(loss, ".4g", "bold"),
            "probe": _number(probe, ".3f", "bold"),
            "notes": Text(progress_note(group), style="red" if group.error else "dim"),
        }
        return [cells.get(c.key, "") for c in self.shown_columns]

    def _update_group(self, group: SweepGroup) -> None:
        cells = self._group_row(group)
        if cells == self._group_cells.get(group.row_key):
            return
        self._group_cells[group.row_key] = cells
        for c, cell in zip(self.shown_columns, cells, strict=True):
            self.update_cell(group.row_key, c.key, cell, update_width=True)

    def _update_row(self, row: RunRow) -> None:
        for c, cell in zip(self.shown_columns, self._cells(row), strict=True):
            self.update_cell(row.id, c.key, cell, update_width=True)

    def _rebuild_if_reordered(self, columns: bool = False, force: bool = False) -> bool:
        items = layout(list(self.rows_by_id.values()), list(self.groups.values()), self.filter_text,
                       *self.sort_spec, self.is_open)
        keys = [i.row_key if isinstance(i, SweepGroup) else i.id for i in items]
        if keys == self.shown and not columns and not force:
            return False
        current, index = self.cursor_id(), self.cursor_row
        self.clear(columns=columns)
        if columns:
            self._add_columns()
        self._group_cells.clear()
        for item in items:
            if isinstance(item, SweepGroup):
                self._group_cells[item.row_key] = cells = self._group_row(item)
                self.add_row(*cells, key=item.row_key)
            else:
                self.add_row(*self._cells(item), key=item.id)
        self.shown = keys
        if keys:
            if current not in keys and current in self._member_of:  # its sweep was closed: onto the sweep's row
                current = self._member_of[current].row_key
            self.move_cursor(row=keys.index(current) if current in keys else min(index, len(keys) - 1),
                             animate=False)
        return True
