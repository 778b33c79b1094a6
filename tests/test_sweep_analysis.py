"""Sensitivity: the final metric against a swept key, mean ± std per value against a hand computation, and
`sslterm sweep show SWEEP --plot KEY` drawing it."""

from __future__ import annotations

import json
import statistics
from pathlib import Path

import pytest
from conftest import TINY, sslterm

from sslterm import config
from sslterm.launch import prepare
from sslterm.store import Status, write_status
from sslterm.store.states import State
from sslterm.sweep import control
from sslterm.sweep.analysis import sensitivity, sweep_sensitivity
from sslterm.sweep.spec import build_all, expand, make_spec


def test_mean_and_std_per_value_against_a_hand_computation() -> None:
    rows = [({"objective.temperature": t, "train.lr": 1e-3}, {"knn_acc": acc, "loss": 1 - acc})
            for t, acc in ((0.5, 0.4), (0.1, 0.7), (0.5, 0.5), (0.1, 0.9), (0.2, 0.6))]
    rows.append(({"objective.temperature": 0.2}, {"loss": 0.3}))            # finished without knn_acc
    s = sensitivity(rows, "objective.temperature", "knn_acc", ids=[f"t{i}" for i in range(6)])
    assert [p.value for p in s.points] == [0.1, 0.2, 0.5]                  # numbers ascending
    assert s.points[0].mean == pytest.approx(0.8) and s.points[0].std == pytest.approx(statistics.stdev([0.7, 0.9]))
    assert s.points[1].std is None and s.points[1].n == 1 and s.points[2].trials == ("t0", "t2")
    assert s.best() is s.points[0] and s.spread() == pytest.approx(0.35) and s.missing == 1
    assert s.numeric and not s.log and s.maximize
    loss = sensitivity(rows, "objective.temperature", "loss")
    assert not loss.maximize and loss.best() is not None and loss.best().value == 0.1
    wide = sensitivity([({"train.lr": v}, {"loss": 1.0}) for v in (1e-4, 1e-3, 1e-2)], "train.lr", "loss")
    assert wide.log
    named = sensitivity([({"objective.name": n}, {"loss": v}) for n, v in (("vicreg", 1.0), ("infonce", 2.0))],
                        "objective.name", "loss")
    assert not named.numeric and [p.value for p in named.points] == ["vicreg", "infonce"]   # as they came


def test_sweep_show_plot_draws_the_metric_against_a_key(runs: Path) -> None:
    raw = config.overridden({}, list(TINY))
    spec = make_spec(["objective.temperature=0.1,0.2"], [], 0, 2)
    trials = expand(spec)
    sweep = control.create(runs, "sens-ab12", "test", raw, spec, trials, build_all(raw, trials, "test", "sens-ab12"))
    accs = {"t001": 0.5, "t002": 0.7, "t003": 0.2, "t004": 0.3}
    with sweep.edit() as data:
        for t in data["trials"]:
            run = prepare(config.load(sweep.trial_config(t["id"])), runs)
            (run.path / "metrics.jsonl").write_text(json.dumps({"step": 6, "knn_acc": accs[t["id"]]}) + "\n")
            write_status(run.path, Status(id=run.id, state=State.FINISHED, step=6, total_steps=6))
            t.update(state="done", run_id=run.id)
    s = sweep_sensitivity(sweep, "objective.temperature")
    assert s.metric == "knn_acc" and [p.mean for p in s.points] == pytest.approx([0.6, 0.25])
    proc = sslterm("sweep", "show", sweep.id, "--plot", "objective.temperature", runs=runs)
    assert proc.returncode == 0, proc.stderr
    assert "knn_acc against objective.temperature" in proc.stdout and "●" in proc.stdout
    assert "* 0.1                      2  0.6 ± 0.14" in proc.stdout, proc.stdout
    bad = sslterm("sweep", "show", sweep.id, "--plot", "train.lr", runs=runs)
    assert bad.returncode == 2 and "its swept keys: objective.temperature" in bad.stderr
