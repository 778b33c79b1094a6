"""An ended run's dashboard says how it ended and offers what applies to it, not what applied while it ran."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable

from sslterm.store import Status, write_status
from sslterm.tui.app import make_app
from sslterm.tui.screens.dashboard import DashboardScreen
from sslterm.tui.screens.dialogs import ChooseScreen, keys_help
from sslterm.tui.screens.runs import RunsScreen
from sslterm.tui.widgets.system_line import SystemLine
from tests.test_tui import make_run, settle, shown


def offered(pilot: Pilot[None]) -> set[str]:
    """The keys the footer shows now."""
    return {key for key, b in pilot.app.screen.active_bindings.items() if b.binding.show and b.enabled}


async def until(pilot: Pilot[None], check: object, what: str, timeout: float = 20.0) -> None:
    end = time.monotonic() + timeout
    while not check():  # type: ignore[operator]
        assert time.monotonic() < end, f"still not {what} after {timeout} s"
        await pilot.pause(0.1)


def test_a_run_that_finishes_while_watched_stops_offering_stop(tmp_path: Path) -> None:
    run = make_run(tmp_path, "simclr", 10)  # running: its pid is this process
    other = make_run(tmp_path, "byol", 10, state="finished")

    async def body() -> None:
        async with make_app(tmp_path, run.id).run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            screen = pilot.app.screen
            assert isinstance(screen, DashboardScreen)
            screen._system_tick()
            assert "s" in offered(pilot) and not {"R", "e", "c"} & offered(pilot)
            assert screen.query_one(SystemLine).display and "live" in shown(pilot, "#sim")
            status = run.status()
            write_status(run.path, Status(**{**status.to_dict(), "state": "finished", "ended_at": time.time()}))
            await until(pilot, lambda: "finished" in shown(pilot, "#header"), "finished")
            assert "s" not in offered(pilot) and {"e", "c"} <= offered(pilot) and "R" not in offered(pilot)
            assert not screen.query_one(SystemLine).display  # the worker's CPU line is gone
            assert "live" not in shown(pilot, "#sim") and "last" in shown(pilot, "#sim")
            await pilot.press("c")
            assert isinstance(pilot.app.screen, ChooseScreen) and pilot.app.screen.names == [other.id]

    asyncio.run(body())


def test_a_stopped_run_says_so_and_offers_resume(tmp_path: Path) -> None:
    run = make_run(tmp_path, "simclr", 10, state="stopped")

    async def body() -> None:
        async with make_app(tmp_path, run.id).run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            assert "stopped  on request" in shown(pilot, "#header")
            assert {"R", "e", "c"} <= offered(pilot) and "s" not in offered(pilot)
            assert not pilot.app.screen.query_one(SystemLine).display
            await pilot.press("question_mark")  # the help is made from the bindings that apply
            help_keys = dict(pilot.app.screen.keys)  # type: ignore[attr-defined]
            assert help_keys["R"] == "resume the run from its last checkpoint" and "s" not in help_keys
            assert help_keys["z"].startswith("similarity colours") and help_keys["q"] == "quit"

    asyncio.run(body())


def test_help_lists_every_binding_that_has_words(tmp_path: Path) -> None:
    async def body() -> None:
        async with make_app(tmp_path).run_test(size=(80, 24)) as pilot:
            screen = pilot.app.screen
            assert isinstance(screen, RunsScreen)
            rows = keys_help(screen)
            described = [b for b in RunsScreen.BINDINGS if getattr(b, "tooltip", "")]
            assert len(rows) == len(described) and ("1-9", "sort by that column (again: reverse)") in rows
            assert ("R", "resume a stopped, failed, diverged or lost run") in rows

    asyncio.run(body())


def test_e_evaluates_in_the_background_once_and_says_how_it_ended(tmp_path: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import subprocess
    import sys

    from sslterm.tui.screens import dashboard

    run = make_run(tmp_path, "simclr", 10, state="finished")
    (run.checkpoint_dir / "last.pt").write_bytes(b"checkpoint")
    gate = tmp_path / "go"
    script = ("import pathlib, sys, time\n"
              f"while not pathlib.Path({str(gate)!r}).exists(): time.sleep(0.01)\n"
              "print('ValueError: the dataset has no labels'); sys.exit(1)")

    def fake(r: object, root: Path) -> subprocess.Popen[bytes]:  # a stand-in for `sslterm eval` that fails
        with open(run.path / "eval.log", "ab") as log:
            return subprocess.Popen([sys.executable, "-c", script], stdout=log, stderr=subprocess.STDOUT)

    monkeypatch.setattr(dashboard, "evaluate_detached", fake)

    async def body() -> None:
        app = make_app(tmp_path, run.id)
        async with app.run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            await pilot.press("e", "e")
            messages = [n.message for n in app._notifications]
            assert any("in the background" in m for m in messages) and any("already" in m for m in messages)
            gate.touch()
            await until(pilot, lambda: any("failed: ValueError: the dataset has no labels" in n.message
                                           for n in app._notifications), "told the evaluation failed")

    asyncio.run(body())


def test_a_status_warning_shows_in_the_header_and_the_runs_list(tmp_path: Path) -> None:
    """status.warning (set by the worker at start: not a failure, likely unintended) was shown nowhere."""
    run = make_run(tmp_path, "simclr", 10)
    warning = "batch_size 128 is larger than the training split (100 examples)"
    write_status(run.path, Status(**{**run.status().to_dict(), "warning": warning}))

    async def body() -> None:
        async with make_app(tmp_path, run.id).run_test(size=(120, 24)) as pilot:
            await settle(pilot)
            assert f"⚠ {warning}" in shown(pilot, "#header")
        async with make_app(tmp_path).run_test(size=(80, 24)) as pilot:
            await settle(pilot)
            table = pilot.app.screen.query_one(DataTable)
            assert "running ⚠" in str(table.get_row_at(0)[1])
            await pilot.press("question_mark")
            assert "⚠" in dict(pilot.app.screen.keys)  # type: ignore[attr-defined]

    asyncio.run(body())
