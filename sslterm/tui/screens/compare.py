"""Runs side by side: their curves overlaid (a stable colour per run), final metrics, evaluation, config diff."""

from __future__ import annotations

import time
from pathlib import Path
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import DataTable, Static
from textual.worker import Worker, WorkerState

from sslterm.compare import Comparison, compare, table_sections
from sslterm.store import Run
from sslterm.tui.annotations import write_atomic
from sslterm.tui.messages import ComparisonRead
from sslterm.tui.screens.dialogs import ChooseScreen, HelpScreen, keys_help
from sslterm.tui.series import assign_colors, assign_markers, hex_color, swatch
from sslterm.tui.widgets.footer import AppFooter
from sslterm.tui.widgets.loss_chart import ChartKeys, Curve, LossChart
from sslterm.tui.widgets.run_header import state_text


def short_label(run_id: str) -> str:
    """A run id without its ``YYMMDD-HHMMSS-`` prefix (the name and the random suffix), for narrow columns."""
    parts = run_id.split("-", 2)
    return parts[2] if len(parts) == 3 and parts[0].isdigit() and parts[1].isdigit() else run_id


def squeeze(text: str, width: int) -> str:
    """``text`` in at most ``width`` characters, cut in the middle (``augment.freq…max_fraction``).

    The ends tell keys and run ids apart: a dotted key keeps its last part whole where it can.
    """
    if len(text) <= width or width < 5:
        return text
    tail = len(text.rsplit(".", 1)[1]) if "." in text else (width - 1) // 2
    tail = min(tail, width - 4)
    return f"{text[: width - 1 - tail]}…{text[-tail:]}"


RUN_WIDTH = 20  # columns of a run in the table at most (its swatch and short id; longer values are cut)
LABEL_WIDTH = (16, 40)  # the table's first column: at least, at most (what the runs leave of the width)


def export_path(root: Path, now: float | None = None) -> Path:
    """Where ``e`` writes the CSV: ``comparison-<timestamp>.csv`` next to the runs root."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    return root.resolve().parent / f"comparison-{stamp}.csv"


class CompareScreen(ChartKeys, Screen[None]):
    """Compares the runs it was given; reads them once (``r`` reads them again)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("q,escape", "close", "Back", key_display="q / esc", tooltip="back"),
        Binding("question_mark", "help", "Help", key_display="?", tooltip="this help"),
        Binding("e", "export", "Export CSV", tooltip="export the comparison as CSV next to the runs root"),
        Binding("m", "metric", "Metric", tooltip="metric to plot (loss by default)"),
        Binding("plus,equals_sign", "smooth(1)", "Smooth", key_display="+/-",
                tooltip="more / less smoothing (TensorBoard's EMA)"),
        Binding("minus", "smooth(-1)", show=False),
        Binding("x", "x_axis", "Time", tooltip="x axis: step / wall time"),
        Binding("y", "log_y", "Log y", tooltip="log / linear y axis"),
        Binding("r", "reload", "Reload", show=False, tooltip="read the runs again"),
    ]

    def __init__(self, runs: list[Run], root: Path) -> None:
        super().__init__()
        self.runs = runs
        self.root = root
        self.comparison: Comparison | None = None
        self.metric = "loss"
        self.run_colors = assign_colors(r.id for r in runs)
        self.run_markers = assign_markers(r.id for r in runs)  # used where the app draws no colour

    def compose(self) -> ComposeResult:
        yield Static(f"comparing {len(self.runs)} runs…", id="compare-title")
        yield Static("", id="compare-legend")
        yield LossChart(id="compare-chart")
        yield DataTable(id="compare-table", cursor_type="row", zebra_stripes=False, fixed_columns=1)
        yield AppFooter()

    def on_mount(self) -> None:
        self.query_one("#compare-legend", Static).update(self._legend())
        self._read()

    def _legend(self, status: dict[str, str] | None = None) -> Text:
        text = Text(no_wrap=True, overflow="ellipsis")
        for i, run in enumerate(self.runs):
            text.append("\n" if i else "")
            text.append(f"{swatch(self._marker(run.id))} ", style=hex_color(self.run_colors[run.id]))
            text.append(run.id, style="bold")
            if status and run.id in status:
                text.append("  ").append_text(state_text(status[run.id]))
        return text

    @work(thread=True, group="compare", exclusive=True, exit_on_error=False, description="reading the runs in")
    def _read(self) -> None:
        self.post_message(ComparisonRead(compare(self.runs)))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.notify(f"{event.worker.description} {self.root}: {event.worker.error}", severity="error")

    def on_comparison_read(self, message: ComparisonRead) -> None:
        cmp = self.comparison = message.comparison
        self._show_title()
        self.query_one("#compare-legend", Static).update(self._legend({r.id: r.status for r in cmp.runs}))
        self._fill_table(cmp)
        self._plot()

    def _show_title(self) -> None:
        parts = [f"comparing {len(self.runs)} runs", f"plotting {self.metric}"]
        if self.comparison is not None:
            differ = len(self.comparison.config_diff)
            parts.insert(1, f"{differ} config key{' differs' if differ == 1 else 's differ'}")
        self.query_one("#compare-title", Static).update(" · ".join(parts))

    def on_resize(self) -> None:
        if self.comparison is not None:
            self._fill_table(self.comparison)  # the labels get what the runs leave of the new width

    def _fill_table(self, cmp: Comparison) -> None:
        table = self.query_one("#compare-table", DataTable)
        row = table.cursor_row
        table.clear(columns=True)
        sections = table_sections(cmp)
        cells = [[squeeze(c, RUN_WIDTH) for c in cs] for _, _, rows in sections for _, cs in rows]
        widths = [max([len(short_label(r.id)) + 2, *(len(cs[i]) for cs in cells)]) for i, r in enumerate(cmp.runs)]
        room = self.size.width - 2 - sum(min(w, RUN_WIDTH) + 2 for w in widths) - 2  # scrollbar, cell padding
        label_width = max(LABEL_WIDTH[0], min(LABEL_WIDTH[1], room))
        table.add_column("", key="what")
        for run in cmp.runs:
            label = Text(f"{swatch(self._marker(run.id))} ", style=hex_color(self.run_colors[run.id]))
            label.append(squeeze(short_label(run.id), RUN_WIDTH - 2), style="bold")
            table.add_column(label, key=run.id)
        cut = iter(cells)
        for section, title, rows in sections:
            table.add_row(Text(title, style="bold underline"), *[""] * len(cmp.runs), key=section)
            for name, _ in rows:
                values = (Text(c, justify="right") for c in next(cut))
                table.add_row(Text(f" {squeeze(name, label_width - 1)}"), *values, key=f"{section}:{name}")
        table.move_cursor(row=min(row, table.row_count - 1), animate=False)

    def _plot(self) -> None:
        cmp = self.comparison
        if cmp is None:
            return
        curves = []
        for run in cmp.runs:
            per_run = cmp.series.get(run.id, {})
            s, clock = per_run.get(self.metric), per_run.get("t")
            if s is None:
                continue
            curves.append(Curve(key=run.id, label=short_label(run.id), color=self.run_colors[run.id], steps=s.steps,
                                values=s.values, clock=(clock.steps, clock.values) if clock else None,
                                marker=self._marker(run.id)))
        chart = self.query_one(LossChart)
        chart.what = self.metric
        chart.show(curves, generation=chart.generation + 1)

    def _marker(self, run_id: str) -> str | None:
        return self.run_markers[run_id] if self.app.no_color else None

    # -- keys ------------------------------------------------------------------------------------

    def action_close(self) -> None:
        self.dismiss(None)

    def action_reload(self) -> None:
        self._read()

    def action_metric(self) -> None:
        if self.comparison is None:
            return
        names = sorted({m for per_run in self.comparison.series.values() for m in per_run if m != "t"},
                       key=lambda m: (m != "loss", m))

        def chosen(metric: str | None) -> None:
            if metric:
                self.metric = metric
                self._show_title()
                self._plot()

        self.app.push_screen(ChooseScreen("Metric to plot", names, self.metric), chosen)

    def action_export(self) -> None:
        if self.comparison is None:
            self.notify("still reading the runs", severity="warning")
            return
        path = export_path(self.root)
        try:
            write_atomic(path, self.comparison.to_csv())
        except OSError as e:
            self.notify(f"could not write {path}: {e}", severity="error")
            return
        self.notify(f"wrote {path}", title="comparison exported", timeout=10)

    def action_help(self) -> None:
        notes = [("↑ / ↓", "scroll the table: status, final metrics, evaluation, config keys that differ")]
        self.app.push_screen(HelpScreen("Compare", keys_help(self, notes)))
