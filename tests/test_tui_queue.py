"""The app's queue screen (w in the runs list): sweeps and trials shown, and its keys change the sweep on disk."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from conftest import TINY, wait_for_async
from textual.widgets import DataTable

from sslterm import config
from sslterm.launch import prepare
from sslterm.sweep import control, slurm_jobs
from sslterm.sweep import store as ss
from sslterm.sweep.spec import make_spec
from sslterm.tui.app import make_app
from sslterm.tui.screens.dashboard import DashboardScreen
from sslterm.tui.screens.dialogs import ConfirmScreen
from sslterm.tui.screens.queue import QueueScreen, read_sweeps


@pytest.fixture
def sweep(runs: Path, monkeypatch: pytest.MonkeyPatch) -> ss.Sweep:
    """A queued sweep of three trials (train.lr over three values) whose scheduler is never started."""
    started: list[str] = []
    monkeypatch.setattr(control, "start_scheduler", lambda sw: started.append(sw.id))
    base = config.overridden({}, list(TINY))
    spec = make_spec(["train.lr=0.001,0.002,0.003"], [], 0, 1)
    trials, exps = control.plan(base, spec, "test", "tiny-ab12")
    return control.create(runs, "tiny-ab12", "test", base, spec, trials, exps)


def _order(sweep: ss.Sweep) -> list[str]:
    return [t["id"] for t in sweep.trials()["trials"]]


def test_queue_keys_pause_resume_move_up_and_cancel_the_sweep_on_disk(runs: Path, sweep: ss.Sweep) -> None:
    async def body() -> None:
        async with make_app(runs).run_test(size=(80, 24)) as pilot:
            await pilot.press("w")
            screen = await wait_for_async(lambda: isinstance(pilot.app.screen, QueueScreen) and pilot.app.screen,
                                          what="the queue screen")
            assert isinstance(screen, QueueScreen)
            table = screen.query_one(DataTable)
            await wait_for_async(lambda: table.row_count == 4, what="the sweep's row and its 3 trials")
            assert "tiny-ab12" in str(table.get_row_at(0)[0]) and str(table.get_row_at(3)[1]) == "queued"
            await pilot.press("down", "down", "down", "t", "p")   # at full speed: t003 first, then pause
            await wait_for_async(lambda: sweep.trials()["state"] == ss.PAUSED, what="the sweep paused")
            assert _order(sweep) == ["t003", "t001", "t002"]
            await pilot.press("R")
            await wait_for_async(lambda: sweep.trials()["state"] == ss.RUNNING, what="the sweep resumed")
            await pilot.press("x")
            await wait_for_async(lambda: isinstance(pilot.app.screen, ConfirmScreen), what="the cancel question")
            await pilot.press("n")                                 # no: nothing changes
            await pilot.pause()
            assert sweep.trials()["state"] == ss.RUNNING
            await pilot.press("x", "y")
            await wait_for_async(lambda: sweep.trials()["state"] == ss.CANCELLED, what="the sweep cancelled")
            await pilot.press("p")                                 # refused, in one line
            await wait_for_async(lambda: any("nothing to pause" in n.message for n in pilot.app._notifications),
                                 what="the refusal")
            await pilot.press("q")
            await pilot.pause()
            assert not isinstance(pilot.app.screen, QueueScreen)

    asyncio.run(body())


def test_top_on_a_trial_that_is_not_queued_is_refused_and_enter_opens_its_run(runs: Path, sweep: ss.Sweep) -> None:
    run = prepare(config.load(sweep.trial_config("t002")), runs)
    with sweep.edit() as data:
        data["trials"][1].update(state=ss.DONE, run_id=run.id)

    async def body() -> None:
        async with make_app(runs).run_test(size=(80, 24)) as pilot:
            await pilot.press("w")
            screen = await wait_for_async(lambda: isinstance(pilot.app.screen, QueueScreen) and pilot.app.screen)
            assert isinstance(screen, QueueScreen)
            await wait_for_async(lambda: screen.query_one(DataTable).row_count == 4, what="the rows")
            await pilot.press("down", "down", "t")
            await wait_for_async(lambda: any("only a queued trial" in n.message for n in pilot.app._notifications),
                                 what="the refusal")
            assert _order(sweep) == ["t001", "t002", "t003"]
            await pilot.press("enter")
            dashboard = await wait_for_async(lambda: isinstance(pilot.app.screen, DashboardScreen) and pilot.app.screen,
                                             what="t002's dashboard")
            assert isinstance(dashboard, DashboardScreen) and dashboard.run.id == run.id

    asyncio.run(body())


def test_read_sweeps_asks_slurm_when_told_and_lists_a_damaged_sweep(runs: Path, sweep: ss.Sweep,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    asked: list[str] = []
    monkeypatch.setattr(slurm_jobs, "is_slurm", lambda sw: True)
    monkeypatch.setattr(slurm_jobs, "refresh", lambda sw: asked.append(sw.id))
    (record,) = read_sweeps(runs)
    assert asked == [sweep.id] and record.slurm and record.state == ss.QUEUED and len(record.trials) == 3
    read_sweeps(runs, ask_slurm=False)                          # between asks: the files only
    assert asked == [sweep.id]
    (sweep.path / ss.TRIALS).write_text("{not json")
    (damaged,) = read_sweeps(runs, ask_slurm=False)
    assert damaged.state == "unreadable" and damaged.error is not None and str(sweep.path) in damaged.error
