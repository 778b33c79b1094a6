"""SLURM dry run: one sbatch script per trial in the sweep directory, checked against a reviewed golden file."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import TINY, sslterm

from sslterm import config
from sslterm.store import list_runs
from sslterm.sweep import store as ss

GOLDEN = Path(__file__).parent / "golden" / "sweep-t001.sbatch"


def _sweep(tmp_path: Path, runs: Path, *options: str) -> ss.Sweep:
    exp = tmp_path / "exp.toml"
    exp.write_text('name = "tiny"\n', encoding="utf-8")
    sets = [a for kv in (*TINY, "train.steps=2") for a in ("--set", kv)]
    proc = sslterm("sweep", str(exp), *sets, "--grid", "train.lr=0.001,0.002", "--seeds", "2", "--slurm",
                   "--dry-run", *options, runs=runs)
    assert proc.returncode == 0, proc.stderr
    return ss.list_sweeps(runs)[0]


def _normalised(sweep: ss.Sweep, runs: Path, text: str) -> str:
    name = sweep.trials()["trials"][0]["name"].rsplit("-", 1)[0]
    return (text.replace(str(sweep.path), "<SWEEP_DIR>").replace(str(runs.resolve()), "<RUNS>")
            .replace(sweep.id, "<SWEEP>").replace(name, "<NAME>"))


def test_dry_run_writes_one_script_per_trial_matching_the_golden_file(tmp_path: Path, runs: Path) -> None:
    sweep = _sweep(tmp_path, runs, "--partition", "gpu", "--time", "1-00:00:00", "--gpus", "2", "--nproc", "2")
    scripts = sorted((sweep.path / "slurm").glob("*.sbatch"))
    assert [p.name for p in scripts] == [f"t00{i}.sbatch" for i in range(1, 5)]
    got = _normalised(sweep, runs, scripts[0].read_text())
    if os.environ.get("SSLTERM_UPDATE_GOLDEN"):
        GOLDEN.write_text(got, encoding="utf-8")
    assert got == GOLDEN.read_text(encoding="utf-8")
    assert not [r for r in runs.iterdir() if r.name != ss.SWEEPS]        # a dry run starts no run


def test_bad_slurm_options_are_refused_before_anything_is_written(tmp_path: Path, runs: Path) -> None:
    exp = tmp_path / "exp.toml"
    exp.write_text('name = "tiny"\n', encoding="utf-8")
    for bad, word in ((("--time", "4h"), "--time"), (("--nproc", "4", "--gpus", "2"), "--nproc 4")):
        proc = sslterm("sweep", str(exp), "--seeds", "2", "--slurm", "--dry-run", *bad, runs=runs)
        assert proc.returncode == 2 and proc.stderr.startswith(f"sslterm: error: {word}"), proc.stderr
    assert not runs.exists()


def test_a_one_process_script_trains_its_trial_when_run_by_hand(tmp_path: Path, runs: Path) -> None:
    sweep = _sweep(tmp_path, runs, "--gpus", "0")
    script = sweep.path / "slurm" / "t002.sbatch"
    env = dict(os.environ, SSLTERM_PYTHON=sys.executable)
    proc = subprocess.run(["bash", str(script)], capture_output=True, text=True, env=env, timeout=180,
                          cwd=Path(__file__).parents[1])
    assert proc.returncode == 0, proc.stderr
    run_dir = Path((sweep.path / "slurm" / "t002.run").read_text().strip())
    status = json.loads((run_dir / "status.json").read_text())
    assert status["state"] == "finished"
    assert sweep.trials()["trials"][1]["name"] in run_dir.name


FAKE = {
    "sbatch": """#!/bin/bash
echo "sbatch $*" >> "$FAKE_SLURM/calls"
if [ -f "$FAKE_SLURM/refuse" ]; then
  echo "sbatch: error: invalid partition specified: $(cat "$FAKE_SLURM/refuse")" >&2; exit 1
fi
n=$(( $(cat "$FAKE_SLURM/next" 2>/dev/null || echo 1000) + 1 )); echo $n > "$FAKE_SLURM/next"; echo "$n;cluster"
""",
    "squeue": """#!/bin/bash
echo "squeue $*" >> "$FAKE_SLURM/calls"
cat "$FAKE_SLURM/squeue" 2>/dev/null || true
""",
    "sacct": """#!/bin/bash
echo "sacct $*" >> "$FAKE_SLURM/calls"
cat "$FAKE_SLURM/sacct" 2>/dev/null || true
""",
    "scancel": """#!/bin/bash
echo "scancel $*" >> "$FAKE_SLURM/calls"
""",
    "scontrol": """#!/bin/bash
echo "scontrol $*" >> "$FAKE_SLURM/calls"
""",
}


def _fake_slurm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """sbatch, squeue, sacct, scancel and scontrol stand-ins first on PATH; they note their arguments in
    ``calls`` and answer from files in the returned directory."""
    state = tmp_path / "slurm-state"
    bindir = state / "bin"
    bindir.mkdir(parents=True)
    for name, text in FAKE.items():
        (bindir / name).write_text(text, encoding="utf-8")
        (bindir / name).chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_SLURM", str(state))
    return state


def _calls(state: Path, cmd: str) -> list[str]:
    return [c for c in (state / "calls").read_text().splitlines() if c.startswith(cmd + " ")]


def _submit(tmp_path: Path, runs: Path, *options: str) -> subprocess.CompletedProcess[str]:
    exp = tmp_path / "exp.toml"
    exp.write_text('name = "tiny"\n', encoding="utf-8")
    sets = [a for kv in (*TINY, "train.steps=2") for a in ("--set", kv)]
    return sslterm("sweep", str(exp), *sets, "--grid", "train.lr=0.001,0.002", "--seeds", "2", "--slurm",
                   "--partition", "gpu", *options, runs=runs)


def _trials(sweep: ss.Sweep) -> list[tuple[str, str | None]]:
    return [(t["state"], t.get("job")) for t in sweep.trials()["trials"]]


def test_slurm_submits_each_trial_follows_its_job_and_run_and_cancels(tmp_path: Path, runs: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    state = _fake_slurm(tmp_path, monkeypatch)
    proc = _submit(tmp_path, runs)
    assert proc.returncode == 0, proc.stderr
    sweep = ss.list_sweeps(runs)[0]
    scripts = sorted((sweep.path / "slurm").glob("*.sbatch"))
    assert _calls(state, "sbatch") == [f"sbatch --parsable {p}" for p in scripts]            # kept, then submitted
    assert _trials(sweep) == [("queued", "1001"), ("queued", "1002"), ("queued", "1003"), ("queued", "1004")]
    assert "t004: SLURM job 1004" in proc.stdout and not ss.scheduler_running(sweep)
    assert not (sweep.path / ss.SCHEDULER_LOG).exists()                                    # SLURM is the queue

    # 1001 ran its script: its run (in the shared runs root) finished; 1002 runs; 1003 ended at its time limit
    # before its run was made; 1004 waits.
    from sslterm.launch import prepare
    from sslterm.store import Status, write_status
    from sslterm.store.states import State

    run = prepare(config.load(sweep.trial_config("t001")), runs)
    (sweep.path / "slurm" / "t001.run").write_text(f"{run.path}\n")
    (run.path / "metrics.jsonl").write_text('{"step": 2, "loss": 2.5}\n')
    write_status(run.path, Status(id=run.id, state=State.FINISHED, step=2, total_steps=2))
    (state / "squeue").write_text("1002 RUNNING\n1004 PENDING\n")
    (state / "sacct").write_text("1001|COMPLETED\n1003|TIMEOUT\n")
    shown = sslterm("queue", runs=runs)
    assert shown.returncode == 0, shown.stderr
    assert _trials(sweep) == [("done", "1001"), ("running", "1002"), ("failed", "1003"), ("queued", "1004")]
    assert sweep.trials()["trials"][0]["run_id"] == run.id and sweep.trials()["trials"][0]["metric"]["loss"] == 2.5
    assert "SLURM job 1003 TIMEOUT before its run was made" in shown.stdout
    assert "(SLURM jobs)" in shown.stdout and "job 1004" in shown.stdout
    assert _calls(state, "squeue")[-1] == "squeue -h -j 1002,1003,1004 -o %i %T"
    assert _calls(state, "sacct")[-1] == "sacct -n -P -X -j 1003 -o JobID,State"           # only what squeue lacks

    paused = sslterm("sweep", "pause", sweep.id, runs=runs)
    assert paused.returncode == 0 and _calls(state, "scontrol") == ["scontrol hold 1004"], paused.stderr
    top = sslterm("queue", "top", sweep.id, "t004", runs=runs)
    assert top.returncode == 1 and "scontrol top" in top.stderr
    cancelled = sslterm("sweep", "cancel", sweep.id, runs=runs)
    assert cancelled.returncode == 0, cancelled.stderr
    assert _calls(state, "scancel") == ["scancel 1004", "scancel --signal=TERM --full 1002"]   # 1002 stops cleanly
    assert _trials(sweep)[3] == ("cancelled", "1004") and sweep.trials()["state"] == "cancelled"
    assert not ss.scheduler_running(sweep) and len(list_runs(runs)) == 1       # nothing was started on this machine


def test_a_refused_submission_fails_its_trial_in_one_line(tmp_path: Path, runs: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    state = _fake_slurm(tmp_path, monkeypatch)
    (state / "refuse").write_text("gpu")
    proc = _submit(tmp_path, runs)
    assert proc.returncode == 1
    sweep = ss.list_sweeps(runs)[0]
    trials = sweep.trials()["trials"]
    assert [t["state"] for t in trials] == ["failed"] * 4
    assert trials[0]["error"] == "not submitted: sbatch: error: invalid partition specified: gpu"
    assert "0 of 4 trial(s) submitted" in proc.stdout


def test_slurm_without_sbatch_is_refused_before_anything_is_made(tmp_path: Path, runs: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(Path(sys.executable).parent))
    proc = _submit(tmp_path, runs)
    assert proc.returncode == 1 and "sbatch is not on PATH" in proc.stderr and proc.stderr.count("\n") == 1
    assert not runs.exists()
