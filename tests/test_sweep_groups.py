"""compare --group-by: the seeds of each setting as mean ± std, against a hand computation; the best and the note."""

from __future__ import annotations

import json
from pathlib import Path

from conftest import prepare_run, sslterm

from sslterm.store import read_status, write_status
from sslterm.store.states import State


def _run(runs: Path, temperature: float, seed: int, probe: float, loss: float) -> str:
    path = prepare_run(runs, f"objective.temperature={temperature}", f"seed={seed}")
    (path / "metrics.jsonl").write_text(json.dumps({"step": 6, "loss": loss, "probe_acc": probe}) + "\n")
    write_status(path, read_status(path).evolve(state=State.FINISHED, step=6))
    return path.name


def _grouped(runs: Path, *extra: str) -> dict:
    proc = sslterm("compare", "--group-by", "objective.temperature", *extra, "--json", runs=runs)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_mean_and_std_of_each_setting_match_a_hand_computation(runs: Path) -> None:
    ids = [_run(runs, 0.1, 0, 0.5, 2.0), _run(runs, 0.1, 1, 0.7, 3.0),
           _run(runs, 0.2, 0, 0.8, 1.0), _run(runs, 0.2, 1, 0.9, 1.5), _run(runs, 0.2, 2, 1.0, 2.0)]
    data = _grouped(runs, *ids)
    a, b = data["groups"]
    assert a["setting"] == {"objective.temperature": 0.1} and a["n"] == 2
    # by hand: mean (0.5 + 0.7) / 2 = 0.6; sample std sqrt(((0.1)² + (0.1)²) / 1) = 0.141421
    assert abs(a["metrics"]["probe_acc"]["mean"] - 0.6) < 1e-12
    assert abs(a["metrics"]["probe_acc"]["std"] - 0.1414213562) < 1e-9
    # 0.8, 0.9, 1.0: mean 0.9, std sqrt((0.01 + 0 + 0.01) / 2) = 0.1; loss 1, 1.5, 2: mean 1.5, std 0.5
    assert abs(b["metrics"]["probe_acc"]["mean"] - 0.9) < 1e-12 and abs(b["metrics"]["probe_acc"]["std"] - 0.1) < 1e-12
    assert abs(b["metrics"]["loss"]["mean"] - 1.5) < 1e-12 and abs(b["metrics"]["loss"]["std"] - 0.5) < 1e-12
    assert data["metric"] == "probe_acc" and data["direction"] == "maximize"
    assert [g["best"] for g in data["groups"]] == [False, True]
    assert "ahead of" in data["note"]                          # gap 0.3 > 0.141 + 0.1
    by_loss = _grouped(runs, "--metric", "loss", *ids)            # lower is better; gap 1.0 ≤ 0.707 + 0.5
    assert [g["best"] for g in by_loss["groups"]] == [False, True]
    assert by_loss["direction"] == "minimize" and "do not tell them apart" in by_loss["note"]


def test_the_table_marks_the_best_and_says_when_seeds_overlap(runs: Path) -> None:
    ids = [_run(runs, 0.1, 0, 0.5, 2.0), _run(runs, 0.1, 1, 0.7, 2.0), _run(runs, 0.2, 0, 0.6, 2.0),
           _run(runs, 0.2, 1, 0.75, 2.0)]
    proc = sslterm("compare", "--group-by", "objective.temperature", *ids, runs=runs)
    assert proc.returncode == 0, proc.stderr
    head = proc.stdout.splitlines()[0]
    assert "* objective.temperature=0.2" in head and "* objective.temperature=0.1" not in head
    assert "0.675 ± 0.11" in proc.stdout and "do not tell them apart" in " ".join(proc.stdout.split())


def test_an_unknown_key_or_metric_is_one_line(runs: Path) -> None:
    ids = [_run(runs, 0.1, 0, 0.5, 2.0), _run(runs, 0.2, 0, 0.6, 2.0)]
    proc = sslterm("compare", "--group-by", "objective.temprature", *ids, runs=runs)
    assert proc.returncode == 2 and "objective.temprature" in proc.stderr and proc.stderr.count("\n") == 1
    proc = sslterm("compare", "--group-by", "objective.temperature", "--metric", "nope", *ids, runs=runs)
    assert proc.returncode == 2 and "--metric" in proc.stderr and proc.stderr.count("\n") == 1
