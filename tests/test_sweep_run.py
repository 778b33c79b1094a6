"""Running sweeps: slots respected, a failing trial isolated, a real sweep to the end, kill -9 then resume."""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from conftest import TINY, kill_scheduler_then_resume, sslterm

from sslterm import config
from sslterm.store import Status, list_runs, write_status
from sslterm.store.states import State
from sslterm.sweep import scheduler as sched_mod
from sslterm.sweep import store as ss
from sslterm.sweep.scheduler import Scheduler, slots_for
from sslterm.sweep.spec import build_all, expand, make_spec


def _make_sweep(runs: Path, n: int, parallel: int) -> ss.Sweep:
    raw = config.overridden({}, list(TINY))
    trials = expand(make_spec([f"train.lr={','.join(str(0.001 * (i + 1)) for i in range(n))}"], [], 0, 1))
    exps = build_all(raw, trials, "test", "fake-ab12")
    entries = [{"id": t.id, "name": f"fake-ab12-{t.id}", "settings": t.settings, "seed": t.seed} for t in trials]
    return ss.create_sweep(runs, "fake", {"name": "fake", "base": raw, "parallel": parallel}, entries,
                           {t.id: e.to_toml() for t, e in zip(trials, exps, strict=True)})


class FakeLaunch:
    """Stands for sslterm.launch.launch: creates the run (prepared, which stays 'running' to the scheduler)."""

    def __init__(self, fail_start: str = "") -> None:
        self.started: list[str] = []
        self.fail_start = fail_start

    def __call__(self, exp: config.Experiment, root: Path, source: str = "") -> tuple[Any, Any]:
        from sslterm.launch import prepare

        if exp.name.endswith(self.fail_start) and self.fail_start:
            raise OSError(28, "No space left on device")
        self.started.append(exp.name)
        return prepare(exp, root), _Done()


class _Done:
    def poll(self) -> int:
        return 0


def _end(runs: Path, name: str, state: State, error: str | None = None) -> None:
    run = next(r for r in list_runs(runs) if f"-{name}-" in r.id)
    write_status(run.path, Status(id=run.id, state=state, error=error, total_steps=6))


def _states(sweep: ss.Sweep) -> list[str]:
    return [t["state"] for t in sweep.trials()["trials"]]


def test_slots_default_to_one_per_gpu_and_one_on_a_cpu() -> None:
    assert slots_for(0, []) == [None]
    assert slots_for(0, ["0", "1"]) == ["0", "1"]
    assert slots_for(3, ["4", "5"]) == ["4", "5", "4"]
    assert slots_for(2, []) == [None, None]
    assert sched_mod.gpu_slots({"CUDA_VISIBLE_DEVICES": "2,3"}) == ["2", "3"]
    assert sched_mod.gpu_slots({"CUDA_VISIBLE_DEVICES": ""}) == []


def test_slots_are_respected_and_a_failing_trial_stops_no_other(runs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeLaunch(fail_start="t002")
    monkeypatch.setattr("sslterm.launch.launch", fake)
    sweep = _make_sweep(runs, 5, parallel=2)
    s = Scheduler(sweep)
    assert not s.tick()
    assert _states(sweep) == ["running", "failed", "running", "queued", "queued"]   # t002 could not start
    assert "No space left" in sweep.trials()["trials"][1]["error"]
    _end(runs, "fake-ab12-t001", State.FAILED, "boom")
    assert not s.tick()
    assert _states(sweep) == ["failed", "failed", "running", "running", "queued"]   # two slots, never more
    _end(runs, "fake-ab12-t003", State.FINISHED)
    _end(runs, "fake-ab12-t004", State.FINISHED)
    assert not s.tick()
    _end(runs, "fake-ab12-t005", State.FINISHED)
    assert s.tick()
    assert _states(sweep) == ["failed", "failed", "done", "done", "done"]
    assert sweep.trials()["state"] == "done"
    assert fake.started == ["fake-ab12-t001", "fake-ab12-t003", "fake-ab12-t004", "fake-ab12-t005"]


def test_pause_holds_the_queue_and_top_moves_a_trial_up(runs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeLaunch()
    monkeypatch.setattr("sslterm.launch.launch", fake)
    sweep = _make_sweep(runs, 3, parallel=1)
    assert sslterm("queue", "top", sweep.id, "t003", runs=runs).returncode == 0
    with sweep.edit() as data:
        data["state"] = ss.PAUSED
    assert Scheduler(sweep).tick()                         # paused with nothing running: the scheduler may exit
    assert fake.started == []
    with sweep.edit() as data:
        data["state"] = ss.RUNNING
    Scheduler(sweep).tick()
    assert fake.started == ["fake-ab12-t003"]


def test_a_trial_being_started_when_the_scheduler_died_is_found_not_started_again(
        runs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeLaunch()
    monkeypatch.setattr("sslterm.launch.launch", fake)
    sweep = _make_sweep(runs, 2, parallel=1)
    Scheduler(sweep).tick()
    with sweep.edit() as data:                              # as if killed between launch() and recording its run
        data["trials"][0].update(state=ss.STARTING, run_id=None)
    Scheduler(sweep).tick()
    trial = sweep.trials()["trials"][0]
    assert trial["state"] == "running" and trial["run_id"] is not None
    assert fake.started == ["fake-ab12-t001"]


def test_kill_9_of_the_scheduler_then_resume_runs_every_trial_exactly_once(tmp_path: Path, runs: Path) -> None:
    exp = tmp_path / "exp.toml"
    exp.write_text('name = "k9"\n', encoding="utf-8")
    sets = [a for kv in (*TINY, "train.steps=4", "train.checkpoint_every=2") for a in ("--set", kv)]
    proc = sslterm("sweep", str(exp), *sets, "--grid", "train.lr=0.001,0.002,0.003", runs=runs)
    assert proc.returncode == 0, proc.stderr
    sweep = ss.list_sweeps(runs)[0]

    def t003_still_queued() -> None:
        assert _states(sweep)[2] == "queued"

    kill_scheduler_then_resume(sweep, runs, lambda: _states(sweep)[1] == "running", t003_still_queued)
    trials = sweep.trials()["trials"]
    assert [t["state"] for t in trials] == ["done"] * 3, json.dumps(trials)
    runs_made = [r.id for r in list_runs(runs)]
    for t in trials:                                        # one run per trial, none started twice
        assert [r for r in runs_made if f"-{t['name']}-" in r] == [t["run_id"]]
        status = json.loads((runs / t["run_id"] / "status.json").read_text())
        assert status["state"] == "finished" and status.get("resumes", 0) == 0   # adopted, not restarted
    assert len(runs_made) == 3
    listing = sslterm("queue", runs=runs)
    assert f"{sweep.id}  done  3/3 ended" in listing.stdout
    shown = sslterm("sweep", "show", sweep.id, runs=runs)      # the trials, then the settings compared
    assert shown.returncode == 0, shown.stderr
    assert "* train.lr=" in shown.stdout and "spread is unknown" in " ".join(shown.stdout.split())
    table = sslterm("sweep", "show", sweep.id, "--csv", runs=runs)     # one row per trial, for a spreadsheet
    rows = list(csv.DictReader(io.StringIO(table.stdout)))
    assert [r["trial"] for r in rows] == [t["id"] for t in trials]
    assert [float(r["train.lr"]) for r in rows] == [0.001, 0.002, 0.003] and all(r["loss"] for r in rows)


def test_queue_lists_a_damaged_sweep_in_one_line_and_the_others(runs: Path) -> None:
    good = _make_sweep(runs, 2, parallel=1)
    bad = ss.sweeps_dir(runs) / "zz-damaged"
    bad.mkdir()
    (bad / ss.TRIALS).write_text("{", encoding="utf-8")
    proc = sslterm("queue", runs=runs)
    assert proc.returncode == 0, proc.stderr
    assert f"{good.id}  queued  0/2 ended" in proc.stdout
    assert "zz-damaged  unreadable" in proc.stdout and "cannot read" in proc.stdout
    with good.edit() as data:
        data["state"] = ss.DONE
    done = sslterm("sweep", "resume", good.id, runs=runs)      # a done sweep says so instead of starting anything
    assert done.returncode == 0 and "nothing to resume" in done.stdout and not ss.scheduler_running(good)
    both = sslterm("sweep", "show", good.id, "--csv", "--json", runs=runs)
    assert both.returncode == 2 and "--csv applies to" in both.stderr and len(both.stderr.strip().splitlines()) == 1


def test_each_trial_sees_only_its_own_gpu(runs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: list[str | None] = []
    fake = FakeLaunch()

    def launch(exp: config.Experiment, root: Path, source: str = "") -> tuple[Any, Any]:
        seen.append(os.environ.get("CUDA_VISIBLE_DEVICES"))
        return fake(exp, root, source)

    monkeypatch.setattr("sslterm.launch.launch", launch)
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "3,5")
    sweep = _make_sweep(runs, 3, parallel=0)
    s = Scheduler(sweep)
    s.tick()
    assert seen == ["3", "5"] and os.environ["CUDA_VISIBLE_DEVICES"] == "3,5"   # restored for the scheduler
    _end(runs, "fake-ab12-t002", State.FINISHED)
    s.tick()
    assert seen == ["3", "5", "5"]                              # the slot that freed up: GPU 5


def test_a_lost_run_is_resumed_once_then_its_trial_fails(runs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sslterm.launch.launch", FakeLaunch())
    resumed: list[str] = []

    def resume(run: Any) -> _Done:
        resumed.append(run.id)
        return _Done()

    monkeypatch.setattr("sslterm.lifecycle.resume", resume)
    sweep = _make_sweep(runs, 1, parallel=1)
    s = Scheduler(sweep)
    s.tick()
    run_dir = runs / sweep.trials()["trials"][0]["run_id"]
    (run_dir / "lock").write_text("")                           # a lock nobody holds: the worker is gone
    write_status(run_dir, Status(id=run_dir.name, state=State.RUNNING, pid=2 ** 22 + 7, total_steps=6))
    s.tick()
    assert resumed == [run_dir.name] and _states(sweep) == ["running"]
    s.tick()                                                    # still lost after its resume: failed
    assert resumed == [run_dir.name] and _states(sweep) == ["failed"]
    assert "lost" in sweep.trials()["trials"][0]["error"]


def test_two_schedulers_never_run_one_sweep(runs: Path) -> None:
    import subprocess
    import sys

    sweep = _make_sweep(runs, 1, parallel=1)
    fd = ss.take_scheduler_lock(sweep)
    assert fd is not None and ss.scheduler_running(sweep)
    assert ss.take_scheduler_lock(sweep) is None
    proc = subprocess.run([sys.executable, "-m", "sslterm.sweep.scheduler", str(sweep.path)], capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0 and "another scheduler" in proc.stdout
    assert _states(sweep) == ["queued"]                       # the second one touched nothing
    os.close(fd)
    assert not ss.scheduler_running(sweep)


def test_an_empty_sweep_reference_names_no_sweep(runs: Path) -> None:
    _make_sweep(runs, 1, parallel=1)
    proc = sslterm("sweep", "pause", "", runs=runs)
    assert proc.returncode == 2 and "empty sweep reference" in proc.stderr and proc.stderr.count("\n") == 1


def test_a_scheduler_killed_right_after_starting_a_run_never_starts_it_again(
        runs: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    made: list[str] = []

    def launch_then_die(exp: config.Experiment, root: Path, source: str = "") -> tuple[Any, Any]:
        from sslterm.launch import prepare

        made.append(prepare(exp, root).id)
        raise KeyboardInterrupt                              # stands for kill -9 before the tick saved its list

    monkeypatch.setattr("sslterm.launch.launch", launch_then_die)
    sweep = _make_sweep(runs, 2, parallel=1)
    with pytest.raises(KeyboardInterrupt):
        Scheduler(sweep).tick()
    assert _states(sweep) == ["starting", "queued"]          # saved before its run was made
    fake = FakeLaunch()
    monkeypatch.setattr("sslterm.launch.launch", fake)
    Scheduler(sweep).tick()                                 # the restarted scheduler finds t001's run by name
    assert sweep.trials()["trials"][0]["run_id"] == made[0] and fake.started == []
    assert _states(sweep) == ["running", "queued"]


def test_eval_of_a_sweep_evaluates_each_finished_trial_once_in_turn(runs: Path, monkeypatch: pytest.MonkeyPatch,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    from sslterm.sweep_report import eval_sweep

    monkeypatch.setattr("sslterm.launch.launch", FakeLaunch())
    sweep = _make_sweep(runs, 4, parallel=4)
    s = Scheduler(sweep)
    s.tick()
    for name, state in (("t001", State.FINISHED), ("t002", State.FINISHED), ("t003", State.FINISHED),
                        ("t004", State.FAILED)):
        _end(runs, f"fake-ab12-{name}", state)
    s.tick()
    trials = sweep.trials()["trials"]
    from sslterm.store import Run

    Run(runs / trials[1]["run_id"]).save_evaluation({"knn": {"accuracy": 0.5}})      # t002: evaluated before
    capsys.readouterr()                                                               # (the scheduler's log)
    seen: list[str] = []

    def evaluate(run: Any) -> dict[str, Any]:
        seen.append(run.id)
        if run.id == trials[2]["run_id"]:
            raise RuntimeError("its checkpoint is damaged")
        return {"linear_probe": {"accuracy": 0.25}, "knn": {"accuracy": 0.125}}

    assert eval_sweep(runs, sweep, evaluate, json_=False) == 1       # one failed: said, the others done
    out = capsys.readouterr().out.splitlines()
    assert seen == [trials[0]["run_id"], trials[2]["run_id"]]        # finished, not yet evaluated, in order
    assert out[0] == f"t001 {trials[0]['run_id']}: linear probe 0.250, kNN 0.125"
    assert out[1] == f"t002 {trials[1]['run_id']}: already evaluated"
    assert out[2] == f"t003 {trials[2]['run_id']}: failed: its checkpoint is damaged"
    assert out[3] == f"sweep {sweep.id}: 1 evaluated, 1 already evaluated, 1 failed"
    assert Run(runs / trials[0]["run_id"]).evaluation() is not None
    proc = sslterm("eval", "no-such-thing", runs=runs)
    assert proc.returncode == 2 and "nor does it name a sweep" in proc.stderr and proc.stderr.count("\n") == 1


def test_run_refuses_a_file_that_defines_a_sweep(tmp_path: Path, runs: Path) -> None:
    exp = tmp_path / "exp.toml"
    exp.write_text('name = "x"\n[sweep]\nseeds = 3\n', encoding="utf-8")
    proc = sslterm("run", str(exp), runs=runs)
    assert proc.returncode == 2 and proc.stderr == f"sslterm: error: {exp} defines a sweep: use sslterm sweep {exp}\n"
    assert not runs.exists()
