"""Metrics of different units get panels of their own; values keep enough digits to differ from 0."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from sslterm import tomlio
from sslterm.humanize import fmt_value
from sslterm.store import JsonlWriter, Status, create_run, write_status
from sslterm.tui.app import make_app
from sslterm.tui.screens.dashboard import DashboardScreen
from sslterm.tui.series import PALETTE, group_by_unit, unit_of
from sslterm.tui.widgets.loss_chart import Curve, LossChart
from sslterm.tui.widgets.representation import diagnostics, representation_text


def test_units_and_panels() -> None:
    assert [unit_of(k) for k in ("loss", "held_out_loss", "pos_acc", "knn_acc", "lr", "rankme")] == [
        "loss", "loss", "fraction", "fraction", "lr", "rankme"]
    assert group_by_unit(["loss", "fraction", "loss"], 3) == [[0, 2], [1]]
    assert group_by_unit(["loss", "fraction", "lr"], 2) == [[0], [1, 2]]  # more units than room: the last shares
    assert group_by_unit(["loss", "fraction"], 1) == [[0, 1]]
    assert group_by_unit([None, None], 3) == [[0, 1]]  # no units given (the compare screen): one chart


def test_loss_and_an_accuracy_are_drawn_on_their_own_axes(tmp_path: Path) -> None:
    steps = [float(s) for s in range(10, 510, 10)]
    loss = [5.0 - s / 200 for s in steps]
    acc = [0.049 + s / 10_000 for s in steps]  # 0.050 … 0.099: flat at the bottom of a 0-5 axis
    run = create_run(tmp_path, "simclr")
    (run.path / "config.toml").write_text(tomlio.dumps({"name": "simclr"}))
    write_status(run.path, Status(id=run.id, state="running", pid=os.getpid(), started_at=time.time(),
                                  total_steps=500, step=500))
    metrics = JsonlWriter(run.metrics_path)
    for s, l_, a in zip(steps, loss, acc, strict=True):
        metrics.write({"step": int(s), "t": s / 100, "time": time.time(), "loss": l_, "pos_acc": a})
    metrics.close()

    async def body() -> None:
        async with make_app(tmp_path, run.id).run_test(size=(80, 24)) as pilot:
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
            screen = pilot.app.screen
            assert isinstance(screen, DashboardScreen)
            screen.metrics_shown = ("loss", "pos_acc")
            await pilot.pause()
            chart = screen.query_one(LossChart)
            text = chart.text().plain
            assert text.count("┌") == 2  # two panels, one above the other
            assert "pos_acc 0.099" in text.split("\n")[0]  # the header: not rounded to 0
            upper, lower = text.split("┌")[1:]
            assert "5.0" in upper or "4." in upper
            assert "0.09" in lower and "5.0" not in lower  # the accuracy's own axis

    asyncio.run(body())


def test_one_unit_stays_one_panel() -> None:
    chart = LossChart()
    chart.curves = [Curve("a", "a", PALETTE[0], [1, 2, 3], [3.0, 2.0, 1.0], unit="loss"),
                    Curve("b", "b", PALETTE[1], [1, 2, 3], [2.0, 1.5, 1.0], unit="loss")]
    assert chart._panels(60, 16).plain.count("┌") == 1


def test_stacked_panels_plot_areas_line_up() -> None:
    """y labels of different widths (5.0, 0.100, 2.0e-3) and a metric that starts later no longer shift one
    panel's plot area or steps against another's."""
    steps = [float(s) for s in range(10, 510, 10)]
    chart = LossChart()
    later = steps[20:]  # an accuracy measured from step 210 on: still drawn against the same steps
    chart.curves = [Curve("loss", "loss", PALETTE[0], steps, [5 - s / 200 for s in steps], unit="loss"),
                    Curve("pos_acc", "pos_acc", PALETTE[1], later, [0.05 + s / 10_000 for s in later],
                          unit="fraction"),
                    Curve("lr", "lr", PALETTE[2], steps, [0.002 * (1 - s / 600) for s in steps], unit="lr")]
    text = chart._panels(60, 18).plain
    frame = [line.index(ch) for line in text.splitlines() for ch in "┌└" if ch in line]
    assert len(frame) == 6 and len(set(frame)) == 1, text
    lines = text.splitlines()
    x_labels = {lines[i + 1] for i, line in enumerate(lines) if "└" in line}
    assert len(x_labels) == 1, text  # one x axis for all: the steps line up from panel to panel
    assert max(len(line) for line in text.splitlines()) <= 60


def test_representation_values_keep_three_significant_digits() -> None:
    line = representation_text(diagnostics({"knn_acc": 0.099, "probe_acc": 0.55, "emb_std": 0.000412,
                                               "emb_dim": 128})).plain
    assert "kNN 0.0990" in line and "probe 0.550" in line and "spread 0.000412/0.0884" in line
    assert fmt_value(0.0004) != "0.000"
