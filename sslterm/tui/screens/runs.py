"""The runs browser: every run under the root, a sweep's runs grouped under its progress; filter, sort, star,
select, compare, stop, resume, delete, annotate."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import ClassVar

from textual import events, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Input, Static
from textual.worker import Worker, WorkerState

from sslterm.store import Run, StatusError
from sslterm.tui.annotations import parse_tags, set_starred, write_notes, write_tags
from sslterm.tui.messages import CompareRuns, OpenLauncher, OpenRun, RunChanged, RunsScanned
from sslterm.tui.pace import pace
from sslterm.tui.run_actions import (
    delete_problem,
    delete_run,
    resume_detached,
    resume_problem,
    send_stop,
    stop_problem,
)
from sslterm.tui.scanner import RunRow, RunsScanner, scan_sweeps
from sslterm.tui.screens.dialogs import ConfirmScreen, HelpScreen, PromptScreen, TypesIntoInput, keys_help
from sslterm.tui.widgets.footer import AppFooter
from sslterm.tui.widgets.runs_table import SORTABLE, RunsTable, sweep_summary


def _sort_bindings() -> list[BindingType]:
    first = Binding("1", f"sort('{SORTABLE[0]}')", "Sort", key_display=f"1-{len(SORTABLE)}", show=False,
                    tooltip="sort by that column (again: reverse)")
    return [first, *(Binding(str(i + 1), f"sort('{key}')", show=False) for i, key in enumerate(SORTABLE) if i)]


class FilterInput(Input):
    """The runs filter: enter (keep) and esc (clear) hand the focus back to the list as the key is handled.

    Input's own enter posts a message that would move the focus only after the next key had been given
    to the filter; here the next key already reaches the list.
    """

    async def _on_key(self, event: events.Key) -> None:  # Textual calls each class's, this before Input's
        screen = self.screen
        if event.key in ("enter", "escape") and isinstance(screen, RunsScreen):
            event.stop()
            event.prevent_default()
            screen.keep_filter() if event.key == "enter" else screen.action_clear_filter()


class RunsScreen(TypesIntoInput, Screen[None]):
    """Lists the runs under a root, refreshed every few seconds; Enter opens one's dashboard.

    The app hands keys on one at a time (:class:`~sslterm.tui.key_order.KeysInOrder`), so the keys typed
    behind ``/``, ``n`` or ``t`` reach the text they open; while the filter has the focus no command runs,
    and a text key that reaches the screen all the same is typed into the filter (:class:`TypesIntoInput`).
    """

    # the footer (compact, without the palette) fits 80 columns; star, sort, notes, tags and refresh are in ?
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "help", "Help", key_display="?", tooltip="this help"),
        Binding("slash", "filter", "Filter", key_display="/",
                tooltip="filter: words in the id, name, task, state, tags (enter keeps, esc clears)"),
        Binding("escape", "clear_filter('typing')", "Clear filter", key_display="esc"),  # shown while typing
        Binding("escape", "clear_filter", "Clear filter", show=False, key_display="esc", tooltip="clear the filter"),
        Binding("enter", "open", "Open", tooltip="open the run's dashboard; on a sweep's row: show or hide its runs"),
        Binding("space", "select", "Select", key_display="space",
                tooltip="select the run (for c); on a sweep's row: all its runs"),
        Binding("c", "compare", "Compare",
                tooltip="compare the selected runs (none selected, on a sweep: its settings, seeds averaged)"),
        Binding("v", "sensitivity", "Sensitivity", show=False,
                tooltip="the sweep's final metric against each swept key (on a sweep or one of its runs)"),
        Binding("l", "new_run", "New run", tooltip="configure and launch a new run"),
        Binding("w", "app.open_queue", "Queue", show=False,
                tooltip="the sweeps' queue: pause, resume or cancel a sweep, move a trial up"),
        Binding("s", "stop", "Stop", tooltip="stop the run (asks first; it saves a checkpoint)"),
        Binding("R", "resume", "Resume", tooltip="resume a stopped, failed, diverged or lost run"),
        Binding("d", "delete", "Delete", tooltip="delete a run that is not running (asks first)"),
        Binding("q", "app.quit", "Quit", tooltip="quit"),
        Binding("asterisk", "star", "Star", key_display="*", show=False, tooltip="star (starred runs come first)"),
        *_sort_bindings(),
        Binding("n", "notes", "Notes", show=False, tooltip="edit the run's notes"),
        Binding("t", "tags", "Tags", show=False, tooltip="edit the run's tags"),
        Binding("r", "refresh", "Refresh", show=False, tooltip="read the runs again now"),
    ]
    HELP_NOTES: ClassVar[list[tuple[str, str]]] = [  # what is not a binding of the screen
        ("↑ / ↓", "move (← / → scroll the columns)"),
        ("probe", "eval.json's linear probe (bold), else the newest online probe or kNN accuracy"),
        ("⚠", "after the state: the run has a warning, likely unintended (its dashboard says which)"),
        ("▸ / ▾", "a sweep (closed / open): trials done of all, best loss and probe so far, what is running, "
                  "queued, failed"),
    ]

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root
        self._scanner = RunsScanner(root)
        self._scanning = False

    @property
    def rows(self) -> dict[str, RunRow]:
        return self.query_one(RunsTable).rows_by_id

    def compose(self) -> ComposeResult:
        yield Static(f"runs in {self.root}", id="runs-title")
        yield RunsTable(id="runs")
        yield Static("", id="runs-sweep")
        yield Static("", id="runs-empty")
        yield FilterInput(placeholder="words in id, name, modality, objective, state, tags · enter keeps · esc clears",
                          id="runs-filter", select_on_focus=False)
        yield AppFooter()

    def on_mount(self) -> None:
        self.query_one("#runs-filter").display = False
        self.action_refresh()
        self.set_interval(pace().scan, self._tick)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # while the filter has the focus every key is text for it (esc clears it): no command runs, and the
        # priority keys are handed on to the filter as text
        typing = self.text_input() is not None
        if action == "clear_filter":  # the footer shows esc while the filter is typed in, not beside every key
            return typing if parameters else True
        return not typing

    def text_input(self) -> Input | None:
        box = self.query_one("#runs-filter", Input)
        return box if self.focused is box else None

    def on_screen_resume(self) -> None:
        self.action_refresh()  # back from a dashboard: show what changed meanwhile

    def _tick(self) -> None:
        if self.is_current:
            self.action_refresh()

    # -- scanning --------------------------------------------------------------------------------

    def action_refresh(self) -> None:
        if not self._scanning:
            self._scanning = True
            self._scan()

    @work(thread=True, group="scan", exit_on_error=False, description="list the runs")
    def _scan(self) -> None:
        self.post_message(RunsScanned(self._scanner.scan(), scan_sweeps(self.root)))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state not in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
            return
        if event.worker.group == "scan":
            self._scanning = False
        if event.state == WorkerState.ERROR:
            what = "listing" if event.worker.group == "scan" else event.worker.description
            self.notify(f"{what} {self.root}: {event.worker.error}", severity="error")

    def on_runs_scanned(self, message: RunsScanned) -> None:
        self.query_one(RunsTable).set_rows(message.rows, message.sweeps)
        self._show_sweep()
        empty = "" if message.rows or message.sweeps else f"no runs yet under {self.root}/: press l to configure one"
        self.query_one("#runs-empty", Static).update(empty)
        self._show_title()

    def _show_title(self) -> None:
        table = self.query_one(RunsTable)
        count = len(table.rows_by_id)
        parts = [f"runs in {self.root}", f"{count} run{'' if count == 1 else 's'}"]
        if table.groups:
            parts.append(f"{len(table.groups)} sweep{'' if len(table.groups) == 1 else 's'}")
        if table.filter_text:
            parts.append(f"filter “{table.filter_text}”: {len(table.shown)} shown")
        selected = len(table.selected_rows())
        if selected:
            parts.append(f"{selected} selected")
        key, reverse = table.sort_spec
        if key:
            parts.append(f"by {key}{' ▼' if reverse else ' ▲'}")
        self.query_one("#runs-title", Static).update(" · ".join(parts))

    def on_run_changed(self, message: RunChanged) -> None:
        self._scanner.forget(message.run_id)
        self.notify(message.message, severity=message.severity)
        self.action_refresh()

    # -- table -----------------------------------------------------------------------------------

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_sweep()

    def _show_sweep(self) -> None:
        """Under the list, the progress and best runs of the sweep at the cursor (its row or one of its runs)."""
        table = self.query_one(RunsTable)
        group = table.cursor_group()
        line = self.query_one("#runs-sweep", Static)
        line.display = group is not None
        if group is not None:
            line.update(sweep_summary(group, table.members(group)))

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self._open_row(str(event.row_key.value))

    def action_open(self) -> None:
        table = self.query_one(RunsTable)
        key = table.cursor_id()
        if key is None:
            self.notify("no run here", severity="warning")
        else:
            self._open_row(key)

    def _open_row(self, key: str) -> None:
        """A run's dashboard; a sweep's row shows or hides its runs."""
        table = self.query_one(RunsTable)
        group = table.groups.get(key)
        if group is not None:
            table.toggle_open(group)
            return
        row = self.rows.get(key)
        if row is not None:
            self.post_message(OpenRun(Run(row.path)))

    def on_data_table_header_selected(self, event: DataTable.HeaderSelected) -> None:
        if str(event.column_key.value) in SORTABLE:
            self.action_sort(str(event.column_key.value))

    def action_sort(self, key: str) -> None:
        self.query_one(RunsTable).sort_by(key)
        self._show_title()

    def action_select(self) -> None:
        self.query_one(RunsTable).toggle_selected()
        self._show_title()

    # -- filter ----------------------------------------------------------------------------------

    def action_filter(self) -> None:
        box = self.query_one("#runs-filter", Input)
        box.display = True
        box.cursor_position = len(box.value)
        self.set_focus(box)  # at once, not at the next idle: the keys behind `/` are typed into it

    def on_input_changed(self, event: Input.Changed) -> None:
        if event.input.id == "runs-filter":
            self.query_one(RunsTable).filter_text = event.value.strip()
            self._show_title()

    def keep_filter(self) -> None:
        """Back to the list, the filter kept (and shown, unless empty)."""
        box = self.query_one("#runs-filter", Input)
        box.display = bool(box.value.strip())
        self.set_focus(self.query_one(RunsTable))  # at once: the next key is a command again

    def action_clear_filter(self, how: str = "") -> None:  # how only picks the footer's line
        box = self.query_one("#runs-filter", Input)
        box.value = ""
        box.display = False
        self.set_focus(self.query_one(RunsTable))

    # -- run actions -----------------------------------------------------------------------------

    def _current(self) -> RunRow | None:
        table = self.query_one(RunsTable)
        row = table.cursor_run()
        if row is None:
            on_sweep = table.cursor_id() in table.groups
            self.notify("a sweep's row: enter shows its runs, c compares its settings, v shows its sensitivity"
                        if on_sweep else "no run here", severity="warning")
        return row

    def action_star(self) -> None:
        row = self._current()
        if row is not None:
            try:
                set_starred(row.path, not row.starred)
            except OSError as e:
                self.notify(f"could not star {row.id}: {e}", severity="error")
                return
            self._scanner.forget(row.id)
            self.action_refresh()

    def action_compare(self) -> None:
        table = self.query_one(RunsTable)
        chosen = table.selected_rows()
        group = table.groups.get(table.cursor_id() or "")
        if not chosen and group is not None:  # the sweep under the cursor: its runs, grouped by its setting
            chosen = table.members(group)
        if len(chosen) < 2:
            self.notify("select two or more runs with space, then press c", severity="warning")
            return
        self.post_message(CompareRuns([Run(r.path) for r in chosen]))

    def action_sensitivity(self) -> None:
        from sslterm.tui.screens.sensitivity import SensitivityScreen

        table = self.query_one(RunsTable)
        group = table.cursor_group()
        runs = [Run(r.path) for r in table.members(group)] if group is not None else []
        if group is None or not runs or not group.keys:
            why = "not a sweep: move onto a sweep's row" if group is None else "no run yet" if not runs else (
                "it sweeps no key (seeds only)")
            self.notify(f"v plots a sweep's final metric against each swept key; {why}", severity="warning")
            return
        self.app.push_screen(SensitivityScreen(runs, list(group.keys), self.root, title=group.name))

    def action_stop(self) -> None:
        row = self._current()
        if row is None:
            return
        run = Run(row.path)
        try:
            status, state = run.status(), run.state()
        except StatusError as e:
            self.notify(str(e), severity="error")
            return
        problem = stop_problem(status, state)
        if problem:
            self.notify(problem, severity="warning")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                message, severity = send_stop(run, status.pid)
                self.notify(message, severity=severity)
                self.action_refresh()

        self.app.push_screen(ConfirmScreen(f"Stop run {run.id}?\n(SIGTERM to pid {status.pid})"), answered)

    def action_resume(self) -> None:
        row = self._current()
        if row is None:
            return
        problem = resume_problem(Run(row.path), row.state)
        if problem:
            self.notify(problem, severity="warning")
            return
        self.notify(f"resuming {row.id} in the background")
        self._resume(Run(row.path))

    @work(thread=True, group="resume", exit_on_error=False, description="resuming a run in")
    def _resume(self, run: Run) -> None:
        problem = resume_detached(run)
        if problem:
            self.post_message(RunChanged(run.id, problem, "error"))
        else:
            self.post_message(RunChanged(run.id, f"{run.id} resumed"))

    def action_delete(self) -> None:
        row = self._current()
        if row is None:
            return
        problem = delete_problem(row.state, Run(row.path))
        if problem:
            self.notify(problem, severity="warning")
            return

        def answered(yes: bool | None) -> None:
            if yes:
                self._delete(Run(row.path))

        question = (f"Delete run {row.id}?\n\nThis removes its directory and everything in it,\n"
                    f"checkpoints included:\n{row.path}/")
        self.app.push_screen(ConfirmScreen(question), answered)

    @work(thread=True, group="delete", exit_on_error=False, description="deleting a run in")
    def _delete(self, run: Run) -> None:
        problem = delete_run(run)  # checked again under the run's lock: it may have been resumed meanwhile
        if problem:
            self.post_message(RunChanged(run.id, f"not deleted: {problem}", "warning"))
            return
        self.post_message(RunChanged(run.id, f"deleted {run.id}"))

    def action_notes(self) -> None:
        row = self._current()
        if row is None:
            return

        def save(text: str | None) -> None:
            if text is not None:
                self._annotate(row, lambda: write_notes(row.path, text), "notes")

        title = f"Notes on {row.id}"
        self.app.push_screen(PromptScreen(title, " ".join(row.notes.split()), "what this run is about"), save)

    def action_tags(self) -> None:
        row = self._current()
        if row is None:
            return

        def save(text: str | None) -> None:
            if text is not None:
                self._annotate(row, lambda: write_tags(row.path, parse_tags(text)), "tags")

        self.app.push_screen(PromptScreen(f"Tags of {row.id}", " ".join(row.tags), "words separated by spaces"), save)

    def _annotate(self, row: RunRow, write: Callable[[], None], what: str) -> None:
        try:
            write()
        except OSError as e:
            self.notify(f"could not save the {what} of {row.id}: {e}", severity="error")
            return
        self._scanner.forget(row.id)
        self.action_refresh()

    def action_new_run(self) -> None:
        self.post_message(OpenLauncher())

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen("Runs", keys_help(self, self.HELP_NOTES)))
