"""The launcher's sweep mode: a field as a list or range, checked as typed; the count and time; launch and save."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from conftest import wait_for_async
from test_launcher import (
    field,
    notes,
    open_launcher,
    status,
    workdir,  # noqa: F401 (a fixture: in tmp_path, experiments/ made, the preview faked)
)
from textual.pilot import Pilot

from sslterm import config
from sslterm.launch import prepare
from sslterm.store import Status, write_status
from sslterm.store.states import State
from sslterm.sweep import control
from sslterm.sweep import store as ss
from sslterm.sweep.estimate import Pace, recent_pace, sweep_seconds
from sslterm.tui.app import make_app
from sslterm.tui.draft import Draft
from sslterm.tui.screens.dialogs import ConfirmScreen, PromptScreen
from sslterm.tui.screens.runs import RunsScreen
from sslterm.tui.sweep_values import parse_values

LR = "train.lr"


@pytest.fixture
def no_scheduler(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The sweeps whose scheduler would have started (none starts: the trials are checked on disk)."""
    started: list[str] = []
    monkeypatch.setattr(control, "start_scheduler", lambda sw: started.append(sw.id))
    return started


async def sweep_field(pilot: Pilot[None], key: str, text: str) -> None:
    """w on the field, the values typed and applied, all at full key speed."""
    field(pilot, key).focus()
    await pilot.press("w", *text, "enter")
    for _ in range(3):
        await pilot.pause()


def test_lists_and_ranges_parse_as_their_values() -> None:
    lr = Draft.defaults().spec_of(LR).param
    steps = Draft.defaults().spec_of("train.steps").param
    assert parse_values(lr, "1e-4..1e-2 log 5") == (0.0001, 0.0003162, 0.001, 0.003162, 0.01)
    assert parse_values(steps, "1..8 step 2") == (1, 3, 5, 7)
    assert parse_values(lr, "0.1, 0.2,0.5") == (0.1, 0.2, 0.5)
    for bad, why in (("0.1,,0.2", "empty value"), ("0.1, 0.1", "twice"), ("1..0 lin 3", "below the high"),
                     ("0..1 log 3", "0 < LOW"), ("1..2", "not a range")):
        with pytest.raises(ValueError, match=why):
            parse_values(lr, bad)


@pytest.mark.usefixtures("workdir")
def test_a_list_and_a_range_typed_fast_show_the_count_and_an_invalid_value_is_named(tmp_path: Path) -> None:
    async def body() -> None:
        async with make_app(tmp_path / "runs").run_test(size=(80, 24)) as pilot:
            screen = await open_launcher(pilot)
            await sweep_field(pilot, LR, "0.1, 0.2, 0.5")
            assert screen.draft.sweep.values[LR] == (0.1, 0.2, 0.5)
            row = field(pilot, LR)
            assert row.swept == "0.1, 0.2, 0.5" and row.sweep_count == 3 and row.error is None
            assert "3 runs (3 values)" in status(pilot) and "New sweep" in str(screen.query_one("#launcher-title")
                                                                                   .render())
            await wait_for_async(lambda: "no recent run to estimate from" in status(pilot), what="the estimate")
            field(pilot, "sweep.seeds").focus()
            await pilot.press("enter", *"2", "enter")
            await wait_for_async(lambda: "6 runs (3 values × 2 seeds)" in status(pilot), what="the count")
            await sweep_field(pilot, "train.steps", "1..8 step 2")
            assert screen.draft.sweep.values["train.steps"] == (1, 3, 5, 7)
            assert "24 runs (3 × 4 values × 2 seeds)" in status(pilot)
            field(pilot, LR).focus()                       # enter on a swept field edits its list; -1 is refused
            await pilot.press("enter", "ctrl+u", *"0.1, -1")
            await pilot.pause()
            assert field(pilot, LR).checked is not None and "got -1" in field(pilot, LR).checked
            await pilot.press("enter")
            await pilot.pause()
            assert field(pilot, LR).error is not None and "got -1" in field(pilot, LR).error and "✗" in status(pilot)
            await pilot.press("ctrl+l")
            await pilot.pause()
            assert notes(pilot)[-1].startswith("not launched: train.lr: got -1")
            await pilot.press("w")                           # w on a swept field: one value again
            await pilot.pause()
            assert LR not in screen.draft.sweep.values and field(pilot, LR).swept is None
            await sweep_field(pilot, "seed", "1, 2")          # the seed is the seeds row's
            assert "seeds field" in (field(pilot, "seed").error or "")

    asyncio.run(body())


@pytest.mark.usefixtures("workdir")
def test_launch_creates_the_sweep_with_its_trials_and_lands_on_the_runs(
        tmp_path: Path, no_scheduler: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    exp = Draft.defaults().experiment
    assert exp is not None
    run = prepare(exp, tmp_path / "runs")                                         # a recent run of the same kind
    now = time.time()
    write_status(run.path, Status(id=run.id, state=State.FINISHED, step=exp.train.steps, created_at=now - 130,
                                  started_at=now - 120, ended_at=now))
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")                              # a CPU machine: one slot

    async def body() -> None:
        async with make_app(tmp_path / "runs").run_test(size=(80, 24)) as pilot:
            screen = await open_launcher(pilot)
            await sweep_field(pilot, "objective.temperature", "0.1, 0.2, 0.5")
            await wait_for_async(lambda: "about" in status(pilot), what="the estimate")
            assert "3 runs (3 values) · about 6m30s on this machine at 1 parallel" in status(pilot)
            field(pilot, "sweep.seeds").focus()
            await pilot.press("enter", *"2", "enter")
            field(pilot, "sweep.parallel").focus()         # 3 at once: the estimate is a third (rounded)
            await pilot.press("enter", "ctrl+u", *"65", "enter")
            await pilot.pause()
            assert "got 65" in (field(pilot, "sweep.parallel").error or "") and "✗" in status(pilot)
            await pilot.press("enter", "ctrl+u", *"3", "enter")
            await wait_for_async(lambda: "at 3 parallel" in status(pilot), what="the estimate at 3 slots")
            assert "6 runs (3 values × 2 seeds) · about 4m20s on this machine at 3 parallel" in status(pilot)
            await pilot.press("ctrl+l")
            await wait_for_async(lambda: isinstance(pilot.app.screen, ConfirmScreen), what="the question")
            assert "6 runs (3 values × 2 seeds)" in pilot.app.screen.question
            seed = screen.draft.experiment.seed if screen.draft.experiment else 0
            await pilot.press("y")
            await wait_for_async(lambda: isinstance(pilot.app.screen, RunsScreen), what="the runs list")
            (sweep,) = ss.list_sweeps(tmp_path / "runs")
            assert no_scheduler == [sweep.id] and sweep.spec()["parallel"] == 3
            trials = sweep.trials()["trials"]
            assert [(t["settings"], t["seed"]) for t in trials] == [
                ({"objective.temperature": v}, seed + s) for v in (0.1, 0.2, 0.5) for s in (0, 1)]
            made = config.load(sweep.trial_config("t006"))
            assert made.objective.options["temperature"] == 0.5 and made.seed == seed + 1

    asyncio.run(body())


@pytest.mark.usefixtures("workdir")
def test_save_writes_the_sweep_table_keeping_comments_and_loads_it_back(tmp_path: Path) -> None:
    mine = tmp_path / "experiments" / "mine.toml"
    mine.write_text('# my notes\nname = "mine"\n\n[train]\nlr = 0.001 # tuned by hand\n')

    async def body() -> None:
        async with make_app(tmp_path / "runs").run_test(size=(80, 24)) as pilot:
            screen = await open_launcher(pilot)
            await screen._start_from(mine)
            await sweep_field(pilot, LR, "1e-4..1e-2 log 3")
            await pilot.press("ctrl+s")
            await wait_for_async(lambda: isinstance(pilot.app.screen, PromptScreen), what="the file name")
            await pilot.press("enter", "y")
            await wait_for_async(lambda: "[sweep" in mine.read_text(), what="the saved sweep")

    asyncio.run(body())
    text = mine.read_text()
    assert "# my notes" in text and "# tuned by hand" in text
    draft = Draft.load(mine)
    assert draft.sweep.values == {LR: (0.0001, 0.001, 0.01)} and draft.raw["train"]["lr"] == 0.001
    assert draft.problem is None and not draft.dirty


def test_the_time_comes_from_recent_finished_runs_of_the_same_kind(tmp_path: Path) -> None:
    exp = Draft.defaults().experiment
    assert exp is not None
    root = tmp_path / "runs"
    assert recent_pace(root, exp.to_dict()) is None
    for steps, took in ((100, 50.0), (200, 90.0)):
        run = prepare(exp, root)
        now = time.time()
        write_status(run.path, Status(id=run.id, state=State.FINISHED, step=steps, total_steps=steps,
                                      created_at=now - took - 4, started_at=now - took, ended_at=now))
    other = prepare(config.build({"data": {"modality": "text"}}), root)          # another kind: not counted
    write_status(other.path, Status(id=other.id, state=State.FINISHED, step=10, started_at=1.0, ended_at=1000.0))
    pace = recent_pace(root, exp.to_dict())
    assert pace is not None and pace.runs == 2 and pace.startup_s == pytest.approx(4, abs=0.01)
    assert pace.seconds_per_step == pytest.approx((0.5 + 0.45) / 2)
    assert sweep_seconds([Pace(1.0, 0.0, 1).trial_seconds(10)] * 3, 2) == 20
    assert sweep_seconds([10, 10, 10], 1) == 30
