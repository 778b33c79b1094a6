"""Keys typed at full speed (as a terminal delivers a burst or a paste) land where they were meant."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from textual import events
from textual.containers import VerticalScroll
from textual.pilot import Pilot
from textual.widgets import Input

from sslterm.tui.app import make_app
from sslterm.tui.screens.dialogs import ConfirmScreen, HelpScreen, PromptScreen
from sslterm.tui.screens.runs import RunsScreen
from sslterm.tui.widgets.runs_table import RunsTable
from tests.test_tui import make_run, settle


async def burst(pilot: Pilot[None], *keys: str) -> None:
    """Queue every key at once, as a terminal hands over fast typing, not one per refresh as ``press`` does."""
    for key in keys:
        char = key if len(key) == 1 else {"slash": "/", "space": " "}.get(key)
        pilot.app.post_message(events.Key(key, char))
    for _ in range(10):
        await pilot.pause()


def footer(pilot: Pilot[None]) -> set[str]:
    """The keys the footer shows now."""
    return {key for key, b in pilot.app.screen.active_bindings.items() if b.binding.show and b.enabled}


def test_keys_typed_fast_after_slash_all_go_into_the_filter(tmp_path: Path) -> None:
    """`/simclr` typed fast opened "Stop run …?" from the `s`: every key after `/` is text for the filter."""
    simclr = make_run(tmp_path, "simclr", 10)  # running: its pid is this process, so `s` would ask to stop it
    make_run(tmp_path, "byol", 10, state="finished")

    async def body() -> None:
        app = make_app(tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await burst(pilot, "slash", *"simclr")
            assert isinstance(app.screen, RunsScreen), f"{app.screen} opened by a key meant for the filter"
            box = app.screen.query_one("#runs-filter", Input)
            assert box.value == "simclr" and app.screen.focused is box
            assert footer(pilot) == {"escape"}  # while typing, the footer offers esc only: no command runs
            assert app.screen.query_one(RunsTable).shown == [simclr.id]
            await burst(pilot, "enter", "escape", "slash", "d", "space", *"byol", "enter")
            assert isinstance(app.screen, RunsScreen) and box.value == "d byol"
            assert "escape" not in footer(pilot) and {"s", "d", "slash"} <= footer(pilot)  # kept: commands again
            await burst(pilot, "escape", "slash", "s", "d", "R")  # the run's name typed: no stop, no delete
            assert isinstance(app.screen, RunsScreen) and box.value == "sdR"

    asyncio.run(body())


def test_a_paste_after_slash_goes_into_the_filter(tmp_path: Path) -> None:
    make_run(tmp_path, "simclr", 10)

    async def body() -> None:
        app = make_app(tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            app.post_message(events.Key("slash", "/"))
            app.post_message(events.Paste("sd simclr"))
            for _ in range(10):
                await pilot.pause()
            assert isinstance(app.screen, RunsScreen)
            assert app.screen.query_one("#runs-filter", Input).value == "sd simclr"

    asyncio.run(body())


def test_notes_edit_starts_at_the_end_of_the_note_and_takes_keys_typed_fast(tmp_path: Path) -> None:
    """The notes editor replaced the saved note on the first key press: a note was lost this way."""
    run = make_run(tmp_path, "simclr", 10, state="finished")
    (run.path / "notes.txt").write_text("baseline\n")

    async def body() -> None:
        app = make_app(tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await burst(pilot, "n", "space", "l", "r", "space", *"3e-3")
            assert isinstance(app.screen, PromptScreen)
            assert app.screen.query_one(Input).value == "baseline lr 3e-3"
            await burst(pilot, "enter")
            await settle(pilot)
            assert (run.path / "notes.txt").read_text() == "baseline lr 3e-3\n"
            await burst(pilot, "n", "x", "escape")  # esc leaves the note as it was
            await settle(pilot)
            assert isinstance(app.screen, RunsScreen) and not isinstance(app.screen, ConfirmScreen)
            assert (run.path / "notes.txt").read_text() == "baseline lr 3e-3\n"

    asyncio.run(body())


@pytest.mark.parametrize(("width", "more"), [(80, False), (120, True)])
def test_runs_list_shows_loss_probe_and_time_without_scrolling_at_80_columns(
        tmp_path: Path, width: int, more: bool) -> None:
    make_run(tmp_path, "simclr", 10, state="finished")

    async def body() -> None:
        async with make_app(tmp_path).run_test(size=(width, 24)) as pilot:
            await settle(pilot)
            table = pilot.app.screen.query_one(RunsTable)
            keys = [str(k.value) for k in table.columns]
            assert {"loss", "probe", "time"} <= set(keys) and ("modality" in keys) == more
            right = sum(c.get_render_width(table) for c in list(table.columns.values())[: keys.index("time") + 1])
            assert right <= width  # the time column ends on the screen

    asyncio.run(body())


def test_keys_typed_fast_after_m_move_in_the_metric_chooser(tmp_path: Path) -> None:
    """m, down, space, enter typed at once: lr ticked and plotted (the keys before the list had the focus were lost)."""
    from sslterm.tui.widgets.loss_chart import LossChart

    run = make_run(tmp_path, "simclr", 20)

    async def body() -> None:
        async with make_app(tmp_path, run.id).run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await burst(pilot, "m", "down", "space", "enter")
            assert [c.key for c in pilot.app.screen.query_one(LossChart).curves] == ["loss", "lr"]

    asyncio.run(body())


def test_help_taller_than_the_terminal_scrolls_inside_it(tmp_path: Path) -> None:
    """The runs list's help is 26 rows: at 80x24 its end and "esc closes" were cut off; now the keys scroll."""
    make_run(tmp_path, "simclr", 10, state="finished")

    async def body() -> None:
        app = make_app(tmp_path)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await burst(pilot, "question_mark", *["down"] * 24)  # more than the rows below the frame
            help_screen = app.screen
            assert isinstance(help_screen, HelpScreen)
            assert help_screen.query_one(".dialog").region.bottom <= 24
            closes = help_screen.query_one(".dialog-keys").region
            assert closes.bottom <= 23 and closes in help_screen.query_one(".dialog").region  # inside its frame
            keys = help_screen.query_one(".help-keys", VerticalScroll)
            assert keys.max_scroll_y > 0 and keys.scroll_y == keys.max_scroll_y  # down reached the last key
            await burst(pilot, "escape")
            assert isinstance(app.screen, RunsScreen)

    asyncio.run(body())


def test_tags_typed_fast_show_in_the_runs_list_at_80_columns(tmp_path: Path) -> None:
    """At 80 columns the tags/notes column was 1 cell ("t", "#"): ids lose their date there, and tags show."""
    run = make_run(tmp_path, "image-infonce", 10, state="finished")

    async def body() -> None:
        async with make_app(tmp_path).run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await burst(pilot, "t", *"baseline", "enter")
            table = pilot.app.screen.query_one(RunsTable)
            assert run.id.split("-", 2)[2] in str(table.get_row_at(0)[2])  # image-infonce-xxxx: no date
            widths = [c.get_render_width(table) for c in table.columns.values()]
            assert sum(widths[:-1]) <= 80 - 12 and widths[-1] >= 12  # 12 cells of tags and notes on screen
            assert "#baseline" in str(table.get_row_at(0)[-1])

    asyncio.run(body())
