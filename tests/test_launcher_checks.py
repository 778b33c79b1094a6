"""The launcher under keys typed at full speed: keys before it is ready, checks while typing, rules between keys."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import pytest
from textual import events
from textual.pilot import Pilot

from sslterm.tui.app import make_app
from sslterm.tui.screens import launcher as launcher_screen
from sslterm.tui.screens.launcher import LauncherScreen
from sslterm.tui.widgets.field import Field
from tests.conftest import wait_for_async
from tests.test_launcher import FakePreview, activate, choose, field, notes, open_launcher, status

CHARACTERS = {"space": " ", "full_stop": ".", "question_mark": "?"}


@pytest.fixture
def workdir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working directory with an empty experiments/ and the preview faked (as in test_launcher.py)."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(launcher_screen, "AugmentationPreview", FakePreview)
    (tmp_path / "experiments").mkdir()
    return tmp_path


def key(name: str) -> events.Key:
    return events.Key(name, name if len(name) == 1 else CHARACTERS.get(name))


async def burst(pilot: Pilot[None], *keys: str) -> None:
    """Keys queued at once, as a terminal delivers fast typing, then the app left to take them all."""
    for name in keys:
        pilot.app.post_message(key(name))
    for _ in range(10):
        await pilot.pause()


@pytest.mark.parametrize("keys", [("down",), ("tab",), ("space",), ("full_stop",), ("p", "question_mark"),
                                  ("ctrl+s", "ctrl+l", "o"), ("down", "tab", "space", "full_stop", "enter", "1")])
def test_keys_typed_while_the_launcher_mounts_never_crash_it(
    workdir: Path, monkeypatch: pytest.MonkeyPatch, keys: tuple[str, ...]
) -> None:
    """Issue 12, defect 1: `l` then down, tab, space or `.` at once on a busy machine exited with NoMatches."""
    mount = LauncherScreen.on_mount
    delivered: list[bool] = []

    async def slow_mount(self: LauncherScreen) -> None:
        for name in keys:  # these reach the screen before its mount is done, however fast the machine is
            self.app.post_message(key(name))
        delivered.append(self._ready)
        await asyncio.sleep(0.3)  # a slow mount on a loaded machine
        await mount(self)

    monkeypatch.setattr(LauncherScreen, "on_mount", slow_mount)

    async def body() -> None:
        async with make_app(workdir / "runs").run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            await burst(pilot, "l")
            screen = await wait_for_async(lambda: isinstance(pilot.app.screen, LauncherScreen) and pilot.app.screen,
                                          what="the launcher")
            assert isinstance(screen, LauncherScreen)
            await wait_for_async(lambda: screen._ready, what="the launcher's form")
            for _ in range(10):
                await pilot.pause()
            assert delivered == [False]
            assert pilot.app.is_running and pilot.app.screen_stack[-1] in (screen, *pilot.app.screen_stack[2:])
            assert (screen.query(Field) and not screen.draft.dirty) or screen.draft.experiment is not None

    asyncio.run(body())


def test_focusing_the_first_row_of_an_empty_form_does_nothing(workdir: Path) -> None:
    async def body() -> None:
        async with make_app(workdir / "runs").run_test(size=(80, 24)) as pilot:
            screen = await open_launcher(pilot)
            await screen.query(Field).remove()
            screen._focus_first()  # raised NoMatches on a form without rows
            await pilot.pause()
            assert not screen.query(Field)

    asyncio.run(body())


def test_a_value_is_checked_as_it_is_typed_and_an_old_error_goes_when_fixed(workdir: Path) -> None:
    async def body() -> None:
        async with make_app(workdir / "runs").run_test(size=(80, 24)) as pilot:
            screen = await open_launcher(pilot)
            row = field(pilot, "train.lr")
            await activate(pilot, "train.lr")
            await burst(pilot, "ctrl+u", "2", "0")  # not applied yet: no enter
            assert row.checked == "got 20.0, expected a number with 0 < value ≤ 10"
            assert "✗" in str(row.render()) and "✗ train.lr: got 20.0" in status(pilot)
            assert screen.draft.problem is None  # nothing applied yet
            await burst(pilot, "backspace")
            assert row.checked == "" and "✓" in str(row.render()) and "✓ valid" in status(pilot)
            await burst(pilot, "0", "enter")  # applied: the error stays under the row
            assert row.error is not None and screen.draft.problem is not None
            await activate(pilot, "train.lr")
            await burst(pilot, "ctrl+u", "0", ".", "5")
            assert row.checked == "" and row.error is None and "✓ valid" in status(pilot)  # gone before enter
            await burst(pilot, "escape")
            assert row.error is not None and "✗ train.lr" in status(pilot)  # cancelled: the draft's error again
            await activate(pilot, "train.lr")
            await burst(pilot, "ctrl+u", "0", ".", "5", "enter")
            assert row.error is None and screen.draft.get("train.lr") == 0.5 and "✓ valid" in status(pilot)

    asyncio.run(body())


def test_a_rule_between_two_keys_shows_on_both_rows_as_either_is_typed(workdir: Path) -> None:
    """Issue 12, defect 5: ViT patch_size 5 on 32-pixel images showed ✓ valid, saved and launched."""

    async def body() -> None:
        async with make_app(workdir / "runs").run_test(size=(80, 24)) as pilot:
            screen = await open_launcher(pilot)
            await activate(pilot, "model.encoder")
            await choose(pilot, "vit")
            assert screen.draft.problem is None and field(pilot, "data.image_size").value == 32
            await activate(pilot, "model.patch_size")
            await burst(pilot, "ctrl+u", "5")  # while typing
            reason = "got 5, must divide data.image_size = 32"
            assert field(pilot, "model.patch_size").checked == reason
            assert field(pilot, "data.image_size").error == f"model.patch_size: {reason}"
            assert "✓" not in status(pilot)
            await burst(pilot, "enter")
            assert field(pilot, "model.patch_size").error == reason
            assert field(pilot, "data.image_size").error == f"model.patch_size: {reason}"
            assert status(pilot) == f"✗ model.patch_size / data.image_size: {reason}"
            await burst(pilot, "ctrl+s")
            assert pilot.app.screen is screen and notes(pilot)[-1].startswith("not saved: model.patch_size")
            await activate(pilot, "data.image_size")  # fixed from the other row: both errors go
            await burst(pilot, "ctrl+u", "4", "0")
            assert field(pilot, "data.image_size").checked == "" and field(pilot, "model.patch_size").error is None
            await burst(pilot, "enter")
            assert screen.draft.problem is None and "✓ valid" in status(pilot)
            assert not any(f.error for f in screen.query(Field))

    asyncio.run(body())


def test_a_batch_larger_than_the_training_split_is_shown_on_both_rows(workdir: Path) -> None:
    async def body() -> None:
        async with make_app(workdir / "runs").run_test(size=(80, 24)) as pilot:
            screen = await open_launcher(pilot)
            await activate(pilot, "data.num_samples")
            await burst(pilot, "ctrl+u", "6", "4", "enter")
            reason = "got 128, must not exceed data.num_samples = 64"
            assert field(pilot, "train.batch_size").error == reason
            assert field(pilot, "data.num_samples").error == f"train.batch_size: {reason}"
            assert {f.spec.key for f in screen.query(Field) if f.error} == {"train.batch_size", "data.num_samples"}
            assert screen.draft.experiment is None

    asyncio.run(body())


def test_actions_wait_for_the_form(workdir: Path) -> None:
    screen = launcher_screen.LauncherScreen(workdir / "runs", workdir / "experiments")
    assert not screen.check_action("save", ()) and not screen.check_action("toggle_preview", ())


def test_keys_typed_fast_after_enter_on_a_choice_go_to_its_list(workdir: Path) -> None:
    """enter, down, enter typed at once on the encoder row chose nothing: down and enter moved the form instead."""

    async def body() -> None:
        async with make_app(workdir / "runs").run_test(size=(80, 24)) as pilot:
            screen = await open_launcher(pilot)
            field(pilot, "model.encoder").focus()
            await pilot.pause()
            await burst(pilot, "enter", "down", "enter")
            assert pilot.app.screen is screen and screen.draft.get("model.encoder") == "vit"
            assert isinstance(screen.focused, Field) and screen.focused.spec.key == "model.encoder"
            await burst(pilot, "enter", "escape", "down")  # esc closes the list; down then moves the form
            assert screen.draft.get("model.encoder") == "vit"
            assert isinstance(screen.focused, Field) and screen.focused.spec.key != "model.encoder"

    asyncio.run(body())


def test_keys_typed_right_after_l_all_reach_the_form_in_order(
    workdir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`l`, 5 downs, enter, 42, enter typed at once while the launcher is slow to open (a cold import on a busy
    machine): the first row's focus, set a moment late, took back the first down (seen in tmux: the value went
    into the row above the one meant); keys typed before the form is ready wait for it."""
    from sslterm.tui.app import SSLTermApp

    open_launcher = SSLTermApp.on_open_launcher

    def slow(self: SSLTermApp, message: Any) -> None:
        time.sleep(1.0)  # blocks the app, as importing the config core does on a loaded machine
        open_launcher(self, message)

    monkeypatch.setattr(SSLTermApp, "on_open_launcher", slow)

    async def body() -> None:
        async with make_app(workdir / "runs").run_test(size=(80, 24)) as pilot:
            await pilot.pause()
            await burst(pilot, "l", "down", "down", "down", "down", "down", "enter", "ctrl+u", "4", "2", "enter")
            screen = await wait_for_async(lambda: isinstance(pilot.app.screen, LauncherScreen) and pilot.app.screen,
                                          what="the launcher")
            assert isinstance(screen, LauncherScreen)
            await wait_for_async(lambda: screen.draft.dirty, timeout=20, what="an edit applied")
            assert isinstance(screen.focused, Field) and screen.focused.spec.key == "data.workers"
            assert screen.draft.get("data.workers") == 42

    asyncio.run(body())
