"""How the app suits the terminal: colour system, 256 colours, the mono theme, and redraws bounded in rate."""

from __future__ import annotations

import asyncio
import os
import time
from array import array
from pathlib import Path

import pytest
from rich.color import Color, ColorSystem
from textual.filter import Monochrome
from typer.testing import CliRunner

from sslterm.cli import app as cli
from sslterm.store import JsonlWriter, Status, create_run, write_status
from sslterm.tui.app import make_app
from sslterm.tui.pace import LOCAL, REMOTE, pace
from sslterm.tui.poller import Snapshot
from sslterm.tui.screens.dashboard import DashboardScreen
from sslterm.tui.series import PALETTE, assign_markers
from sslterm.tui.terminal import color_system, resolve_theme, terminal_environment
from sslterm.tui.widgets.loss_chart import LossChart
from sslterm.tui.widgets.similarity import HALF, LEVELS, SHADES, SimilarityView, level_color, shaded_text
from tests.frozen_runs import frozen_runs


@pytest.mark.parametrize(("env", "expected"), [
    ({"TERM": "xterm-256color", "COLORTERM": "truecolor"}, "truecolor"),
    ({"TERM": "xterm"}, "256"),  # SSH did not forward COLORTERM: Rich alone would pick 16 colours
    ({"TERM": "screen"}, "256"),  # tmux's and screen's default
    ({"TERM": "tmux-256color"}, "256"),
    ({"TERM": "linux"}, "standard"),
    ({"TERM": "xterm", "TEXTUAL_COLOR_SYSTEM": "truecolor"}, None),  # the user's (or textual-serve's) choice
    ({"TERM": "dumb"}, None),
    ({}, None),
])
def test_colour_system_is_256_unless_the_terminal_says_more_or_less(env: dict[str, str], expected: str | None) -> None:
    assert color_system(env) == expected


def test_theme_from_flag_then_variable_then_no_color() -> None:
    assert resolve_theme(None, {}) == "dark"
    assert resolve_theme(None, {"NO_COLOR": "1"}) == "mono"
    assert resolve_theme(None, {"NO_COLOR": "1", "SSLTERM_THEME": "dark"}) == "dark"
    assert resolve_theme("mono", {"SSLTERM_THEME": "dark"}) == "mono"
    with pytest.raises(ValueError, match="SSLTERM_THEME: got 'neon', expected dark or mono"):
        resolve_theme(None, {"SSLTERM_THEME": "neon"})
    assert terminal_environment("mono", {"TERM": "xterm"}) == {"SSLTERM_THEME": "mono", "TEXTUAL_COLOR_SYSTEM": "256"}
    over_ssh = {"TERM": "xterm", "COLORTERM": "truecolor", "SSH_CONNECTION": "10.0.0.2 5122 10.0.0.1 22"}
    assert terminal_environment(None, over_ssh) == {"TEXTUAL_COLOR_SYSTEM": "truecolor", "TEXTUAL_FPS": "20"}


def test_a_bad_theme_is_one_line_and_exit_2(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(os, "environ", dict(os.environ))  # the command line sets the theme there
    result = CliRunner().invoke(cli, ["--theme", "neon", "ls", "--runs-dir", str(tmp_path)])
    assert result.exit_code == 2
    assert result.output.strip() == "sslterm: error: --theme: got 'neon', expected dark or mono"


def test_colours_stay_apart_in_256_colours() -> None:
    def eight_bit(rgb: tuple[int, int, int]) -> int | None:
        return Color.from_rgb(*rgb).downgrade(ColorSystem.EIGHT_BIT).number

    assert len({eight_bit(rgb) for rgb in PALETTE}) == len(PALETTE)  # every curve and run its own colour
    scale = [level_color(round(k * (LEVELS - 1) / 7)).downgrade(ColorSystem.EIGHT_BIT).number for k in range(8)]
    assert len(set(scale)) == 8  # the heat map's legend: eight steps from -1 to 1, all told apart


def test_mono_heat_map_is_in_shades_two_characters_per_column() -> None:
    n = 4
    values = [1.0 if i == j else -1.0 for i in range(n) for j in range(n)]
    values[1] = float("nan")
    text = shaded_text(Snapshot(step=1, n=n, values=array("f", values)), max_cols=8, max_lines=4)
    assert text.plain.split("\n") == ["██··    ", "  ██    ", "    ██  ", "      ██"] and not text.spans


def test_mono_dashboard_draws_shapes_for_colours(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NO_COLOR", raising=False)
    ids = frozen_runs(tmp_path)

    async def body() -> None:
        app = make_app(tmp_path, ids[0], theme="mono")
        async with app.run_test(size=(80, 24)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert app.no_color and any(isinstance(f, Monochrome) for f in app.get_line_filters())
            sim = app.screen.query_one(SimilarityView).text().plain
            assert HALF not in sim and set(SHADES[1:]) & set(sim) and f"[{SHADES}]" in sim
            app.screen.metrics_shown = ("loss", "lr")
            await pilot.pause()
            chart = app.screen.query_one(LossChart)
            assert [c.marker for c in chart.curves] == ["braille", "+"]
            assert "⣿ loss" in chart.title().plain and "+ lr" in chart.title().plain

    asyncio.run(body())
    assert assign_markers(["b", "a", "b"]) == {"b": "braille", "a": "+"}


def test_no_color_in_the_environment_means_mono(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NO_COLOR", "1")
    monkeypatch.delenv("SSLTERM_THEME", raising=False)
    ids = frozen_runs(tmp_path)

    async def body() -> None:
        app = make_app(tmp_path, ids[0])
        async with app.run_test(size=(80, 24)) as pilot:
            await app.workers.wait_for_complete()
            await pilot.pause()
            assert HALF not in app.screen.query_one(SimilarityView).text().plain

    asyncio.run(body())


def test_pace_is_slower_over_ssh() -> None:
    assert pace({}) is LOCAL and pace({"SSH_CONNECTION": "10.0.0.2 5122 10.0.0.1 22"}) is REMOTE
    assert all(getattr(REMOTE, f) > getattr(LOCAL, f) for f in ("poll", "idle_poll", "chart", "system", "scan"))


SECONDS = 3.0


def test_a_live_chart_redraws_at_a_bounded_rate(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("SSH_CONNECTION", raising=False)
    run = create_run(tmp_path, "live")
    (run.path / "config.toml").write_text('name = "live"\n')
    write_status(run.path, Status(id=run.id, state="running", pid=os.getpid(), started_at=time.time(),
                                  total_steps=10_000))
    metrics = JsonlWriter(run.metrics_path)

    async def body() -> tuple[int, int]:
        async with make_app(tmp_path, run.id).run_test(size=(80, 24)) as pilot:
            screen = pilot.app.screen
            assert isinstance(screen, DashboardScreen)
            chart = screen.query_one(LossChart)
            await pilot.pause(0.3)
            start, step = chart.version, 0
            end = time.monotonic() + SECONDS
            while time.monotonic() < end:  # a record every 50 ms: every poll finds new points
                step += 10
                metrics.write({"step": step, "t": step / 100, "time": time.time(), "loss": 1 / step})
                await pilot.pause(0.05)
            await pilot.app.workers.wait_for_complete()
            return chart.version - start, len(screen.series.steps)

    redraws, points = asyncio.run(body())
    metrics.close()
    assert points > 30  # the data arrived, over about SECONDS / LOCAL.poll = 6 polls
    assert 1 <= redraws <= SECONDS / LOCAL.chart + 1  # but the chart was drawn about once a second
