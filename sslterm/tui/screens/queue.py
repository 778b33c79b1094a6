"""The queue: every sweep and its trials with their state; pause, resume, cancel a sweep, move a trial up.

The actions are :mod:`sslterm.sweep.control`'s, the same as ``sslterm sweep pause|resume|cancel`` and
``sslterm queue top``; the sweeps are read, and acted on, in thread workers (each takes the sweep's short lock).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.notifications import SeverityLevel
from textual.screen import Screen
from textual.widgets import DataTable, Static
from textual.worker import Worker, WorkerState

from sslterm.compare import format_value
from sslterm.store import Run
from sslterm.sweep import control, slurm_jobs
from sslterm.sweep import store as ss
from sslterm.tui.messages import OpenRun
from sslterm.tui.pace import pace
from sslterm.tui.screens.dialogs import ConfirmScreen, HelpScreen, keys_help
from sslterm.tui.widgets.footer import AppFooter

SLURM_EVERY = 15.0  # seconds between asks of SLURM for its jobs' states
STATE_STYLE = {"running": "bold green", "starting": "green", "queued": "", "paused": "yellow", "done": "cyan",
               "failed": "bold red", "cancelled": "dim", "pruned": "yellow", "unreadable": "bold red"}


@dataclass
class SweepRecord:
    """One sweep as the queue shows it: its state, whether a scheduler runs it, its trials (or why unreadable)."""

    sweep: ss.Sweep
    name: str
    state: str
    scheduler: bool
    slurm: bool = False  # its trials are SLURM jobs: SLURM is its queue, no scheduler of ours
    trials: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    @property
    def ended(self) -> int:
        return sum(t["state"] in ss.TRIAL_FINAL for t in self.trials)


def read_sweeps(root: Path, ask_slurm: bool = True) -> list[SweepRecord]:
    """Every sweep under ``root``, newest first (with ``ask_slurm``, a SLURM sweep brought up to date from its jobs,
    as `sslterm queue` does); a damaged one is listed with the reason, not skipped."""
    out = []
    for sw in reversed(ss.list_sweeps(root)):
        try:
            slurm = slurm_jobs.is_slurm(sw)
            if slurm and ask_slurm:
                slurm_jobs.refresh(sw)
            data, name = sw.trials(), str(sw.spec().get("name") or sw.id)
        except (OSError, ValueError) as e:
            out.append(SweepRecord(sw, sw.id, "unreadable", False, error=f"cannot read {sw.path}: {e}"))
            continue
        out.append(SweepRecord(sw, name, str(data.get("state")), ss.scheduler_running(sw), slurm,
                               list(data["trials"])))
    return out


@dataclass
class QueueRead(Message):
    """The sweeps were read (posted from a worker thread)."""

    records: list[SweepRecord]


@dataclass
class QueueActed(Message):
    """An action on a sweep ended (posted from a worker thread): what to say, and how."""

    message: str
    severity: SeverityLevel = "information"


class QueueScreen(Screen[None]):
    """Sweeps and their trials, refreshed every few seconds; the keys act on the sweep at the cursor."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("question_mark", "help", "Help", key_display="?", tooltip="this help"),
        Binding("enter", "open", "Open", tooltip="open the trial's run (on a trial that has one)"),
        Binding("p", "pause", "Pause", tooltip="pause the sweep: running trials go on, no new one starts"),
        Binding("R", "resume", "Resume", tooltip="resume the sweep (starts its scheduler if none runs)"),
        Binding("x", "cancel", "Cancel", tooltip="cancel the sweep (asks first): queued trials never start, "
                "running ones stop with a checkpoint"),
        Binding("t", "top", "Top", tooltip="move the queued trial at the cursor to the front of its sweep's queue"),
        Binding("r", "refresh", "Refresh", show=False, tooltip="read the sweeps again now"),
        Binding("q,escape", "back", "Back", key_display="q esc", tooltip="back to the runs"),
    ]
    HELP_NOTES: ClassVar[list[tuple[str, str]]] = [
        ("↑ / ↓", "move; p, R and x act on the sweep of the row at the cursor"),
        ("", "The same as `sslterm queue`, `sslterm sweep pause|resume|cancel SWEEP` and `sslterm queue top`."),
    ]
    DEFAULT_CSS = """
    #queue-title { height: 1; padding: 0 1; background: $panel; text-style: bold; }
    #queue { height: 1fr; }
    #queue-detail { height: auto; max-height: 3; padding: 0 1; }
    """

    def __init__(self, root: Path) -> None:
        super().__init__()
        self.root = root
        self.records: dict[str, SweepRecord] = {}
        self._reading = False
        self._shown: list[Any] = []  # what the table shows now: redrawn only on a change
        self._slurm_asked = 0.0  # when squeue/sacct were last asked (not at every read: a login node is shared)

    def compose(self) -> ComposeResult:
        yield Static(f"sweeps in {ss.sweeps_dir(self.root)}/", id="queue-title")
        yield DataTable(id="queue", cursor_type="row", zebra_stripes=False)
        yield Static("", id="queue-detail")
        yield AppFooter()

    def on_mount(self) -> None:
        table = self.query_one(DataTable)
        for label, key, width in (("sweep / trial", "item", 19), ("state", "state", 11), ("seed", "seed", 4),
                                  ("loss", "loss", 7), ("probe", "probe", 5), ("setting", "setting", None)):
            table.add_column(label, key=key, width=width)
        self.action_refresh()
        self.set_interval(pace().scan, self._tick)

    def _tick(self) -> None:
        if self.is_current:
            self.action_refresh()

    # -- reading ---------------------------------------------------------------------------------

    def action_refresh(self) -> None:
        if not self._reading:
            self._reading = True
            self._read()

    @work(thread=True, group="queue-read", exit_on_error=False, description="reading the sweeps in")
    def _read(self) -> None:
        ask = time.monotonic() - self._slurm_asked >= SLURM_EVERY
        if ask:
            self._slurm_asked = time.monotonic()
        self.post_message(QueueRead(read_sweeps(self.root, ask)))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state not in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
            return
        if event.worker.group == "queue-read":
            self._reading = False
        if event.state == WorkerState.ERROR:
            self.notify(f"{event.worker.description} {self.root}: {event.worker.error}", severity="error")

    def on_queue_read(self, message: QueueRead) -> None:
        self.records = {r.sweep.id: r for r in message.records}
        rows = [(key, cells) for r in message.records for key, cells in _rows(r)]
        if rows != self._shown:
            self._shown = rows
            table = self.query_one(DataTable)
            at = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value if table.row_count else None
            table.clear()
            for key, cells in rows:
                table.add_row(*cells, key=key)
            keys = [k for k, _ in rows]
            if at in keys:
                table.move_cursor(row=keys.index(str(at)), animate=False)
        n = len(message.records)
        self.query_one("#queue-title", Static).update(
            f"sweeps in {ss.sweeps_dir(self.root)}/ · {n} sweep{'s' * (n != 1)}" if n else
            f"no sweeps in {ss.sweeps_dir(self.root)}/ yet: in the launcher (l), w on a field sweeps it")
        self._show_detail()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        self._show_detail()

    def _at_cursor(self) -> tuple[SweepRecord | None, dict[str, Any] | None]:
        """The sweep of the row at the cursor, and the trial when the row is one."""
        table = self.query_one(DataTable)
        if not table.row_count:
            return None, None
        key = str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)
        sweep_id, _, trial_id = key.partition("/")
        record = self.records.get(sweep_id)
        trial = next((t for t in record.trials if t["id"] == trial_id), None) if record and trial_id else None
        return record, trial

    def _show_detail(self) -> None:
        record, trial = self._at_cursor()
        detail = ""
        if trial is not None:
            job = f"SLURM job {trial['job']}" if trial.get("job") else ""
            detail = f"{trial['id']}: {trial.get('run_id') or job or 'no run yet'}"
            if trial.get("error"):
                detail += f"\n{trial['error']}"
        elif record is not None:
            sched = "SLURM jobs" if record.slurm else "scheduler running" if record.scheduler else "no scheduler"
            detail = f"{record.sweep.id} · {record.state} · {sched}" + (f"\n{record.error}" if record.error else "")
        self.query_one("#queue-detail", Static).update(detail)

    # -- acting ----------------------------------------------------------------------------------

    def _sweep_here(self) -> SweepRecord | None:
        record, _ = self._at_cursor()
        if record is None:
            self.notify("no sweep here", severity="warning")
        return record

    def action_pause(self) -> None:
        if (record := self._sweep_here()) is not None:
            self._act(control.pause, record.sweep)

    def action_resume(self) -> None:
        if (record := self._sweep_here()) is not None:
            self._act(control.resume, record.sweep)

    def action_cancel(self) -> None:
        record = self._sweep_here()
        if record is None:
            return
        queued = sum(t["state"] == ss.QUEUED for t in record.trials)
        running = sum(t["state"] in (ss.RUNNING, ss.STARTING) for t in record.trials)
        question = (f"Cancel sweep {record.name}?\n{queued} queued trial{'s' * (queued != 1)} will not start;\n"
                    f"{running} running stop{'s' * (running == 1)} with a checkpoint.")

        def answered(yes: bool | None) -> None:
            if yes:
                self._act(control.cancel, record.sweep)

        self.app.push_screen(ConfirmScreen(question), answered)

    def action_top(self) -> None:
        record, trial = self._at_cursor()
        if record is None or trial is None:
            self.notify("move onto a queued trial: t puts it at the front of its sweep's queue", severity="warning")
            return
        self._act(lambda sweep: control.move_top(sweep, trial["id"]), record.sweep)

    @work(thread=True, group="queue-act", exit_on_error=False, description="acting on the sweep")
    def _act(self, act: Callable[[ss.Sweep], str], sweep: ss.Sweep) -> None:
        try:
            self.post_message(QueueActed(act(sweep)))
        except control.ControlError as e:
            self.post_message(QueueActed(str(e), "warning"))
        except OSError as e:
            self.post_message(QueueActed(f"sweep {sweep.id}: {e.strerror or e}", "error"))

    def on_queue_acted(self, message: QueueActed) -> None:
        self.notify(message.message, severity=message.severity)
        self._reading = False
        self.action_refresh()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        self.action_open()  # the table takes enter itself

    def action_open(self) -> None:
        _, trial = self._at_cursor()
        run_id = trial.get("run_id") if trial else None
        if run_id and (self.root / run_id / "status.json").is_file():
            self.post_message(OpenRun(Run(self.root / run_id)))
        else:
            self.notify("no run here: open a trial that has started", severity="warning")

    def action_back(self) -> None:
        self.dismiss()

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen("Queue", keys_help(self, self.HELP_NOTES)))


def _rows(record: SweepRecord) -> list[tuple[str, tuple[Text | str, ...]]]:
    """The table rows of a sweep: its own row, then one per trial in queue order."""
    keys = list(dict.fromkeys(k for t in record.trials for k in t["settings"]))
    progress = _state(record.state) + Text(f" {record.ended}/{len(record.trials)}", style="dim")  # trials ended
    sweep_row = (Text(record.name, style="bold"), progress, "", "", "", Text(", ".join(keys) or "seeds only",
                                                                              style="dim"))
    rows: list[tuple[str, tuple[Text | str, ...]]] = [(record.sweep.id, sweep_row)]
    for t in record.trials:  # the values only: the keys are on the sweep's row, in the same order
        m = t.get("metric") or {}
        setting = ", ".join(format_value(t["settings"][k]) for k in keys if k in t["settings"]) or "-"
        rows.append((f"{record.sweep.id}/{t['id']}", (
            f"  {t['id']}", _state(t["state"]), str(t["seed"]), f"{m['loss']:.4g}" if "loss" in m else "-",
            f"{m['probe']:.3f}" if "probe" in m else "-", setting)))
    return rows


def _state(state: str) -> Text:
    return Text(state, style=STATE_STYLE.get(state, ""))
