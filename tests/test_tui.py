"""The app, driven with Pilot on run directories written by the store's own writers."""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import subprocess
import sys
import time
from array import array
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
from rich.style import Style
from rich.text import Text
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static
from textual.widgets.data_table import ColumnKey

from sslterm import tomlio
from sslterm.store import JsonlWriter, Run, Status, create_run, write_status
from sslterm.store.lock import lock_path
from sslterm.store.status import process_start
from sslterm.tui.annotations import Annotations, read_annotations
from sslterm.tui.app import make_app
from sslterm.tui.poller import MetricSeries, Snapshot
from sslterm.tui.screens.compare import CompareScreen
from sslterm.tui.screens.dashboard import DashboardScreen
from sslterm.tui.screens.dialogs import CheckList, ConfirmScreen, PickScreen
from sslterm.tui.screens.runs import RunsScreen
from sslterm.tui.series import PALETTE
from sslterm.tui.widgets.loss_chart import Curve, LossChart
from sslterm.tui.widgets.runs_table import RunsTable
from sslterm.tui.widgets.similarity import SimilarityView, matrix_text

ROOT = Path(__file__).resolve().parents[1]
TOTAL = 200_000


def loss_at(step: int) -> float:
    return 5.0 / (1.0 + step / 1000.0)


def similarity(n: int, sharp: float) -> list[list[float]]:
    """A matrix that is ``sharp`` on the diagonal and 0.1 off it."""
    return [[sharp if i == j else 0.1 for j in range(n)] for i in range(n)]


_HELD_LOCKS: list[IO[str]] = []  # run locks this process holds for "running" runs (until the test process ends)


def make_run(root: Path, name: str, steps: int, *, snapshot_steps: tuple[int, ...] = (250,), n: int = 8,
             state: str = "running", pid: int | None = None, error: str | None = None,
             objective: dict[str, object] | None = None) -> Run:
    """A run directory with ``steps`` metrics records (every 10 steps), snapshots and a log."""
    run = create_run(root, name)
    cfg = {"name": name, "data": {"modality": "image", "dataset": "cifar10"},
           "objective": objective or {"name": "infonce"}, "model": {"encoder": "resnet18"}, "train": {"steps": TOTAL}}
    (run.path / "config.toml").write_text(tomlio.dumps(cfg))
    last = steps * 10
    write_status(run.path, Status(id=run.id, state=state, pid=pid or os.getpid(), started_at=time.time() - 60,
                                  pid_start=process_start(pid or os.getpid()),
                                  step=last, total_steps=TOTAL, device="cpu", error=error))
    if state in ("running", "starting") and pid is None:  # this process stands for its worker: it holds the lock
        _HELD_LOCKS.append(lock_path(run.path).open("a"))
        fcntl.flock(_HELD_LOCKS[-1], fcntl.LOCK_EX)
    metrics = JsonlWriter(run.metrics_path)
    for k in range(1, steps + 1):
        step = 10 * k
        metrics.write({"step": step, "t": 0.05 * k, "time": time.time(), "loss": loss_at(step), "lr": 1e-3})
    metrics.close()
    snaps = JsonlWriter(run.snapshots_path)
    for i, step in enumerate(snapshot_steps):
        values = similarity(n, 0.3 + 0.2 * i)
        snaps.write({"step": step, "time": time.time(), "kind": "similarity", "values": values})
    snaps.close()
    run.log_path.write_text("".join(f"step {10 * k} loss {loss_at(10 * k):.4f}\n" for k in range(1, 20)))
    return run


def shown(pilot: Pilot[None], selector: str) -> str:
    """The text a widget of the current screen renders now."""
    widget = pilot.app.screen.query_one(selector)
    rendered = widget.text() if isinstance(widget, (LossChart, SimilarityView)) else widget.render()
    assert isinstance(rendered, Text)
    return rendered.plain


async def wait_for(pilot: Pilot[None], selector: str, words: str, timeout: float = 5.0) -> str:
    """What the widget shows once it contains ``words`` (the dashboard redraws on its polls)."""
    end = time.monotonic() + timeout
    while words not in (text := shown(pilot, selector)) and time.monotonic() < end:
        await pilot.pause(0.1)
    return text


async def settle(pilot: Pilot[None]) -> None:
    """Let running polls finish and their results reach the widgets."""
    await pilot.app.workers.wait_for_complete()
    await pilot.pause()


def test_dashboard_shows_the_run_as_it_is(tmp_path: Path) -> None:
    run = make_run(tmp_path, "simclr", 10_000)

    async def body() -> None:
        app = make_app(tmp_path, run.id[:12])
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, DashboardScreen)
            assert len(screen.series.steps) == 10_000  # everything already written, not just a chunk
            assert "running" in shown(pilot, "#header") and run.id in shown(pilot, "#header")
            assert "step 100,000/200,000" in shown(pilot, "#progress")
            assert f"{loss_at(100_000):.4g}" in shown(pilot, "#loss")
            assert "step 250" in shown(pilot, "#sim") and "live" in shown(pilot, "#sim")
            assert "step 190 loss" in shown(pilot, "#log")

    asyncio.run(body())


def test_dashboard_follows_records_appended_while_it_runs(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSH_CONNECTION", raising=False)
    run = make_run(tmp_path, "simclr", 100)

    async def body() -> None:
        async with make_app(tmp_path, run.id).run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            assert "step 1,000/200,000" in shown(pilot, "#progress")
            metrics = JsonlWriter(run.metrics_path)
            metrics.write({"step": 1010, "t": 5.05, "time": time.time(), "loss": 0.123456, "lr": 1e-3})
            metrics.close()
            assert "step 1,010/200,000" in await wait_for(pilot, "#progress", "1,010")
            assert "loss 0.1235" in await wait_for(pilot, "#loss", "0.1235")  # at the next chart redraw

    asyncio.run(body())


def test_similarity_packs_two_rows_per_line_and_colours_the_diagonal() -> None:
    n = 8
    snap = Snapshot(step=5, n=n, values=array("f", (v for row in similarity(n, 0.9) for v in row)))
    text = matrix_text(snap, max_cols=32, max_lines=16)
    lines = text.split("\n")
    assert len(lines) == n // 2 and all(line.cell_len == n for line in lines)
    assert set(text.plain) - {"\n"} == {"▀"}
    cells = sorted(lines[0].spans, key=lambda span: span.start)  # line 0: rows 0 (fg) and 1 (bg)
    styles = [span.style for span in cells if isinstance(span.style, Style)]
    assert len(styles) == n  # every cell styled
    assert styles[0].color != styles[1].color  # (0, 0) on the diagonal, (0, 1) off it
    assert styles[1].bgcolor != styles[0].bgcolor  # (1, 1) on the diagonal, (1, 0) off it
    assert styles[2].color == styles[3].color  # both off the diagonal
    wide = Snapshot(step=5, n=64, values=array("f", [0.0] * 64 * 64))
    wide_lines = matrix_text(wide, max_cols=32, max_lines=16).split("\n")  # averaged into 32 x 32
    assert len(wide_lines) == 16 and all(line.cell_len == 32 for line in wide_lines)


def test_brackets_step_through_earlier_snapshots(tmp_path: Path) -> None:
    run = make_run(tmp_path, "simclr", 50, snapshot_steps=(50, 100, 150))

    async def body() -> None:
        async with make_app(tmp_path, run.id).run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            assert "step 150" in shown(pilot, "#sim") and "live" in shown(pilot, "#sim")
            matrix_lines = shown(pilot, "#sim").split("\n")[1:]
            assert len(matrix_lines) == 4  # n = 8: two matrix rows per line
            await pilot.press("left_square_bracket")
            assert "step 100" in shown(pilot, "#sim") and "2/3" in shown(pilot, "#sim")
            await pilot.press("left_square_bracket", "left_square_bracket")
            assert "step 50" in shown(pilot, "#sim") and "1/3" in shown(pilot, "#sim")
            await pilot.press("right_square_bracket", "right_square_bracket")
            assert "step 150" in shown(pilot, "#sim") and "live" in shown(pilot, "#sim")

    asyncio.run(body())


def test_runs_screen_lists_runs_and_opens_a_dashboard(tmp_path: Path) -> None:
    first = make_run(tmp_path, "simclr", 20)
    second = make_run(tmp_path, "byol", 30, state="finished")

    async def body() -> None:
        app = make_app(tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            assert isinstance(app.screen, RunsScreen)
            table = app.screen.query_one(DataTable)
            assert table.row_count == 2
            ids = {str(table.get_row_at(i)[2]) for i in range(2)}
            assert ids == {first.id.split("-", 2)[2], second.id.split("-", 2)[2]}  # at 80 columns: no date
            await pilot.press("enter")
            await settle(pilot)
            assert isinstance(app.screen, DashboardScreen)
            assert app.screen.run.id.endswith(str(table.get_row_at(0)[2]))
            await pilot.press("q")
            assert isinstance(app.screen, RunsScreen)

    asyncio.run(body())


def test_failed_run_shows_its_error_and_cannot_be_stopped(tmp_path: Path) -> None:
    run = make_run(tmp_path, "vicreg", 10, state="failed", error="RuntimeError: CUDA out of memory")

    async def body() -> None:
        app = make_app(tmp_path, run.id)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            assert "failed" in shown(pilot, "#header") and "CUDA out of memory" in shown(pilot, "#header")
            assert [n.title for n in app._notifications] == ["the run failed"]  # in full, once
            await pilot.press("s")
            assert isinstance(app.screen, DashboardScreen)  # no confirmation asked
            assert any("nothing to stop" in n.message for n in app._notifications)

    asyncio.run(body())


@contextlib.contextmanager
def running_worker(root: Path) -> Iterator[tuple[Run, subprocess.Popen[bytes]]]:
    """A run whose status names a live stand-in worker (a process holding the run dir on its command line)."""
    run = make_run(root, "simclr", 10, state="stopped")
    worker = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)", str(run.path)])  # names its run
    try:
        write_status(run.path, Status(**{**run.status().to_dict(), "state": "running", "pid": worker.pid,
                                         "pid_start": process_start(worker.pid)}))
        yield run, worker
    finally:
        worker.kill()


def test_stop_asks_then_sends_sigterm_to_the_worker(tmp_path: Path) -> None:
    with running_worker(tmp_path) as (run, worker):

        async def body() -> None:
            app = make_app(tmp_path, run.id)
            async with app.run_test(size=(80, 24)) as pilot:
                await settle(pilot)
                await pilot.press("s")
                assert not isinstance(app.screen, DashboardScreen)  # the confirmation
                await pilot.press("y")
                await pilot.pause()

        asyncio.run(body())
        assert worker.wait(timeout=5) == -15


def test_metric_series_drops_what_a_resumed_run_rewrites() -> None:
    series = MetricSeries()
    series.add({"step": s, "t": s / 10, "loss": 1.0 / s} for s in range(10, 110, 10))
    later = MetricSeries()
    later.add([{"step": 60, "t": 0.5, "loss": 9.0}, {"step": 70, "t": 0.6, "loss": None}])  # resumed at 60
    generation = series.generation
    series.merge(later)
    assert series.steps == [10, 20, 30, 40, 50, 60] and series.losses[-1] == 9.0
    assert series.timing[-1] == (70, 0.6) and series.last == {"step": 70, "t": 0.6, "loss": None}
    assert list(series.column("t")[0]) == [10, 20, 30, 40, 50, 60, 70] and series.generation > generation
    assert series.keys() == ["loss"]  # t is the time axis, not a metric



def test_dashboard_shows_transfer_and_warns_of_collapse(tmp_path: Path) -> None:
    run = make_run(tmp_path, "byol", 20)
    metrics = JsonlWriter(run.metrics_path)

    async def body() -> None:
        app = make_app(tmp_path, run.id)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            assert "first evaluation" in shown(pilot, "#representation")
            metrics.write({"step": 300, "t": 1.0, "time": time.time(), "loss": 1.0, "knn_acc": 0.612,
                           "probe_acc": 0.55, "emb_std": 0.12, "emb_dim": 64, "rankme": 30.0})
            metrics.write({"step": 310, "t": 1.1, "time": time.time(), "loss": 0.9})   # no evaluation here
            line = await wait_for(pilot, "#representation", "kNN 0.612")
            assert "kNN 0.612" in line and "probe 0.550" in line and "⚠" not in line
            metrics.write({"step": 400, "t": 2.0, "time": time.time(), "loss": 0.1, "knn_acc": 0.1,
                           "emb_std": 0.001, "emb_dim": 64, "rankme": 1.1})
            assert "collapsing" in await wait_for(pilot, "#representation", "collapsing")

    asyncio.run(body())
    metrics.close()


def test_dashboard_judges_collapse_by_the_objective_and_its_loss(tmp_path: Path) -> None:
    masked = make_run(tmp_path, "masked", 20, objective={"name": "masked"})
    contrastive = make_run(tmp_path, "contrastive", 20)
    narrow = {"knn_acc": 0.6, "emb_std": 0.0064, "emb_dim": 128, "rankme": 9.0}   # a narrow spread, rank fine

    async def body(run: Run, record: dict[str, object], expected: str) -> str:
        metrics = JsonlWriter(run.metrics_path)
        app = make_app(tmp_path, run.id)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            metrics.write({"step": 300, "t": 1.0, "time": time.time(), **record})
            line = await wait_for(pilot, "#representation", expected)
        metrics.close()
        return line

    # masked prediction has no trivial solution: its narrow pooled features are not called a collapse
    line = asyncio.run(body(masked, {"loss": 0.5, **narrow}, "kNN 0.600"))
    assert "⚠" not in line and "collaps" not in line and "narrow, normal here" in line
    # InfoNCE far below its chance loss tells the examples apart: at risk, not collapsing
    line = asyncio.run(body(contrastive, {"loss": 2.0, "chance_loss": 5.5, **narrow}, "at risk"))
    assert "collapsing" not in line and "tells the examples apart" in line


# -- the runs browser ------------------------------------------------------------------------------


async def on_run(pilot: Pilot[None], run: Run) -> RunsTable:
    """Put the runs table's cursor on ``run``."""
    table = pilot.app.screen.query_one(RunsTable)
    table.move_cursor(row=table.shown.index(run.id))
    await pilot.pause()
    return table


def test_runs_browser_filters_and_sorts_by_loss(tmp_path: Path) -> None:
    long = make_run(tmp_path, "simclr", 30, state="finished")  # the most steps: the lowest loss
    short = make_run(tmp_path, "byol", 10, state="finished")
    mid = make_run(tmp_path, "vicreg", 20, state="failed")

    async def body() -> None:
        app = make_app(tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            table = app.screen.query_one(RunsTable)
            assert len(table.shown) == 3
            await pilot.press("slash", *"byol")
            assert table.shown == [short.id] and table.row_count == 1
            await pilot.press("enter", "escape")  # keep the filter, back to the table; esc clears it
            assert len(table.shown) == 3
            await pilot.press("6")  # the loss column
            assert table.shown == [long.id, mid.id, short.id]
            assert "loss ▲" in str(table.columns[ColumnKey("loss")].label)
            await pilot.press("6")
            assert table.shown == [short.id, mid.id, long.id]
            await pilot.press("slash", *"failed")  # the state is searched too
            assert table.shown == [mid.id]

    asyncio.run(body())


def test_star_is_saved_in_the_run_and_sorts_first(tmp_path: Path) -> None:
    runs = [make_run(tmp_path, name, steps, state="finished") for name, steps in (("a", 30), ("b", 10), ("c", 20))]

    async def body() -> None:
        app = make_app(tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("6")  # by loss: a, c, b
            await on_run(pilot, runs[0])
            await pilot.press("space")
            table = await on_run(pilot, runs[1])
            await pilot.press("asterisk")
            await settle(pilot)
            assert (runs[1].path / "starred").is_file()
            assert table.shown == [runs[1].id, runs[0].id, runs[2].id]
            assert table.cursor_id() == runs[1].id  # the cursor followed its run, the selection stayed
            assert table.selected == {runs[0].id} and "✓" in str(table.get_row_at(1)[0])
            assert "★" in str(table.get_row_at(0)[0])
            await pilot.press("asterisk")
            await settle(pilot)
            assert not (runs[1].path / "starred").exists() and table.shown[0] == runs[0].id

    asyncio.run(body())


def test_two_selected_runs_compare_and_show_only_the_key_that_differs(tmp_path: Path) -> None:
    first = make_run(tmp_path, "simclr", 20, state="finished", objective={"name": "infonce", "temperature": 0.1})
    second = make_run(tmp_path, "simclr", 30, state="finished", objective={"name": "infonce", "temperature": 0.5})

    async def body() -> None:
        app = make_app(tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("c")
            assert isinstance(app.screen, RunsScreen)  # nothing selected yet: a warning
            await pilot.press("space", "space")  # selects and moves down: both runs
            assert app.screen.query_one(RunsTable).selected == {first.id, second.id}
            await pilot.press("c")
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, CompareScreen)
            legend = screen.query_one("#compare-legend", Static).render()
            assert first.id in str(legend) and second.id in str(legend)
            table = screen.query_one("#compare-table", DataTable)
            keys = [str(k.value) for k in table.rows]
            assert [k.split(":", 1)[1] for k in keys if k.startswith("config:")] == ["objective.temperature"]
            assert {c.key.value for c in table.ordered_columns} == {"what", first.id, second.id}
            chart = screen.query_one(LossChart)
            assert {c.key for c in chart.curves} == {first.id, second.id}
            assert chart.curves[0].color != chart.curves[1].color
            await pilot.press("q")
            assert isinstance(app.screen, RunsScreen)

    asyncio.run(body())


@pytest.mark.parametrize("sort", [None, "1"], ids=["unsorted", "by-state"])
def test_selection_survives_a_refresh_in_which_a_run_finishes(tmp_path: Path, sort: str | None) -> None:
    """A run that changes state (and, sorted by state, moves) while runs are selected stays selected."""
    first = make_run(tmp_path, "simclr", 20, state="running")  # the test's own pid: alive
    second = make_run(tmp_path, "byol", 30, state="running")

    async def body() -> None:
        app = make_app(tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, RunsScreen)
            if sort:
                await pilot.press(sort)
            table = screen.query_one(RunsTable)
            await on_run(pilot, first)
            await pilot.press("space")
            await on_run(pilot, second)
            await pilot.press("space")
            assert table.selected == {first.id, second.id}
            before = list(table.shown)
            ending = first if before[-1] == first.id else second  # the lower row: sorted by state, it moves up
            status = ending.status()
            write_status(ending.path, Status(**{**status.__dict__, "state": "finished", "ended_at": time.time()}))
            await pilot.press("r")
            await settle(pilot)
            await settle(pilot)
            assert table.rows_by_id[ending.id].state == "finished"  # the refresh saw the change
            if sort:
                assert table.shown == before[::-1]  # finished sorts before running: the rows swapped
            assert table.selected == {first.id, second.id}
            assert all("✓" in str(table.get_row(rid)[0]) for rid in (first.id, second.id))
            assert "2 runs · 2 selected" in str(screen.query_one("#runs-title", Static).render())
            await pilot.press("c")
            await settle(pilot)
            assert isinstance(app.screen, CompareScreen)
            assert [r.id for r in app.screen.runs] == [rid for rid in table.shown]

    asyncio.run(body())


def test_selection_outlives_a_scan_that_misses_the_run(tmp_path: Path) -> None:
    """A run skipped by one scan (its status unreadable for a moment) is selected again when it is back."""
    runs = [make_run(tmp_path, name, 10, state="finished") for name in ("a", "b")]

    async def body() -> None:
        app = make_app(tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            table = app.screen.query_one(RunsTable)
            await pilot.press("space", "space")
            rows = list(table.rows_by_id.values())
            table.set_rows([r for r in rows if r.id != runs[0].id])
            assert [r.id for r in table.selected_rows()] == [runs[1].id]
            table.set_rows(rows)
            assert {r.id for r in table.selected_rows()} == {r.id for r in runs}
            assert all("✓" in str(table.get_row(r.id)[0]) for r in runs)

    asyncio.run(body())


def test_runs_title_counts_one_run_in_the_singular(tmp_path: Path) -> None:
    make_run(tmp_path, "simclr", 10, state="finished")

    async def body() -> None:
        app = make_app(tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            title = str(app.screen.query_one("#runs-title", Static).render())
            assert "· 1 run" in title and "1 runs" not in title

    asyncio.run(body())


def test_delete_asks_first_and_refuses_a_running_run(tmp_path: Path) -> None:
    running = make_run(tmp_path, "live", 10)  # its pid is this process: alive
    done = make_run(tmp_path, "old", 10, state="finished")

    async def body() -> None:
        app = make_app(tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await on_run(pilot, running)
            await pilot.press("d")
            assert isinstance(app.screen, RunsScreen)  # no question: refused
            assert any("stop it before deleting" in n.message for n in app._notifications)
            await on_run(pilot, done)
            await pilot.press("d")
            assert isinstance(app.screen, ConfirmScreen) and done.id in app.screen.question
            await pilot.press("n")
            assert done.path.is_dir()
            await pilot.press("d", "y")
            table, end = app.screen.query_one(RunsTable), time.monotonic() + 10
            while (done.path.exists() or table.shown != [running.id]) and time.monotonic() < end:
                await settle(pilot)                  # the delete and the rescan run in workers
                await pilot.pause(0.1)
            assert not done.path.exists() and running.path.is_dir()
            assert table.shown == [running.id]

    asyncio.run(body())


def test_notes_and_tags_round_trip_through_the_run_directory(tmp_path: Path) -> None:
    run = make_run(tmp_path, "simclr", 10, state="finished")

    async def body() -> None:
        app = make_app(tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("n")
            app.screen.query_one(Input).value = "baseline, lr 3e-3"
            await pilot.press("enter")
            await settle(pilot)
            assert (run.path / "notes.txt").read_text() == "baseline, lr 3e-3\n"
            await pilot.press("t", *"#zq yq,zq", "enter")
            await settle(pilot)
            assert (run.path / "tags.txt").read_text() == "zq\nyq\n"
            table = app.screen.query_one(RunsTable)
            assert str(table.get_row_at(0)[-1]) == "#zq #yq baseline, lr 3e-3"
            await pilot.press("n")
            assert app.screen.query_one(Input).value == "baseline, lr 3e-3"  # what is saved, to edit
            await pilot.press("escape", "slash", "y", "q")
            assert table.shown == [run.id]  # tags are searched by the filter
            await pilot.press("x")
            assert table.shown == []

    asyncio.run(body())
    assert read_annotations(run.path) == Annotations(False, ("zq", "yq"), "baseline, lr 3e-3")


# -- the dashboard's chart -------------------------------------------------------------------------


def test_dashboard_plots_chosen_metrics_smoothed_against_step_or_time(tmp_path: Path) -> None:
    run = make_run(tmp_path, "simclr", 50)

    async def body() -> None:
        async with make_app(tmp_path, run.id).run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            assert [c.key for c in pilot.app.screen.query_one(LossChart).curves] == ["loss"]
            await pilot.press("m")
            assert isinstance(pilot.app.screen, PickScreen)
            boxes = pilot.app.screen.query_one(CheckList)
            assert [boxes.render_line(y).text[:9] for y in range(2)] == ["▐X▌ loss ", "▐ ▌ lr   "]  # not colour alone
            await pilot.press("down", "space")
            assert boxes.render_line(1).text.startswith("▐X▌ lr")
            await pilot.press("enter")  # the list is loss, lr: lr ticked too
            chart = pilot.app.screen.query_one(LossChart)
            assert [c.key for c in chart.curves] == ["loss", "lr"] and len(chart.curves[1].values) == 50
            assert chart.curves[0].color != chart.curves[1].color
            assert "lr 0.001" in shown(pilot, "#loss")
            await pilot.press("plus", "plus", "minus", "x")
            assert chart.smoothing == 0.1 and chart.x_time
            assert "smooth 0.1" in shown(pilot, "#loss") and "x time" in shown(pilot, "#loss")

    asyncio.run(body())


def test_chart_title_leaves_out_the_step_then_the_min_to_fit_its_width() -> None:
    chart = LossChart()
    chart.curves = [Curve("loss", "loss", PALETTE[0], [10, 1200], [2.5, 2.265], clock=([10, 1200], [1.0, 2.0]))]
    chart.smoothing, chart.log_y, chart.x_time = 0.2, True, True
    full = "smooth 0.2  log y  x time  loss 2.265  min 2.265  step 1,200"
    assert chart.title().plain == chart.title(len(full)).plain == full
    assert chart.title(len(full) - 1).plain == "smooth 0.2  log y  x time  loss 2.265  min 2.265"
    assert chart.title(44).plain == "smooth 0.2  log y  x time  loss 2.265"  # the chart's width at 80 columns
