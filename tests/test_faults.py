"""Fault injection: kill -9 at random moments, signals and failing writes in the middle of a write,
corrupted files; every view copes and resume continues with every step logged once."""

from __future__ import annotations

import errno
import json
import os
import random
import signal
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from sslterm.store import Run, read_status, write_status
from sslterm.tui.poller import RunFeed
from sslterm.tui.scanner import RunsScanner
from sslterm.worker import describe_failure
from tests.conftest import ROOT, prepare_run, sslterm, start_faulty_worker, tiny_sets, wait_for

# 12 steps, every one logged, a checkpoint and a snapshot every 3: the 2nd checkpoint is at step 6
EVERY_3 = ("train.steps=12", "train.log_every=1", "train.checkpoint_every=3", "train.snapshot_every=3")


def show(runs: Path, run_id: str) -> dict:
    proc = sslterm("show", run_id, "--json", runs=runs)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("seed", [1, 2])  # the audit runs 15 (docs/reliability.md); two keep the suite short
def test_kill_9_at_a_random_moment_then_resume(runs: Path, seed: int) -> None:
    rng = random.Random(seed)
    sets = tiny_sets("train.steps=1500", "train.log_every=1", "train.checkpoint_every=7", "train.snapshot_every=2")
    run_id = sslterm("run", *sets, "-d", runs=runs).stdout.strip()
    rec = wait_for(lambda: r if (r := show(runs, run_id))["status"] == "running" and r["pid"] is not None else None,
                   timeout=90, what="the worker to record its pid")
    time.sleep(rng.uniform(0.2, 3.0))                         # anywhere: start-up, a step, a checkpoint write
    os.kill(rec["pid"], signal.SIGKILL)
    rec = wait_for(lambda: r if (r := show(runs, run_id))["status"] != "running" else None, what="the kill to be seen")
    assert rec["status"] == "lost", rec                       # 1500 steps take far longer than the test
    for args in (("ls",), ("ls", "--json"), ("export", run_id), ("export", run_id, "--format", "jsonl")):
        proc = sslterm(*args, runs=runs)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr, (args, proc.stderr)
    end = rec["step"] + 20  # trained on a little past the kill, not all 1500 steps (the suite's time)
    resumed = sslterm("resume", run_id, "--steps", str(end), runs=runs, timeout=180)
    if not (runs / run_id / "checkpoints" / "last.pt").exists():
        assert resumed.returncode == 1 and "no checkpoint" in resumed.stderr
        return
    assert resumed.returncode == 0, resumed.stderr
    rec = show(runs, run_id)
    assert rec["status"] == "finished" and rec["step"] == end
    assert json.loads((runs / run_id / "status.json").read_text())["resumes"] == 1
    steps = [json.loads(line)["step"] for line in (runs / run_id / "metrics.jsonl").read_text().splitlines()]
    assert steps == list(range(1, end + 1)), "every step logged exactly once: nothing lost, nothing twice"


def test_corrupted_files_get_clear_messages(runs: Path) -> None:
    assert sslterm("run", *tiny_sets("train.steps=3"), runs=runs).returncode == 0
    run_dir = next(p for p in runs.iterdir() if (p / "status.json").is_file())
    (run_dir / "checkpoints" / "last.pt").write_bytes(b"PK\x03\x04 truncated")
    with open(run_dir / "metrics.jsonl", "ab") as f:
        f.write(b"\x00\x01 garbage\n{\"step\": ")
    assert sslterm("export", run_dir.name, runs=runs).returncode == 0
    proc = sslterm("eval", run_dir.name, runs=runs)
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()[-1]) > 0 and "Traceback" not in proc.stderr
    (run_dir / "status.json").write_text("{ not json")
    proc = sslterm("show", run_dir.name, runs=runs)
    assert proc.returncode == 2 and "unreadable status" in proc.stderr
    listing = sslterm("ls", "--json", runs=runs)
    assert listing.returncode == 0 and json.loads(listing.stdout)[0]["status"] == "unreadable"


def logged_steps(run_dir: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def checkpoint_step(run_dir: Path) -> int:
    from sslterm.train.checkpoint import load_checkpoint

    return int(load_checkpoint(run_dir / "checkpoints" / "last.pt")["step"])


def resume_to_the_end(runs: Path, *run_dirs: Path) -> None:
    """``sslterm resume`` (all at once) finishes every run, each step logged exactly once, no temporary file left."""
    with ThreadPoolExecutor(len(run_dirs)) as pool:
        procs = list(pool.map(lambda d: sslterm("resume", d.name, runs=runs), run_dirs))
    for run_dir, proc in zip(run_dirs, procs, strict=True):
        assert proc.returncode == 0, proc.stderr + (run_dir / "worker.log").read_text()
        rec = show(runs, run_dir.name)
        assert rec["status"] == "finished" and rec["step"] == 12 and rec["error"] is None, rec
        assert logged_steps(run_dir) == list(range(1, 13)), "nothing logged before the checkpoint lost, nothing twice"
        assert [p.name for p in (run_dir / "checkpoints").iterdir()] == ["last.pt"], "no temporary file left"


def test_sigterm_or_kill_9_in_the_middle_of_a_checkpoint_write(runs: Path) -> None:
    stopped, killed = prepare_run(runs, *EVERY_3), prepare_run(runs, *EVERY_3)
    procs = {run_dir: start_faulty_worker(run_dir, "pause-checkpoint", 2) for run_dir in (stopped, killed)}
    for run_dir, proc in procs.items():                                 # the step-6 checkpoint is half written
        wait_for(lambda d=run_dir, p=proc: (d / "fault-point").exists() or p.poll() is not None,  # type: ignore[misc]
                 what=lambda d=run_dir: (d / "worker.log").read_text())  # type: ignore[misc]
        assert proc.poll() is None, (run_dir / "worker.log").read_text()
        tmp = list((run_dir / "checkpoints").glob(".last.pt.tmp-*"))
        assert len(tmp) == 1 and tmp[0].stat().st_size > 0
        assert checkpoint_step(run_dir) == 3, "last.pt is still the previous checkpoint, whole"
    assert sslterm("stop", stopped.name, runs=runs).returncode == 0
    os.kill(procs[killed].pid, signal.SIGKILL)
    assert procs[stopped].wait(60) == 0 and procs[killed].wait(60) == -signal.SIGKILL
    rec = show(runs, stopped.name)
    assert rec["status"] == "stopped" and rec["step"] == 6, rec
    assert checkpoint_step(stopped) == 6, "the write in progress was completed, then the run stopped"
    assert not list((stopped / "checkpoints").glob(".last.pt.tmp-*"))
    assert show(runs, killed.name)["status"] == "lost"
    assert checkpoint_step(killed) == 3, "the torn file is not the latest checkpoint"
    assert len(list((killed / "checkpoints").glob(".last.pt.tmp-*"))) == 1
    resume_to_the_end(runs, stopped, killed)                            # and the torn file is cleared away


# (fault, at which occasion, the file it names, the reason it gives)
FAILING_WRITES = [
    ("enospc-checkpoint", 2, "checkpoints/last.pt", "no space left on device"),
    ("erofs-checkpoint", 2, "checkpoints/last.pt", "read-only file system"),
    ("enospc-metrics", 5, "metrics.jsonl", "no space left on device"),
]


def test_a_failing_write_fails_the_run_clearly_then_resume_continues(runs: Path) -> None:
    started = [(prepare_run(runs, *EVERY_3), case) for case in FAILING_WRITES]
    procs = [start_faulty_worker(run_dir, fault, nth) for run_dir, (fault, nth, _, _) in started]
    for (run_dir, (fault, _, written, reason)), proc in zip(started, procs, strict=True):
        assert proc.wait(60) == 1, fault
        rec = show(runs, run_dir.name)
        assert rec["status"] == "failed" and rec["step"] <= 6, (fault, rec)
        error = rec["error"]
        assert str(run_dir / written) in error and reason in error.lower() and "sslterm resume" in error, error
        assert len(error.splitlines()) == 1
        assert checkpoint_step(run_dir) == 3, (fault, "the previous checkpoint is intact and still the latest")
        assert not list((run_dir / "checkpoints").glob(".last.pt.tmp-*")), (fault, "no half-written checkpoint left")
    resume_to_the_end(runs, *(run_dir for run_dir, _ in started))      # the disk has room again


def test_kill_9_in_the_middle_of_a_record_leaves_a_readable_run(runs: Path) -> None:
    torn_snapshot, torn_status = prepare_run(runs, *EVERY_3), prepare_run(runs, *EVERY_3)
    procs = [start_faulty_worker(torn_snapshot, "kill-snapshot", 3),      # the step-6 snapshot
             start_faulty_worker(torn_status, "kill-final-status", 1)]
    assert [proc.wait(60) for proc in procs] == [-signal.SIGKILL] * 2
    assert not (torn_snapshot / "snapshots.jsonl").read_bytes().endswith(b"\n"), "a record cut in the middle"
    assert len(list(torn_status.glob(".status.json.tmp-*"))) == 1
    for run_dir, step, snapshots in ((torn_snapshot, 6, [0, 3]), (torn_status, 12, [0, 3, 6, 9, 12])):
        rec = show(runs, run_dir.name)
        assert rec["status"] == "lost" and rec["step"] == step, rec
        update = RunFeed(Run(run_dir)).poll()                           # what `sslterm watch` reads
        assert update.status_error is None and update.state == "lost"
        assert [s.step for s in update.snapshots] == snapshots
    for args in (("ls",), ("ls", "--json"), ("show", torn_status.name), ("export", torn_snapshot.name),
                 ("compare", torn_snapshot.name, torn_status.name, "--json")):
        proc = sslterm(*args, runs=runs)
        assert proc.returncode == 0 and "Traceback" not in proc.stderr and proc.stdout, (args, proc.stderr)
    assert [row.state for row in RunsScanner(runs).scan()] == ["lost", "lost"]   # the app's runs list
    resume_to_the_end(runs, torn_snapshot, torn_status)


READ_ONLY_CLI = """
import errno, os, pathlib, sys
def read_only(self, *args, **kwargs):
    raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(self))
def read_only_mkdir(path, *args, **kwargs):
    raise OSError(errno.EROFS, os.strerror(errno.EROFS), str(path))
pathlib.Path.mkdir = read_only                                     # every directory is on a read-only mount
os.mkdir = read_only_mkdir
from sslterm.cli import main
sys.argv[0] = "sslterm"
main()
"""


def test_commands_that_write_say_so_in_one_line_on_a_full_or_read_only_disk(runs: Path) -> None:
    env = dict(os.environ, SSLTERM_RUNS=str(runs))
    proc = subprocess.run([sys.executable, "-c", READ_ONLY_CLI, "run", *tiny_sets()], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=60)
    assert proc.returncode == 2 and proc.stderr.splitlines() == [
        f"sslterm: error: cannot create a run in {runs}/: Read-only file system"], proc.stderr
    run_dir = prepare_run(runs)
    write_status(run_dir, read_status(run_dir).evolve(state="stopped"))
    (run_dir / "checkpoints" / "last.pt").write_bytes(b"a checkpoint")
    (run_dir / "worker.log").symlink_to("/dev/full")                   # the disk is full
    proc = sslterm("resume", run_dir.name, runs=runs)
    assert proc.returncode == 1 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert "cannot resume" in proc.stderr and "No space left on device" in proc.stderr
    assert read_status(run_dir).state == "stopped", "still resumable once there is room"


def test_a_refused_write_is_described_in_plain_words() -> None:
    full = describe_failure(OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), "/runs/x/metrics.jsonl"), 8)
    assert full == ("cannot write /runs/x/metrics.jsonl: No space left on device; free some space, "
                    "then continue from the last checkpoint: `sslterm resume`")
    read_only = describe_failure(OSError(errno.EROFS, os.strerror(errno.EROFS)), 8)
    assert read_only.startswith("cannot write: Read-only file system; make it writable again, then")
