"""The sensitivity view: a sweep's final metric against each swept key (mean ± std per value), a panel per key."""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import Worker, WorkerState

from sslterm.compare import Comparison, compare, flatten
from sslterm.compare_groups import cmp_configs, metric_of
from sslterm.store import Run
from sslterm.sweep.analysis import Sensitivity, sensitivity
from sslterm.tui.messages import SensitivityRead
from sslterm.tui.screens.dialogs import HelpScreen, keys_help
from sslterm.tui.widgets.footer import AppFooter
from sslterm.tui.widgets.sensitivity import SensitivityPanel

METRICS = ("eval.linear_probe", "eval.knn", "probe_acc", "knn_acc", "loss")
"""What m cycles through, those the runs have: the evaluation's probe and kNN, the online ones, the loss."""


PANEL_ROWS = 11  # a key's panel at least: its line, a chart of 7 rows with its axis, the line of values


def sensitivities(cmp: Comparison, keys: list[str], metrics: list[str]) -> dict[str, list[Sensitivity]]:
    """Each metric against each key over the compared runs (:func:`sslterm.sweep.analysis.sensitivity`)."""
    configs = [flatten(c) for c in cmp_configs(cmp)]
    rows = [({k: cfg[k] for k in keys if k in cfg}, {**r.final, **r.evaluation}) for r, cfg in
            zip(cmp.runs, configs, strict=True)]
    return {m: [sensitivity(rows, k, m, [r.id for r in cmp.runs]) for k in keys] for m in metrics}


class SensitivityScreen(Screen[None]):
    """How much each swept key moves a final metric; reads the runs once (``r`` again)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q,escape", "close", "Back", key_display="q / esc", tooltip="back"),
        Binding("question_mark", "help", "Help", key_display="?", tooltip="this help"),
        Binding("m", "metric", "Metric", tooltip="next final metric: linear probe, kNN (evaluation, online), loss"),
        Binding("r", "reload", "Reload", tooltip="read the runs again"),
    ]

    def __init__(self, runs: list[Run], keys: list[str], root: Path, title: str = "") -> None:
        super().__init__()
        self.runs, self.keys, self.root, self.name_ = runs, keys, root, title
        self.by_metric: dict[str, list[Sensitivity]] = {}
        self.metric: str | None = None
        self.count = 0

    def compose(self) -> ComposeResult:
        yield Static(f"sensitivity: reading {len(self.runs)} runs…", id="sensitivity-title")
        yield VerticalScroll(id="sensitivity-panels")
        yield AppFooter()

    def on_mount(self) -> None:
        self._read()

    @work(thread=True, group="sensitivity", exclusive=True, exit_on_error=False, description="reading the runs in")
    def _read(self) -> None:
        cmp = compare(self.runs)
        have = [m for m in METRICS if any(metric_of(r, m) is not None for r in cmp.runs)]
        self.post_message(SensitivityRead(sensitivities(cmp, self.keys, have), len(cmp.runs)))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.notify(f"{event.worker.description} {self.root}: {event.worker.error}", severity="error")

    async def on_sensitivity_read(self, message: SensitivityRead) -> None:
        self.by_metric, self.count = message.by_metric, message.runs
        if self.metric not in self.by_metric:
            self.metric = next(iter(self.by_metric), None)
        await self._show()

    async def _show(self) -> None:
        box = self.query_one("#sensitivity-panels", VerticalScroll)
        await box.remove_children()
        metric = self.metric
        what = f"{self.name_} · " if self.name_ else ""
        if metric is None:
            self.query_one("#sensitivity-title", Static).update(
                f"sensitivity · {what}{self.count} runs · no final metric yet (loss, probe or kNN)")
            return
        keys = self.by_metric[metric]
        better = "higher" if all(k.maximize for k in keys) else "lower"
        self.query_one("#sensitivity-title", Static).update(
            f"sensitivity · {what}{self.count} runs · final {metric}, {better} is better")
        ranked = sorted((k for k in keys if len(k.points) > 1), key=lambda k: k.spread(), reverse=True)
        top = ranked[0].key if len(ranked) > 1 else None
        await box.mount_all(SensitivityPanel(k, "matters most" if k.key == top else "") for k in keys)
        self._size_panels()

    def on_resize(self) -> None:
        self._size_panels()

    def _size_panels(self) -> None:
        """The panels share the screen's height; with many keys each gets PANEL_ROWS and the view scrolls."""
        box = self.query_one("#sensitivity-panels", VerticalScroll)
        panels = list(box.query(SensitivityPanel))
        if panels:
            rows = max(PANEL_ROWS, box.size.height // len(panels))
            for panel in panels:
                panel.styles.height = rows

    async def action_metric(self) -> None:
        names = list(self.by_metric)
        if self.metric in names and len(names) > 1:
            self.metric = names[(names.index(self.metric) + 1) % len(names)]
            await self._show()

    def action_reload(self) -> None:
        self._read()

    def action_close(self) -> None:
        self.dismiss(None)

    def action_help(self) -> None:
        notes = [("● and bar", "the mean over the runs at that value, and ± one standard deviation"),
                 ("*", "the best value of the key by the metric")]
        self.app.push_screen(HelpScreen("Sensitivity", keys_help(self, notes)))
