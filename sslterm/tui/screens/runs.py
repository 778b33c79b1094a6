"""The runs list: every run under the runs root with its state, objective, progress and last loss."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Static
from textual.worker import Worker, WorkerState

from sslterm.store import Run
from sslterm.tui.messages import OpenRun, RunsScanned
from sslterm.tui.poller import RunRow, RunsScanner
from sslterm.tui.screens.dialogs import HelpScreen
from sslterm.tui.widgets.run_header import state_text

REFRESH_SECONDS = 2.0
COLUMNS = (("id", "run"), ("state", "state"), ("objective", "objective"), ("step", "step"), ("loss", "loss"))


def row_cells(row: RunRow) -> tuple[str | Text, ...]:
    """The table cells of a run, in :data:`COLUMNS` order."""
    step = f"{row.step:,}/{row.total:,}" if row.total else f"{row.step:,}"
    loss = f"{row.loss:.4g}" if row.loss is not None else "-"
    numbers = (Text(step, justify="right"), Text(loss, justify="right"))
    return (row.id, state_text(row.state), row.objective, *numbers)


class RunsScreen(Screen[None]):
    """Lists the runs under a root, refreshed every few seconds; Enter opens one's dashboard."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "app.quit", "Quit"),
        Binding("question_mark", "help", "Help", key_display="?"),
        Binding("r", "refresh", "Refresh"),
    ]

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root
        self.rows: dict[str, RunRow] = {}
        self._scanner = RunsScanner(root)
        self._scanning = False

    def compose(self) -> ComposeResult:
        yield Static(f"runs in {self.root}", id="runs-title")
        yield DataTable(id="runs", cursor_type="row", zebra_stripes=True)
        yield Static("", id="runs-empty")
        yield Footer()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for key, label in COLUMNS:
            table.add_column(Text(label, justify="right") if key in ("step", "loss") else label, key=key)
        self.action_refresh()
        self.set_interval(REFRESH_SECONDS, self._tick)

    def on_screen_resume(self) -> None:
        self.action_refresh()  # back from a dashboard: show what changed meanwhile

    def _tick(self) -> None:
        if self.is_current:
            self.action_refresh()

    def action_refresh(self) -> None:
        if not self._scanning:
            self._scanning = True
            self._scan()

    @work(thread=True, group="scan", exit_on_error=False, description="list the runs")
    def _scan(self) -> None:
        self.post_message(RunsScanned(self._scanner.scan()))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "scan" and event.state in (
            WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED
        ):
            self._scanning = False
            if event.state == WorkerState.ERROR:
                self.notify(f"listing {self.root}: {event.worker.error}", severity="error")

    def on_runs_scanned(self, message: RunsScanned) -> None:
        table = self.query_one(DataTable)
        new = {row.id: row for row in message.rows}
        if list(new) != list(self.rows):  # runs came or went: rebuild, keeping the cursor on its run
            current = self._cursor_id()
            table.clear()
            for row in message.rows:
                table.add_row(*row_cells(row), key=row.id)
            if current in new:
                table.move_cursor(row=table.get_row_index(current))
        else:
            for row in message.rows:
                if row != self.rows[row.id]:
                    for (key, _), cell in zip(COLUMNS, row_cells(row), strict=True):
                        table.update_cell(row.id, key, cell)
        self.rows = new
        empty = "" if new else f"no runs yet under {self.root}/ — start one with `sslterm run`"
        self.query_one("#runs-empty", Static).update(empty)

    def _cursor_id(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        row = self.rows.get(str(event.row_key.value))
        if row is not None:
            self.post_message(OpenRun(Run(row.path)))

    def action_help(self) -> None:
        keys = [("↑ / ↓", "move"), ("enter", "open the run's dashboard"), ("r", "refresh now"),
                ("?", "this help"), ("q", "quit")]
        self.app.push_screen(HelpScreen("Runs", keys))
