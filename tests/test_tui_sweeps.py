"""The app on a frozen sweep: its runs grouped under its progress, opened and closed, filtered, compared by
setting with a band, and its sensitivity view."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from pathlib import Path

from rich.text import Text
from textual.app import App
from textual.pilot import Pilot
from textual.widgets import Static

from sslterm import tomlio
from sslterm.compare import compare
from sslterm.compare_groups import mean_curve
from sslterm.store import Run
from sslterm.tui.app import make_app
from sslterm.tui.scanner import RunsScanner, scan_sweeps
from sslterm.tui.screens.dialogs import HelpScreen
from sslterm.tui.screens.runs import RunsScreen
from sslterm.tui.screens.sensitivity import SensitivityScreen, sensitivities
from sslterm.tui.widgets.runs_table import RunsTable, layout, progress_note
from sslterm.tui.widgets.sensitivity import SensitivityPanel, values_line
from tests.frozen_runs import SWEEP_ID, frozen_runs, frozen_sweep, loss_at
from tests.test_tui import settle

GROUP = f"sweep/{SWEEP_ID}"


@contextlib.asynccontextmanager
async def sweep_app(tmp_path: Path) -> AsyncIterator[tuple[App[None], Pilot[None], dict[str, str], list[str]]]:
    """The app at 80x24 on a frozen sweep (its runs by trial) beside frozen runs of no sweep, settled."""
    runs = frozen_sweep(tmp_path / "runs")
    others = frozen_runs(tmp_path / "runs")
    app = make_app(tmp_path / "runs")
    async with app.run_test(size=(80, 24)) as pilot:
        await settle(pilot)
        yield app, pilot, runs, others


def cells(table: RunsTable, key: str) -> list[str]:
    return [str(getattr(c, "plain", c)) for c in table.get_row(key)]


def test_a_sweeps_runs_are_grouped_under_its_progress_and_open_and_close(tmp_path: Path) -> None:
    async def body() -> None:
        async with sweep_app(tmp_path) as (app, pilot, runs, others):
            table = app.screen.query_one(RunsTable)
            assert table.shown == [GROUP, *reversed(others)]        # 8 runs: closed; the others as before
            row = cells(table, GROUP)
            assert row[0].startswith("▸") and "running" in row[1] and "simclr-5e3a" in row[2]
            assert "6/9 done" in row and "0.800" in row                 # trials done of all, best probe so far
            line = str(app.screen.query_one("#runs-sweep", Static).render())
            assert "1 running · 1 queued · 1 failed" in line and "best probe 0.800 (t005 0.2 seed 1)" in line
            await pilot.press("enter")                                   # opens: the runs under it, newest first
            assert table.shown == [GROUP, *(runs[f"t00{k}"] for k in range(8, 0, -1)), *reversed(others)]
            assert cells(table, runs["t004"])[2].strip() == "t004 0.2 seed 0"
            await pilot.press("down", "down")
            await pilot.press("space")                                   # one run of the sweep selected
            assert table.selected == {runs["t007"]}
            await pilot.press("up", "up", "up", "enter")                     # closes
            assert table.shown == [GROUP, *reversed(others)] and table.cursor_id() == GROUP
            await pilot.press("space")                                   # on the sweep's row: all its runs
            assert table.selected == set(runs.values())

    asyncio.run(body())


def test_the_filter_finds_runs_inside_a_sweep(tmp_path: Path) -> None:
    async def body() -> None:
        async with sweep_app(tmp_path) as (app, pilot, runs, others):
            table = app.screen.query_one(RunsTable)
            await pilot.press("slash", *"t004", "enter")
            assert table.shown == [GROUP, runs["t004"]]                  # the sweep opened on its matching run
            await pilot.press("escape", "slash", *"a1b2", "enter")
            assert table.shown == [others[0]]                            # no run of the sweep: no sweep
            await pilot.press("escape", "slash", *"5e3a failed", "enter")
            assert table.shown == [GROUP, runs["t007"]]
            await pilot.press("escape", "slash", *"0.5 seed", "enter")      # a setting, as the sweep's rows say it
            assert table.shown == [GROUP, runs["t008"], runs["t007"]]
            await pilot.press("escape")
            assert table.shown == [GROUP, *reversed(others)]             # closed again, as before the filter

    asyncio.run(body())


def test_v_shows_the_final_metric_against_the_swept_key_and_m_cycles_it(tmp_path: Path) -> None:
    async def body() -> None:
        async with sweep_app(tmp_path) as (app, pilot, _runs, _others):
            await pilot.press("v")
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, SensitivityScreen)
            (panel,) = screen.query(SensitivityPanel)
            assert panel.ks.key == "objective.temperature" and [p.value for p in panel.ks.points] == [0.1, 0.2, 0.5]
            assert screen.metric == "eval.linear_probe"                 # t007 failed: 0.5 has one evaluated run
            assert [p.n for p in panel.ks.points] == [3, 3, 1]
            assert "* 0.2: 0.79 ± 0.01 (3)" in values_line(panel.ks).plain
            seen = [screen.metric]
            for _ in range(4):
                await pilot.press("m")
                await pilot.pause()
                seen.append(screen.metric)
            assert seen == ["eval.linear_probe", "eval.knn", "probe_acc", "knn_acc", "loss"]
            (panel,) = screen.query(SensitivityPanel)
            assert "* 0.1: " in values_line(panel.ks).plain               # lower loss is better
            chart = panel.render().renderables[1]
            assert isinstance(chart, Text)
            drawn = chart.plain                                          # the chart: one mark per value
            assert drawn.count("●") == 3 and "0.5" in drawn.splitlines()[-1]
            await pilot.press("question_mark")
            assert isinstance(app.screen, HelpScreen) and any(k == "m" and "kNN" in what for k, what in app.screen.keys)
            await pilot.press("escape", "q")
            assert isinstance(app.screen, RunsScreen)

    asyncio.run(body())


def test_sensitivity_and_the_mean_curve_match_a_hand_computation(tmp_path: Path) -> None:
    runs = frozen_sweep(tmp_path / "runs")
    cmp = compare([Run(tmp_path / "runs" / rid) for rid in runs.values()])
    (ks,) = sensitivities(cmp, ["objective.temperature"], ["eval.linear_probe"])["eval.linear_probe"]
    # 0.1: 0.70, 0.72, 0.71 -> mean 0.71, sample std 0.01; 0.5: t008 alone (t007 failed, not evaluated)
    assert [p.value for p in ks.points] == [0.1, 0.2, 0.5] and abs(ks.points[0].mean - 0.71) < 1e-12
    assert abs((ks.points[0].std or 0) - 0.01) < 1e-12 and ks.points[2].std is None
    assert abs(ks.spread() - 0.08) < 1e-12 and ks.missing == 1                      # t007: no evaluation
    curve = mean_curve(cmp, [runs["t001"], runs["t002"], runs["t003"]], "loss")
    assert curve is not None and curve.n == 3 and len(curve.steps) == 200
    by_hand = [loss_at(curve.steps[5], 1.1 + 0.05 * seed) for seed in range(3)]  # as frozen_run rounds them
    assert abs(curve.mean[5] - sum(round(v, 5) for v in by_hand) / 3) < 1e-9
    assert curve.low[5] == round(min(by_hand), 5) and curve.high[5] == round(max(by_hand), 5)


def test_two_swept_keys_share_the_screen_and_the_one_that_matters_is_named(tmp_path: Path) -> None:
    root = tmp_path / "runs"
    frozen_sweep(root)
    trials = root / ".sweeps" / SWEEP_ID / "trials.json"
    data = json.loads(trials.read_text())
    for i, t in enumerate(data["trials"]):                    # train.lr alternates: it barely moves the probe
        t["settings"]["train.lr"] = lr = (1e-3, 3e-3)[i % 2]
        if t["run_id"]:
            cfg = tomlio.loads((root / t["run_id"] / "config.toml").read_text())
            (root / t["run_id"] / "config.toml").write_text(tomlio.dumps({**cfg, "train": {**cfg["train"], "lr": lr}}))
    trials.write_text(json.dumps(data))

    async def body() -> None:
        app = make_app(root)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("v")
            await settle(pilot)
            panels = list(app.screen.query(SensitivityPanel))
            assert [p.ks.key for p in panels] == ["objective.temperature", "train.lr"]
            assert all(p.region.bottom <= 23 for p in panels)            # both in view above the footer
            assert [p.note for p in panels] == ["matters most", ""]
            assert "less than seed noise" in panels[1].header().plain

    asyncio.run(body())


def test_a_damaged_sweep_is_a_row_that_says_why_and_its_runs_are_listed_alone(tmp_path: Path) -> None:
    runs = frozen_sweep(tmp_path / "runs")
    (tmp_path / "runs" / ".sweeps" / SWEEP_ID / "trials.json").write_text('{"state": "running", "tri')
    (group,) = scan_sweeps(tmp_path / "runs")
    assert group.state == "unreadable" and "cannot read" in group.error and "trials.json" in group.error
    assert progress_note(group) == group.error and group.run_ids == ()
    items = layout(RunsScanner(tmp_path / "runs").scan(), [group], "", None, False, lambda g: True)
    assert items[0] is group and {getattr(i, "id", None) for i in items[1:]} == set(runs.values())
