"""Search that learns: Optuna asks and is told through the scheduler, refused settings and runs without the metric
fail, median pruning stops a trailing run, and kill -9 then resume keeps the study and starts no trial twice."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from conftest import TINY, kill_scheduler_then_resume, sslterm

from sslterm import config
from sslterm.store import Status, list_runs, write_status
from sslterm.store.states import State
from sslterm.sweep import control
from sslterm.sweep import store as ss
from sslterm.sweep.scheduler import Scheduler
from sslterm.sweep.search import online, startup_trials, warmup
from sslterm.sweep.spec import SweepError, build_all, expand, make_spec

optuna = pytest.importorskip("optuna")


def _sweep(runs: Path, rand: list[str], trials: int, **options: Any) -> ss.Sweep:
    raw = config.overridden({}, list(TINY))
    spec = make_spec([], rand, trials, 1, search="optuna", metric="knn_acc", **options)
    planned = expand(spec)
    return control.create(runs, "opt-ab12", "test", raw, spec, planned, build_all(raw, planned, "test", "opt-ab12"),
                          parallel=1)


class FakeLaunch:
    """Stands for sslterm.launch.launch: creates the run (prepared: 'running' to the scheduler), starts nothing."""

    def __init__(self) -> None:
        self.started: list[str] = []

    def __call__(self, exp: config.Experiment, root: Path, source: str = "") -> tuple[Any, Any]:
        from sslterm.launch import prepare

        self.started.append(exp.name)
        return prepare(exp, root), None


def _log(runs: Path, run_id: str, points: list[tuple[int, float]], end: State | None = State.FINISHED) -> None:
    """Append metrics records with knn_acc at ``points`` to the run's log; then end the run as ``end``."""
    path = runs / run_id
    with open(path / "metrics.jsonl", "a", encoding="utf-8") as f:
        for step, value in points:
            f.write(json.dumps({"step": step, "loss": 1.0 - value, "knn_acc": value}) + "\n")
    if end is not None:
        write_status(path, Status(id=run_id, state=end, total_steps=6, step=points[-1][0] if points else 0))


def _trial(sweep: ss.Sweep, i: int) -> dict[str, Any]:
    return sweep.trials()["trials"][i]


def _study(sweep: ss.Sweep) -> Any:
    from optuna.storages import JournalStorage
    from optuna.storages.journal import JournalFileBackend

    return optuna.load_study(study_name="sweep", storage=JournalStorage(JournalFileBackend(
        str(sweep.path / "optuna.journal"))))


def test_search_rules_and_helpers() -> None:
    for args, word in ((dict(metric=""), "--metric"), (dict(metric="eval.knn"), "--metric"),
                       (dict(metric="knn_acc", direction="up"), "--direction")):
        with pytest.raises(SweepError, match=word):
            make_spec([], ["train.lr=loguniform:1e-4:1e-2"], 4, 1, search="optuna", **args)
    with pytest.raises(SweepError, match="--seeds"):
        make_spec([], ["train.lr=loguniform:1e-4:1e-2"], 4, 2, search="optuna", metric="knn_acc")
    with pytest.raises(SweepError, match="space"):
        make_spec([], [], 4, 1, search="optuna", metric="knn_acc")
    spec = make_spec(["model.width=4,8"], ["train.lr=loguniform:1e-4:1e-2"], 4, 1, search="optuna", metric="loss")
    assert spec.direction == "minimize" and expand(spec)[3].id == "t004" and expand(spec)[0].settings == {}
    assert type(spec).from_dict(spec.to_dict()) == spec
    assert online([{"step": 2, "knn_acc": 0.5}, {"step": 3, "loss": 1.0}, {"step": 4, "knn_acc": float("nan")}],
                  "knn_acc") == [(2, 0.5)]
    assert warmup(spec, 100) == 25 and startup_trials(20) == 6 and startup_trials(3) == 2


def test_a_setting_the_catalog_refuses_is_told_failed_and_the_next_is_asked(
        runs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeLaunch()
    monkeypatch.setattr("sslterm.launch.launch", fake)
    sweep = _sweep(runs, ["objective.temperature=uniform:-1:-0.5"], 2, prune=False)   # (not checked up front here)
    assert Scheduler(sweep).tick()                  # both refused in one pass; nothing left to do
    for t in sweep.trials()["trials"]:
        assert t["state"] == "failed" and t["error"].startswith(f"refused: trial {t['id']} (objective.temperature=-")
    assert fake.started == [] and [f.state.name for f in _study(sweep).trials] == ["FAIL", "FAIL"]


def test_optuna_asks_as_a_slot_frees_and_is_told_each_end(runs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeLaunch()
    monkeypatch.setattr("sslterm.launch.launch", fake)
    sweep = _sweep(runs, ["train.lr=loguniform:1e-4:1e-2", "model.width=int:4:8"], 2, prune=False)
    s = Scheduler(sweep)
    s.tick()
    t = _trial(sweep, 0)
    assert [_trial(sweep, i)["state"] for i in range(2)] == ["running", "queued"]   # one slot
    assert 1e-4 <= t["settings"]["train.lr"] <= 1e-2 and 4 <= t["settings"]["model.width"] <= 8
    assert f"lr = {t['settings']['train.lr']!r}" in sweep.trial_config(t["id"]).read_text()
    _log(runs, t["run_id"], [(2, 0.25), (4, 0.5)])
    s.tick()
    assert _trial(sweep, 0)["state"] == "done" and _trial(sweep, 0)["value"] == 0.5
    assert _trial(sweep, 1)["state"] == "running"    # asked for as the slot freed
    _log(runs, _trial(sweep, 1)["run_id"], [], end=State.FINISHED)     # a run that logged no knn_acc
    assert s.tick()
    assert _trial(sweep, 1)["state"] == "failed" and "logged no knn_acc" in _trial(sweep, 1)["error"]
    study = _study(sweep).trials
    assert [f.state.name for f in study] == ["COMPLETE", "FAIL"]
    assert study[0].value == 0.5 and study[0].intermediate_values == {2: 0.25, 4: 0.5}
    assert study[0].params == t["settings"] and len(fake.started) == 2


def test_a_trial_below_the_median_at_a_step_is_pruned_through_stop(runs: Path,
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sslterm.launch.launch", FakeLaunch())
    stopped: list[str] = []

    def stop(run: Any) -> int:
        stopped.append(run.id)
        write_status(run.path, Status(id=run.id, state=State.STOPPED, step=2, total_steps=6))
        return 1

    monkeypatch.setattr("sslterm.lifecycle.stop", stop)
    sweep = _sweep(runs, ["train.lr=loguniform:1e-4:1e-2"], 3, prune_startup=2, prune_warmup=0)
    s = Scheduler(sweep)
    for i in range(2):                              # two earlier trials: 0.5, then 0.6 at step 4
        s.tick()
        _log(runs, _trial(sweep, i)["run_id"], [(2, 0.5), (4, 0.6)])
        s.tick()
    assert [_trial(sweep, i)["state"] for i in range(3)] == ["done", "done", "running"]
    _log(runs, _trial(sweep, 2)["run_id"], [(2, 0.55)], end=None)     # above the median: goes on
    s.tick()
    assert stopped == [] and _trial(sweep, 2)["state"] == "running"
    _log(runs, _trial(sweep, 2)["run_id"], [(4, 0.1)], end=None)      # below it at step 4: stopped
    s.tick()
    assert stopped == [_trial(sweep, 2)["run_id"]] and _trial(sweep, 2)["pruned_at"] == 4
    assert s.tick()                                 # its run stopped: pruned, and the sweep is over
    assert _trial(sweep, 2)["state"] == "pruned" and sweep.trials()["state"] == "done"
    assert [f.state.name for f in _study(sweep).trials] == ["COMPLETE", "COMPLETE", "PRUNED"]
    shown = sslterm("queue", runs=runs)
    assert "t003  pruned" in shown.stdout, shown.stdout


def test_an_optuna_trial_asked_for_by_a_killed_scheduler_is_told_failed(runs: Path,
                                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeLaunch()
    monkeypatch.setattr("sslterm.launch.launch", fake)
    sweep = _sweep(runs, ["train.lr=loguniform:1e-4:1e-2"], 2, prune=False)
    Scheduler(sweep).search.study.ask()             # type: ignore[union-attr]   # asked, never saved: an orphan
    s = Scheduler(sweep)
    s.tick()
    states = {f.number: f.state.name for f in _study(sweep).trials}
    assert states == {0: "FAIL", 1: "RUNNING"} and _trial(sweep, 0)["optuna"] == 1
    assert len(fake.started) == 1


def test_kill_9_of_an_optuna_scheduler_then_resume_keeps_the_study(tmp_path: Path, runs: Path) -> None:
    exp = tmp_path / "exp.toml"
    exp.write_text('name = "o9"\n', encoding="utf-8")
    sets = [a for kv in (*TINY, "train.steps=4", "eval.every=2") for a in ("--set", kv)]
    proc = sslterm("sweep", str(exp), *sets, "--search", "optuna", "--metric", "knn_acc", "--trials", "2",
                   "--random", "train.lr=loguniform:1e-4:1e-2", "--prune-startup", "3", runs=runs)
    assert proc.returncode == 0, proc.stderr
    sweep = ss.list_sweeps(runs)[0]
    kill_scheduler_then_resume(sweep, runs, lambda: _trial(sweep, 0)["state"] == "running")
    trials = sweep.trials()["trials"]
    assert [t["state"] for t in trials] == ["done"] * 2, json.dumps(trials)
    runs_made = [r.id for r in list_runs(runs)]
    assert len(runs_made) == 2
    for t in trials:                                # one run per trial, none started twice
        assert [r for r in runs_made if f"-{t['name']}-" in r] == [t["run_id"]]
    study = {f.number: f for f in _study(sweep).trials}
    assert sorted(study) == sorted(t["optuna"] for t in trials) == [0, 1]   # the journal kept across the kill
    for t in trials:                                # t001's run adopted (not restarted), its end told once
        status = json.loads((runs / t["run_id"] / "status.json").read_text())
        assert status["state"] == "finished" and status.get("resumes", 0) == 0
        assert study[t["optuna"]].state.name == "COMPLETE" and study[t["optuna"]].value == t["value"]
        assert study[t["optuna"]].params == t["settings"]
