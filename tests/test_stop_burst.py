"""`s` then `y` typed in one burst stops the run even when the confirmation is slow to be made."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sslterm.tui.app import make_app
from sslterm.tui.screens.dashboard import DashboardScreen
from sslterm.tui.screens.dialogs import ConfirmScreen
from tests.test_tui import running_worker, settle


@pytest.mark.parametrize("slow", ["compose", "mount"])
def test_s_then_y_in_one_burst_stops_the_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, slow: str) -> None:
    if slow == "mount":  # the dialog's mounting yields to the loop for longer than a key may stay in flight
        async def slow_mount(self: ConfirmScreen) -> None:
            await asyncio.sleep(1.0)

        monkeypatch.setattr(ConfirmScreen, "on_mount", slow_mount, raising=False)
    if slow == "compose":  # the dialog takes a while to be made, as on a loaded machine
        made = ConfirmScreen.compose

        def slow_compose(self: ConfirmScreen):  # type: ignore[no-untyped-def]
            import time

            time.sleep(0.8)  # blocks the app's loop: the keys behind `s` queue up meanwhile
            return made(self)

        monkeypatch.setattr(ConfirmScreen, "compose", slow_compose)
    with running_worker(tmp_path) as (run, worker):

        async def body() -> None:
            app = make_app(tmp_path, run.id)
            async with app.run_test(size=(80, 24)) as pilot:
                await settle(pilot)
                await pilot.press("s", "y")
                for _ in range(50):
                    await pilot.pause()
                    if isinstance(app.screen, DashboardScreen):
                        break
                assert isinstance(app.screen, DashboardScreen), app.screen  # the dialog answered and closed

        asyncio.run(body())
        assert worker.wait(timeout=10) == -15
