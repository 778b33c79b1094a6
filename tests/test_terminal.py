"""How the app suits the terminal: colour system, 256 colours, the mono theme, and redraws bounded in rate."""

from __future__ import annotations

import asyncio
import dataclasses
import os
import time
from array import array
from itertools import pairwise
from pathlib import Path
from types import SimpleNamespace

import pytest
from rich.color import Color, ColorSystem
from textual.filter import Monochrome
from typer.testing import CliRunner

from sslterm.cli import app as cli
from sslterm.store import JsonlWriter, Status, create_run, write_status
from sslterm.tui.app import make_app
from sslterm.tui.pace import LOCAL, REMOTE, pace
from sslterm.tui.poller import Snapshot
from sslterm.tui.screens import dashboard as dashboard_screen
from sslterm.tui.screens.dashboard import DashboardScreen
from sslterm.tui.series import PALETTE, assign_markers
from sslterm.tui.terminal import color_system, resolve_theme, terminal_environment
from sslterm.tui.widgets.loss_chart import LossChart
from sslterm.tui.widgets.similarity import (
    HALF,
    LEVELS,
    SHADES,
    Scale,
    SimilarityView,
    legend_text,
    level_color,
    lightness,
    matrix_text,
    scale_colors,
    shade,
    shaded_text,
)
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
    scale = [level_color(round(k * (LEVELS - 1) / 7), ColorSystem.EIGHT_BIT).number for k in range(8)]
    assert len(set(scale)) == 8  # the heat map's legend: eight steps from -1 to 1, all told apart


@pytest.mark.parametrize(("system", "steps"), [
    (ColorSystem.TRUECOLOR, LEVELS), (ColorSystem.EIGHT_BIT, 8), (ColorSystem.STANDARD, 5),
])
def test_similarity_scale_stays_in_order_and_apart_when_quantised(system: ColorSystem, steps: int) -> None:
    """The scale as the terminal draws it (256: its palette; 16: the usual one): lightness rises along the
    scale, and each of its steps is lighter than the one below by a margin an eye sees (the coolwarm scale
    had a light grey middle that 256 colours flattened: the diagonal at 0.3 looked like the 0.1 around it)."""
    def drawn(color: Color) -> float:
        r, g, b = color.downgrade(system).get_truecolor()  # what the terminal paints (16: a usual palette)
        return lightness((r, g, b))

    shades = [drawn(c) for c in scale_colors(system)]
    assert all(b >= a for a, b in pairwise(shades))  # never darker further up
    distinct = sorted(set(round(v, 3) for v in shades))
    assert len(distinct) == steps
    assert min(b - a for a, b in pairwise(distinct)) >= (0.5 if steps == LEVELS else 4.5)
    assert distinct[-1] - distinct[0] >= 70  # dark to light: the diagonal stands out on either background
    low, high = Scale().level(0.1), Scale().level(0.3)  # a young run's off-diagonal and diagonal
    assert drawn(scale_colors(system)[high]) > drawn(scale_colors(system)[low])


def test_mono_shades_rise_along_the_scale_and_use_every_shade() -> None:
    marks = [SHADES.index(shade(lv)) for lv in range(LEVELS)]
    assert marks == sorted(marks) and set(marks) == set(range(len(SHADES)))


def test_stretched_scale_spans_the_snapshot_and_says_so() -> None:
    n = 4
    values = [0.3 if i == j else 0.1 for i in range(n) for j in range(n)]  # early training: all near 0
    snap = Snapshot(step=1, n=n, values=array("f", values))
    assert Scale().level(0.3) - Scale().level(0.1) == 6  # 6 of 64 levels apart on the full scale
    assert (Scale(0.1, 0.3).level(0.1), Scale(0.1, 0.3).level(0.3)) == (0, LEVELS - 1)  # bottom and top
    for scale, (diagonal, off) in ((None, (41, 35)), (Scale(0.1, 0.3), (LEVELS - 1, 0))):
        first = sorted(matrix_text(snap, 8, 4, scale).spans, key=lambda span: span.start)[:2]  # cells (0,0), (0,1)
        assert [span.style.color for span in first] == [level_color(diagonal), level_color(off)]  # type: ignore[union-attr]
    assert legend_text(1, "live").plain.startswith("-1████████+1")
    assert legend_text(1, "live", scale=Scale(0.1, 0.3)).plain.startswith("0.10██████0.30")


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
            screen = app.screen
            assert isinstance(screen, DashboardScreen)
            screen.metrics_shown = ("loss", "lr")
            await pilot.pause()
            chart = screen.query_one(LossChart)
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


def test_a_live_chart_redraws_once_a_pace_however_many_polls_bring_points(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """Redraws counted per poll on the dashboard's own clock (a fake one): 20 polls 0.25 s apart, each with a
    new point, draw the chart 5 times (LOCAL.chart is 1 s), and every point is read."""
    monkeypatch.delenv("SSH_CONNECTION", raising=False)
    polled_by_the_test = dataclasses.replace(LOCAL, poll=3600.0, system=3600.0)  # no poll of the dashboard's own
    monkeypatch.setattr(dashboard_screen, "pace", lambda: polled_by_the_test)
    clock = [1000.0]
    monkeypatch.setattr(dashboard_screen, "time", SimpleNamespace(monotonic=lambda: clock[0], time=time.time))
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
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
            start = chart.version
            for step in range(1, 21):
                metrics.write({"step": step, "t": step / 100, "time": time.time(), "loss": 1 / step})
                clock[0] += 0.25
                screen._poll()
                await pilot.app.workers.wait_for_complete()
                for _ in range(500):  # the poll's message handled (a deadline of 500 idle turns, not a time)
                    if len(screen.series.steps) == step and not screen._polling:
                        break
                    await pilot.pause()
                assert len(screen.series.steps) == step, f"poll {step} read {len(screen.series.steps)} points"
            return chart.version - start, len(screen.series.steps)

    redraws, points = asyncio.run(body())
    metrics.close()
    assert points == 20
    assert redraws == 5  # at polls 1, 5, 9, 13 and 17: the first that is 0.9 × LOCAL.chart after the last redraw


def test_z_stretches_the_similarity_scale_to_the_snapshot_and_back(tmp_path: Path) -> None:
    from tests.test_tui import make_run

    run = make_run(tmp_path, "simclr", 10)  # an 8 x 8 snapshot: 0.3 on the diagonal, 0.1 off it

    async def body() -> None:
        async with make_app(tmp_path, run.id).run_test(size=(80, 24)) as pilot:
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
            view = pilot.app.screen.query_one(SimilarityView)
            assert view.text().plain.startswith("-1")
            await pilot.press("z")
            assert view.text().plain.startswith("0.10") and "0.30" in view.text().plain.split("\n")[0]
            await pilot.press("z")
            assert view.text().plain.startswith("-1")

    asyncio.run(body())


@pytest.mark.parametrize(("system", "name"), [(ColorSystem.STANDARD, "standard"), (ColorSystem.EIGHT_BIT, "256")])
def test_similarity_view_draws_in_the_terminals_colours(tmp_path: Path, system: ColorSystem, name: str) -> None:
    from tests.test_tui import make_run

    run = make_run(tmp_path, "simclr", 10)

    async def body() -> None:
        async with make_app(tmp_path, run.id).run_test(size=(80, 24)) as pilot:
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
            pilot.app.console._color_system = system  # as TEXTUAL_COLOR_SYSTEM or the terminal would set it
            assert pilot.app.console.color_system == name
            spans = pilot.app.screen.query_one(SimilarityView).text().spans
            colours = {s.style.color for s in spans if not isinstance(s.style, str) and s.style.color is not None}
            assert colours and colours <= set(scale_colors(system)) | {level_color(-1, system)}

    asyncio.run(body())
