"""One run's live dashboard: state and progress, metric curves, similarity matrix, worker cost and log."""

from __future__ import annotations

import socket
import subprocess
import time
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.reactive import reactive
from textual.screen import Screen
from textual.worker import Worker, WorkerState

from sslterm.health import collapse_applies
from sslterm.store import Run, Status, list_runs
from sslterm.store.states import is_failure, is_resumable
from sslterm.store.summary import config_task
from sslterm.tui.messages import CloseDashboard, CompareRuns, FeedPolled, RunChanged, SystemSampled
from sslterm.tui.pace import pace
from sslterm.tui.poller import MetricSeries, RunFeed, Snapshot, is_active
from sslterm.tui.run_actions import (
    EVAL_LOG,
    evaluate_detached,
    evaluate_problem,
    evaluation_ended,
    resume_detached,
    resume_problem,
    send_stop,
    stop_problem,
)
from sslterm.tui.screens.dialogs import ChooseScreen, ConfirmScreen, HelpScreen, PickScreen, keys_help
from sslterm.tui.series import assign_colors, assign_markers, unit_of
from sslterm.tui.sysinfo import SystemSampler
from sslterm.tui.widgets.footer import AppFooter
from sslterm.tui.widgets.log_view import LogView
from sslterm.tui.widgets.loss_chart import ChartKeys, Curve, LossChart
from sslterm.tui.widgets.representation import RepresentationLine, diagnostics
from sslterm.tui.widgets.run_header import RunHeader, RunProgress, config_summary, progress_info
from sslterm.tui.widgets.similarity import SimilarityView
from sslterm.tui.widgets.system_line import SystemLine, rounded


class DashboardScreen(ChartKeys, Screen[None]):
    """Watches one run directory; picks up where the run is now and follows it live."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q", "close('back')", "Back", tooltip="back to the runs list"),
        Binding("q", "close('quit')", "Quit", tooltip="quit"),
        Binding("escape", "close", show=False),
        Binding("question_mark", "help", "Help", key_display="?", tooltip="this help"),
        # the footer offers what applies to the run's state (check_action)
        Binding("s", "stop", "Stop", tooltip="stop the run (asks first; it saves a checkpoint)"),
        Binding("R", "resume", "Resume", tooltip="resume the run from its last checkpoint"),
        Binding("e", "evaluate", "Evaluate", tooltip="evaluate the run in the background (probe, kNN, fine-tuning)"),
        Binding("c", "compare", "Compare", tooltip="compare the run with another"),
        Binding("left_square_bracket", "older", "Older", key_display="[", show=False,
                tooltip="older similarity snapshot"),
        Binding("right_square_bracket", "newer", "Newer", key_display="]", show=False,
                tooltip="newer similarity snapshot (the newest follows the run)"),
        Binding("z", "stretch", "Stretch scale", show=False,
                tooltip="similarity colours: the snapshot's own range / -1 to 1"),
        Binding("m", "metrics", "Metrics", tooltip="metrics to plot (several at once, a colour each)"),
        Binding("plus,equals_sign", "smooth(1)", "Smooth", key_display="+/-",
                tooltip="more / less smoothing (TensorBoard's EMA; 0 = off)"),
        Binding("minus", "smooth(-1)", show=False),
        Binding("x", "x_axis", "Time", tooltip="x axis: step / wall time"),
        Binding("y", "log_y", "Log y", tooltip="log / linear y axis"),
    ]

    snapshot_index: reactive[int | None] = reactive(None)  # None follows the newest snapshot
    metrics_shown: reactive[tuple[str, ...]] = reactive(("loss",), init=False)  # plotted, each in its colour

    def __init__(self, run: Run, *, standalone: bool = False) -> None:
        super().__init__()
        self.run = run
        self.standalone = standalone  # the app's only screen: closing it quits
        self.series = MetricSeries()
        self.snapshots: list[Snapshot] = []
        self.status: Status | None = None
        self.state = "unknown"
        self._feed = RunFeed(run)
        self._collapse = True  # whether the representation line judges collapse (the objective, at mount)
        self._polling = False
        self._last_poll = 0.0
        self._last_error = ""
        self._sampler = SystemSampler()
        self._sampling = False
        self._system_error = ""
        self.pace = pace()
        self._plotted_at = -self.pace.chart  # monotonic time of the last chart redraw
        self._chart_behind = False  # the chart lacks points that were read since
        self._evaluation: subprocess.Popen[bytes] | None = None  # started here with e, until it ends

    def compose(self) -> ComposeResult:
        yield RunHeader(self.run.id, id="header")
        yield RunProgress(id="progress")
        yield RepresentationLine(id="representation")
        yield SystemLine(id="system")
        with Horizontal(id="middle"):
            yield LossChart(id="loss")
            yield SimilarityView(id="sim")
        yield LogView(id="log")
        yield AppFooter()

    def on_mount(self) -> None:
        config = self.run.config()
        self.query_one(RunHeader).summary = config_summary(config)
        self._collapse = collapse_applies(config_task(config)[2])  # not for objectives whose targets are the input
        self.query_one(SystemLine).display = False
        self._poll()
        self.set_interval(self.pace.poll, self._tick)
        self.set_interval(self.pace.system, self._system_tick)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # two "q" bindings, one of them active: the footer says "Quit" where closing ends the app
        if action == "close" and parameters:
            return (parameters[0] == "quit") == self.standalone
        ended = self.state != "unknown" and not is_active(self.state)
        offers = {"stop": is_active(self.state), "resume": is_resumable(self.state),
                  "evaluate": ended and not is_failure(self.state), "compare": ended}
        return offers.get(action, True)

    # -- polling ---------------------------------------------------------------------------------

    def _tick(self) -> None:
        self._check_evaluation()
        if self._polling:
            return
        if not is_active(self.state) and time.monotonic() - self._last_poll < self.pace.idle_poll:
            return
        self._poll()

    def _poll(self) -> None:
        self._polling = True
        self._last_poll = time.monotonic()
        self._read_feed()

    @work(thread=True, group="feed", exit_on_error=False, description="read the run directory")
    def _read_feed(self) -> None:
        self.post_message(FeedPolled(self._feed.poll()))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state not in (WorkerState.SUCCESS, WorkerState.ERROR, WorkerState.CANCELLED):
            return
        if event.worker.group == "system":
            self._sampling = False
            error = str(event.worker.error) if event.state == WorkerState.ERROR else ""
            if error and error != self._system_error:  # /proc and nvidia-smi failures are handled: this is a bug
                self.notify(f"sampling the worker process: {error}", severity="warning")
            self._system_error = error
            return
        if event.worker.group != "feed":
            return
        self._polling = False
        error = f"reading {self.run.path}: {event.worker.error}" if event.state == WorkerState.ERROR else ""
        if error and error != self._last_error:  # once per distinct error, not at every poll
            self.notify(error, severity="error")
        self._last_error = error

    def on_feed_polled(self, message: FeedPolled) -> None:
        update = message.update
        if update.reset:
            self.series.clear()
        if update.reset or update.metrics.last is not None:
            self.series.merge(update.metrics)
            self._chart_behind = True
            self.query_one(RepresentationLine).latest = diagnostics(self.series.latest, self._collapse)
        # the chart is the costliest widget: new points wait for a poll at least pace.chart after the last
        # redraw (with a tenth of slack for the timer's jitter), so one frame paints everything that changed
        if self._chart_behind and time.monotonic() - self._plotted_at >= 0.9 * self.pace.chart:
            self._plot()
        if update.snapshots:
            self.snapshots.extend(update.snapshots)
            self._show_snapshot()
        ended_badly = is_failure(update.state) and self.state != update.state
        if ended_badly and update.status and update.status.error:
            self.notify(update.status.error, title=f"the run {update.state}", severity="error", timeout=15)
        changed = update.state != self.state
        self.status, self.state = update.status, update.state
        if changed:  # what the footer offers, the system line and the snapshot's "live" follow the state
            self.refresh_bindings()
            self._system_tick()
            self._show_snapshot()
        header = self.query_one(RunHeader)  # fields it shows, each redrawn only when it changes
        header.state, header.problem = update.state, update.status_error
        header.error, header.device = (update.status.error, update.status.device) if update.status else (None, None)
        header.warning = update.status.warning if update.status else None
        if update.log is not None:
            self.query_one(LogView).lines = update.log
        self.query_one(RunProgress).info = progress_info(self.status, self.state, self.series, time.time())

    # -- metric curves ---------------------------------------------------------------------------

    def watch_metrics_shown(self) -> None:
        self._plot()

    def _plot(self) -> None:
        colors = assign_colors(self.metrics_shown)
        markers = assign_markers(self.metrics_shown) if self.app.no_color else {}
        clock = self.series.column("t")
        curves = [Curve(key, key, colors[key], *self.series.column(key), clock=clock, marker=markers.get(key),
                        unit=unit_of(key)) for key in self.metrics_shown]
        self.query_one(LossChart).show(curves, self.series.generation)
        self._plotted_at, self._chart_behind = time.monotonic(), False

    def action_metrics(self) -> None:
        names = self.series.keys()
        if not names:
            self.notify("no metrics yet", severity="warning")
            return

        def picked(chosen: list[str] | None) -> None:
            if chosen:
                self.metrics_shown = tuple(chosen)
            elif chosen is not None:
                self.notify("pick at least one metric", severity="warning")

        self.app.push_screen(PickScreen("Metrics to plot", names, list(self.metrics_shown)), picked)

    # -- the worker's cost -----------------------------------------------------------------------

    def _system_tick(self) -> None:
        status = self.status
        here = (status is not None and status.pid is not None and status.host == socket.gethostname()
                and is_active(self.state))
        line = self.query_one(SystemLine)
        if line.display != here:
            line.display = here
        if here and not self._sampling and status is not None and status.pid is not None:
            self._sampling = True
            self._sample_system(status.pid, status.device)

    @work(thread=True, group="system", exit_on_error=False, description="sample the worker process")
    def _sample_system(self, pid: int, device: str | None) -> None:
        self.post_message(SystemSampled(pid, self._sampler.sample(pid, device)))

    def on_system_sampled(self, message: SystemSampled) -> None:
        line = self.query_one(SystemLine)
        line.pid, line.sample = message.pid, rounded(message.sample)

    # -- snapshots -------------------------------------------------------------------------------

    def watch_snapshot_index(self) -> None:
        self._show_snapshot()

    def _show_snapshot(self) -> None:
        if not self.snapshots:
            return
        view = self.query_one(SimilarityView)
        i = len(self.snapshots) - 1 if self.snapshot_index is None else self.snapshot_index
        view.snapshot = self.snapshots[i]
        newest = "live" if is_active(self.state) else "last"
        view.position = newest if self.snapshot_index is None else f"{i + 1}/{len(self.snapshots)}"

    def action_older(self) -> None:
        if not self.snapshots:
            self.notify("no snapshots yet", severity="warning")
            return
        i = len(self.snapshots) - 1 if self.snapshot_index is None else self.snapshot_index
        self.snapshot_index = max(0, i - 1)

    def action_stretch(self) -> None:
        view = self.query_one(SimilarityView)
        view.stretch = not view.stretch

    def action_newer(self) -> None:
        if self.snapshot_index is None:
            return
        i = self.snapshot_index + 1
        self.snapshot_index = None if i >= len(self.snapshots) - 1 else i

    # -- other keys ------------------------------------------------------------------------------

    def action_close(self, how: str = "") -> None:  # how ("back"/"quit") only picks the footer's label
        self.post_message(CloseDashboard(self.run))

    def action_help(self) -> None:
        self.app.push_screen(HelpScreen(f"Run {self.run.id}", keys_help(self, [("esc", "back, as q")])))

    def key_s(self) -> None:
        """``s`` on an ended run: not offered any more, but the key still says why nothing happens."""
        if self.state != "unknown" and not is_active(self.state):
            self.action_stop()

    def action_stop(self) -> None:
        reason = stop_problem(self.status, self.state)
        if reason:
            self.notify(reason, severity="warning")
            return
        pid = self.status.pid if self.status else None

        def answered(yes: bool | None) -> None:
            if yes:
                message, severity = send_stop(self.run, pid)
                self.notify(message, severity=severity)

        self.app.push_screen(ConfirmScreen(f"Stop run {self.run.id}?\n(SIGTERM to pid {pid})"), answered)

    def action_resume(self) -> None:
        problem = resume_problem(self.run, self.state)
        if problem:
            self.notify(problem, severity="warning")
            return
        self.notify(f"resuming {self.run.id} in the background")
        self._resume()

    @work(thread=True, group="resume", exit_on_error=False, description="resume the run")
    def _resume(self) -> None:
        problem = resume_detached(self.run)
        self.post_message(RunChanged(self.run.id, problem or f"{self.run.id} resumed", "error" if problem else
                                     "information"))

    def on_run_changed(self, message: RunChanged) -> None:
        message.stop()
        self.notify(message.message, severity=message.severity)
        self._poll()

    def action_evaluate(self) -> None:
        if self._evaluation is not None and self._evaluation.poll() is None:
            self.notify(f"{self.run.id} is being evaluated already (log: {EVAL_LOG})", severity="warning")
            return
        problem = evaluate_problem(self.run, self.state)
        if problem:
            self.notify(problem, severity="warning")
            return
        try:
            self._evaluation = evaluate_detached(self.run, self.run.path.parent)
        except OSError as e:
            self.notify(f"could not start the evaluation: {e.strerror or e}", severity="error")
            return
        self.notify(f"evaluating {self.run.id} in the background (log: {EVAL_LOG}); the result shows here")

    def _check_evaluation(self) -> None:
        code = self._evaluation.poll() if self._evaluation is not None else None
        if code is not None:
            self._evaluation = None
            message, severity = evaluation_ended(self.run, code)
            self.notify(message, severity=severity, timeout=15)
            self._poll()

    def action_compare(self) -> None:
        others = [r.id for r in reversed(list_runs(self.run.path.parent)) if r.id != self.run.id]  # newest first
        if not others:
            self.notify("no other run to compare with", severity="warning")
            return

        def chosen(other: str | None) -> None:
            if other is not None:
                self.post_message(CompareRuns([self.run, Run(self.run.path.parent / other)]))

        self.app.push_screen(ChooseScreen(f"Compare {self.run.id} with", others), chosen)
