"""Runs side by side: their curves overlaid (a stable colour per run), final metrics, evaluation, config diff;
or grouped by setting (a sweep's seeds averaged): mean curves with a band, mean ± std, the best marked."""

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

from sslterm.compare import Comparison, compare, format_value, table_sections
from sslterm.compare_groups import Group, Grouped, group_runs, group_sections, mean_curve
from sslterm.store import Run
from sslterm.tui.annotations import write_atomic
from sslterm.tui.messages import ComparisonRead
from sslterm.tui.scanner import swept_keys
from sslterm.tui.screens.dialogs import ChooseScreen, HelpScreen, keys_help
from sslterm.tui.series import RGB, assign_colors, assign_markers, hex_color, swatch
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


BANDS = {"range": "band min–max", "std": "band ± 1 std"}  # what b switches between, as the chart's title says it
EACH_RUN = "each run (no groups)"


def setting_text(group: Group) -> str:
    """A group's values of the grouping keys, for a narrow column: ``0.1, 3e-3``."""
    return ", ".join(format_value(v) for v in group.setting.values())


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
        Binding("g", "group", "Group", tooltip="group the runs by config keys (a sweep's: by its swept keys), seeds "
                "averaged; or each run"),
        Binding("b", "band", "Band", show=False, tooltip="grouped: the band around each mean, min–max / ± one std"),
        Binding("v", "sensitivity", "Sensitivity", show=False,
                tooltip="grouped: the final metric against each grouping key (mean ± std per value)"),
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
        self.group_by: list[str] | None = None  # None until read: a sweep's runs are grouped by its swept keys
        self.sweep_keys: list[str] = []
        self.grouped: Grouped | None = None
        self.band = "range"
        self.group_colors: dict[str, RGB] = {}
        self.group_markers: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        yield Static(f"comparing {len(self.runs)} runs…", id="compare-title")
        yield Static("", id="compare-legend")
        yield Static("", id="compare-note")
        yield LossChart(id="compare-chart")
        yield DataTable(id="compare-table", cursor_type="row", zebra_stripes=False, fixed_columns=1)
        yield AppFooter()

    def on_mount(self) -> None:
        self.query_one("#compare-legend", Static).update(self._legend())
        self.query_one("#compare-note", Static).display = False
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

    def _group_legend(self, grouped: Grouped) -> Text:
        """One line: the grouping keys, then each group's swatch, values and runs (``■ * 0.2 (3 runs)``)."""
        text = Text(f"{', '.join(grouped.keys)}:", style="bold", no_wrap=True, overflow="ellipsis")
        for i, group in enumerate(grouped.groups):
            text.append(f"  {swatch(self._group_marker(group))} ", style=hex_color(self.group_colors[group.label()]))
            text.append(("* " if i == grouped.best else "") + setting_text(group), style="bold")
            text.append(f" ({len(group.runs)} run{'' if len(group.runs) == 1 else 's'})", style="dim")
        return text

    @work(thread=True, group="compare", exclusive=True, exit_on_error=False, description="reading the runs in")
    def _read(self, again: Comparison | None = None) -> None:
        """Read the runs (or group ``again`` the ones read) by :attr:`group_by`: first a sweep's swept keys."""
        cmp = again or compare(self.runs)
        keys = self.group_by if self.group_by is not None else swept_keys(self.root, [r.id for r in self.runs])
        self.post_message(ComparisonRead(cmp, keys, group_runs(cmp, keys) if keys else None))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR:
            self.notify(f"{event.worker.description} {self.root}: {event.worker.error}", severity="error")

    def on_comparison_read(self, message: ComparisonRead) -> None:
        cmp = self.comparison = message.comparison
        if self.group_by is None:
            self.group_by = self.sweep_keys = message.group_by
        grouped = self.grouped = message.grouped if message.group_by == self.group_by else self.grouped
        legend = self.query_one("#compare-legend", Static)
        note = self.query_one("#compare-note", Static)
        note.display = grouped is not None
        if grouped is not None:
            labels = [g.label() for g in grouped.groups]
            self.group_colors, self.group_markers = assign_colors(labels), assign_markers(labels)
            legend.update(self._group_legend(grouped))
            better = "higher" if grouped.maximize else "lower"
            note.update(Text.assemble(("* ", "bold"), grouped.note, (f" ({better} is better)", "dim")))
        else:
            legend.update(self._legend({r.id: r.status for r in cmp.runs}))
        self._show_title()
        self._fill_table(cmp)
        self._plot()

    def _show_title(self) -> None:
        parts = [f"comparing {len(self.runs)} runs", f"plotting {self.metric}"]
        if self.grouped is not None:
            parts.insert(1, f"{len(self.grouped.groups)} settings of {', '.join(self.grouped.keys)}")
        elif self.comparison is not None:
            differ = len(self.comparison.config_diff)
            parts.insert(1, f"{differ} config key{' differs' if differ == 1 else 's differ'}")
        self.query_one("#compare-title", Static).update(" · ".join(parts))

    def on_resize(self) -> None:
        if self.comparison is not None:
            self._fill_table(self.comparison)  # the labels get what the runs leave of the new width

    def _fill_table(self, cmp: Comparison) -> None:
        """A column per run, or per group when grouped (its values of the keys; the best marked with *)."""
        table = self.query_one("#compare-table", DataTable)
        row = table.cursor_row
        table.clear(columns=True)
        grouped = self.grouped
        if grouped is not None:
            sections = group_sections(grouped)
            heads = [(f"group-{i}", f"{'* ' if i == grouped.best else ''}{setting_text(g)}",
                      self.group_colors[g.label()], self._group_marker(g)) for i, g in enumerate(grouped.groups)]
        else:
            sections = table_sections(cmp)
            heads = [(r.id, short_label(r.id), self.run_colors[r.id], self._marker(r.id)) for r in cmp.runs]
        cells = [[squeeze(c, RUN_WIDTH) for c in cs] for _, _, rows in sections for _, cs in rows]
        widths = [max([len(head) + 2, *(len(cs[i]) for cs in cells)]) for i, (_, head, _, _) in enumerate(heads)]
        room = self.size.width - 2 - sum(min(w, RUN_WIDTH) + 2 for w in widths) - 2  # scrollbar, cell padding
        label_width = max(LABEL_WIDTH[0], min(LABEL_WIDTH[1], room))
        table.add_column("", key="what")
        for key, head, color, marker in heads:
            label = Text(f"{swatch(marker)} ", style=hex_color(color))
            label.append(squeeze(head, RUN_WIDTH - 2), style="bold")
            table.add_column(label, key=key)
        cut = iter(cells)
        for section, title, rows in sections:
            table.add_row(Text(title, style="bold underline"), *[""] * len(heads), key=section)
            for name, _ in rows:
                values = (Text(c, justify="right") for c in next(cut))
                table.add_row(Text(f" {squeeze(name, label_width - 1)}"), *values, key=f"{section}:{name}")
        table.move_cursor(row=min(row, table.row_count - 1), animate=False)

    def _plot(self) -> None:
        cmp = self.comparison
        if cmp is None:
            return
        chart = self.query_one(LossChart)
        chart.what = self.metric
        if self.grouped is not None:
            chart.band_what = BANDS[self.band]
            chart.show(self._group_curves(cmp, self.grouped), generation=chart.generation + 1)
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
        chart.show(curves, generation=chart.generation + 1)

    def _group_curves(self, cmp: Comparison, grouped: Grouped) -> list[Curve]:
        """Each group's mean curve of the metric over its runs, with the band :attr:`band` says."""
        curves = []
        for group in grouped.groups:
            mean = mean_curve(cmp, group.runs, self.metric)
            if mean is None:
                continue
            band = (mean.low, mean.high) if self.band == "range" else (
                [m - s for m, s in zip(mean.mean, mean.std, strict=True)],
                [m + s for m, s in zip(mean.mean, mean.std, strict=True)])
            curves.append(Curve(key=group.label(), label=setting_text(group), color=self.group_colors[group.label()],
                                steps=mean.steps, values=mean.mean, band=band, marker=self._group_marker(group)))
        return curves

    def _marker(self, run_id: str) -> str | None:
        return self.run_markers[run_id] if self.app.no_color else None

    def _group_marker(self, group: Group) -> str | None:
        return self.group_markers[group.label()] if self.app.no_color else None

    # -- keys ------------------------------------------------------------------------------------

    def action_close(self) -> None:
        self.dismiss(None)

    def action_reload(self) -> None:
        self._read()

    def action_group(self) -> None:
        cmp = self.comparison
        if cmp is None:
            return
        swept = f"swept keys: {', '.join(self.sweep_keys)}" if self.sweep_keys else None
        keys = [k for k in cmp.config_diff if k not in ("seed", "name")]
        options = [*([swept] if swept else []), *keys, EACH_RUN]
        current = EACH_RUN if not self.group_by else swept if self.group_by == self.sweep_keys else self.group_by[0]

        def chosen(option: str | None) -> None:
            if option is None:
                return
            self.group_by = [] if option == EACH_RUN else self.sweep_keys if option == swept else [option]
            if not self.group_by:
                self.grouped = None
            self._read(cmp)

        self.app.push_screen(ChooseScreen("Group the runs by", options, current), chosen)

    def action_band(self) -> None:
        if self.grouped is None:
            self.notify("not grouped: b switches the band around each setting's mean; g groups the runs",
                        severity="warning")
            return
        self.band = "std" if self.band == "range" else "range"
        self._plot()

    def action_sensitivity(self) -> None:
        from sslterm.tui.screens.sensitivity import SensitivityScreen

        if self.grouped is None:
            self.notify("not grouped: v shows the final metric against each grouping key; g groups the runs",
                        severity="warning")
            return
        self.app.push_screen(SensitivityScreen(self.runs, self.grouped.keys, self.root))

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
        notes = [("↑ / ↓", "scroll the table: status, final metrics, evaluation, config keys that differ"),
                 ("grouped", "a column and a mean curve per setting; * marks the best by the metric named "
                             "under the legend, which also says whether the seeds tell the best from the next")]
        self.app.push_screen(HelpScreen("Compare", keys_help(self, notes)))
