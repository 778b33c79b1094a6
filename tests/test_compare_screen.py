"""On frozen runs: the compare screen exports CSV and plots another metric, and compares a sweep's settings;
`?` helps on every screen."""

from __future__ import annotations

import asyncio
import csv
from pathlib import Path

import pytest
from textual.widgets import DataTable, Static

from sslterm.compare_groups import mean_curve
from sslterm.tui.app import make_app
from sslterm.tui.screens.compare import CompareScreen, squeeze
from sslterm.tui.screens.dialogs import HELP_WIDTH, ChooseScreen, HelpScreen
from sslterm.tui.screens.sensitivity import SensitivityScreen
from sslterm.tui.widgets.loss_chart import LossChart
from tests.frozen_runs import frozen_runs
from tests.test_tui import settle
from tests.test_tui_sweeps import sweep_app


def test_compare_exports_csv_next_to_the_runs_and_plots_another_metric(tmp_path: Path) -> None:
    ids = frozen_runs(tmp_path / "runs")

    async def body() -> None:
        app = make_app(tmp_path / "runs")
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("space", "space", "c")
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, CompareScreen)
            assert "1 config key differs" in str(screen.query_one("#compare-title", Static).render())
            table = screen.query_one("#compare-table", DataTable)
            widths = [c.get_render_width(table) for c in table.ordered_columns]
            assert sum(widths) <= table.scrollable_content_region.width  # every run's column whole at 80 columns
            await pilot.press("e")
            await pilot.press("m")
            assert isinstance(app.screen, ChooseScreen)
            await pilot.press("end", "enter")  # the last metric in the list
            chart = screen.query_one(LossChart)
            assert chart.what == screen.metric != "loss" and len(chart.curves) == 2

    asyncio.run(body())
    (exported,) = tmp_path.glob("comparison-*.csv")
    rows = list(csv.DictReader(exported.open(encoding="utf-8")))
    assert [r["id"] for r in rows] == sorted(ids, reverse=True)  # in the order selected: newest first
    assert {r["config.objective.temperature"] for r in rows} == {"0.1", "0.5"}
    assert {r["eval.linear_probe"] for r in rows} == {"0.731", "0.768"}


@pytest.mark.parametrize("keys", [(), ("enter",), ("space", "space", "c")], ids=["runs", "dashboard", "compare"])
def test_question_mark_shows_the_keys_of_every_screen(tmp_path: Path, keys: tuple[str, ...]) -> None:
    frozen_runs(tmp_path / "runs")

    async def body() -> None:
        app = make_app(tmp_path / "runs")
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press(*keys)
            await settle(pilot)
            screen = app.screen
            await pilot.press("question_mark")
            help_screen = app.screen
            assert isinstance(help_screen, HelpScreen) and len(help_screen.keys) >= 6
            body = str(help_screen.query_one(".dialog-body", Static).render())
            assert max(len(line) for line in body.splitlines()) <= HELP_WIDTH  # long lines wrap, none is cut
            words = " ".join(body.split())
            assert all(" ".join(what.split()) in words for _, what in help_screen.keys)
            assert help_screen.query_one(".dialog").region.right <= 80
            await pilot.press("escape")
            assert app.screen is screen

    asyncio.run(body())


def test_squeeze_cuts_long_keys_and_ids_in_the_middle() -> None:
    assert squeeze("augment.frequency_masking.max_fraction", 24) == "augment.fre…max_fraction"
    assert squeeze("objective.temperature", 24) == "objective.temperature"
    assert squeeze("image-simclr-long-name-3f2a", 14) == "image-s…e-3f2a"
    assert len(squeeze("a.very_long_last_part_of_a_key", 12)) == 12


def test_a_sweeps_runs_are_compared_by_setting_with_a_band_and_the_best_marked(tmp_path: Path) -> None:
    async def body() -> None:
        async with sweep_app(tmp_path) as (app, pilot, _runs, _others):
            await pilot.press("c")                                      # on the sweep's row: its 8 runs
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, CompareScreen) and screen.grouped is not None
            grouped = screen.grouped
            assert grouped.keys == ["objective.temperature"] and [len(g.runs) for g in grouped.groups] == [3, 3, 2]
            assert grouped.metric == "eval.linear_probe" and grouped.best == 1   # 0.79 against 0.71 and 0.75
            legend = str(screen.query_one("#compare-legend", Static).render())
            assert "* 0.2 (3 runs)" in legend and "0.5 (2 runs)" in legend
            assert grouped.note in " ".join(str(screen.query_one("#compare-note", Static).render()).split())
            table = screen.query_one("#compare-table", DataTable)
            heads = [str(getattr(c.label, "plain", c.label)) for c in table.ordered_columns]
            assert heads[1:] == ["■ 0.1", "■ * 0.2", "■ 0.5"]
            assert [str(c) for c in table.get_row("eval:linear_probe (ranks)")[1:]] == [
                "0.71 ± 0.01", "0.79 ± 0.01", "0.75"]
            widths = [c.get_render_width(table) for c in table.ordered_columns]
            assert sum(widths) <= table.scrollable_content_region.width     # every group's column whole at 80
            chart = screen.query_one(LossChart)
            assert [c.label for c in chart.curves] == ["0.1", "0.2", "0.5"] and "band min–max" in chart.title().plain
            curve = chart.curves[0]
            assert curve.band is not None
            assert all(lo <= m <= hi for lo, m, hi in zip(curve.band[0], curve.values, curve.band[1], strict=True))
            assert screen.comparison is not None
            mean = mean_curve(screen.comparison, grouped.groups[0].runs, "loss")
            assert mean is not None and list(curve.band[0]) == mean.low
            await pilot.press("b")                                      # ± one standard deviation
            curve = chart.curves[0]
            assert "band ± 1 std" in chart.title().plain and curve.band is not None
            assert abs(curve.band[1][9] - curve.values[9] - mean.std[9]) < 1e-12 and mean.std[9] > 0
            await pilot.press("g")
            assert isinstance(app.screen, ChooseScreen)
            await pilot.press("end", "enter")                           # each run: the runs as before
            await settle(pilot)
            assert screen.grouped is None and len(chart.curves) == 8
            await pilot.press("v")
            assert app.screen is screen                                 # not grouped: a warning
            await pilot.press("g", "home", "enter")                     # the sweep's keys again
            await settle(pilot)
            assert screen.grouped is not None and len(chart.curves) == 3
            await pilot.press("v")
            await settle(pilot)
            assert isinstance(app.screen, SensitivityScreen) and app.screen.keys == ["objective.temperature"]

    asyncio.run(body())
