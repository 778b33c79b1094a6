"""SVG snapshots of every screen at 80×24 and 120×40, on frozen runs (update with --snapshot-update)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest
from textual.pilot import Pilot

from sslterm.tui.app import make_app
from tests.frozen_runs import frozen_runs

SIZES = [(80, 24), (120, 40)]
Steps = Callable[[Pilot[None]], Awaitable[None]]


@pytest.fixture
def runs_ids(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Two frozen runs under ``runs/`` in the working directory (the app shows the root as given)."""
    monkeypatch.chdir(tmp_path)
    for name in ("SSH_CONNECTION", "NO_COLOR", "SSLTERM_THEME"):
        monkeypatch.delenv(name, raising=False)
    return frozen_runs(tmp_path / "runs")


async def settle(pilot: Pilot[None]) -> None:
    """Let the screen's readers finish and their results reach the widgets."""
    for _ in range(2):
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()


def keys(*pressed: str) -> Steps:
    """Settle, press these keys, settle again."""

    async def steps(pilot: Pilot[None]) -> None:
        await settle(pilot)
        await pilot.press(*pressed)
        await settle(pilot)

    return steps


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_runs_screen(snap_compare: Any, runs_ids: list[str], size: tuple[int, int]) -> None:
    assert snap_compare(make_app(Path("runs")), terminal_size=size, run_before=keys())


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_dashboard(snap_compare: Any, runs_ids: list[str], size: tuple[int, int]) -> None:
    assert snap_compare(make_app(Path("runs"), runs_ids[1]), terminal_size=size, run_before=keys())


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_compare_screen(snap_compare: Any, runs_ids: list[str], size: tuple[int, int]) -> None:
    assert snap_compare(make_app(Path("runs")), terminal_size=size, run_before=keys("space", "space", "c"))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_help_screen(snap_compare: Any, runs_ids: list[str], size: tuple[int, int]) -> None:
    assert snap_compare(make_app(Path("runs"), runs_ids[1]), terminal_size=size, run_before=keys("question_mark"))


def test_dashboard_in_mono(snap_compare: Any, runs_ids: list[str]) -> None:
    """No colour: grey only, the similarity matrix in shades, the two curves told apart by their markers."""
    app = make_app(Path("runs"), runs_ids[1], theme="mono")
    assert snap_compare(app, terminal_size=(80, 24), run_before=keys("m", "down", "space", "enter"))
