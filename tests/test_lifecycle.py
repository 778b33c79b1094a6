"""A run's life through the real command line: one writer per run, no signal to a stranger, stop in every phase,
runs that died before they started, prepared runs, training on to more steps."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path

from sslterm.store import Run, read_status, write_status
from sslterm.store.lock import acquire, lock_path
from sslterm.store.states import State
from sslterm.store.status import process_start
from tests.conftest import ROOT, prepare_run, sslterm, start_faulty_worker, tiny_sets, wait_for


def show(runs: Path, run_id: str) -> dict:
    proc = sslterm("show", run_id, "--json", runs=runs)
    assert proc.returncode == 0 and "Traceback" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout)


def logged_steps(run_dir: Path) -> list[int]:
    return [json.loads(line)["step"] for line in (run_dir / "metrics.jsonl").read_text().splitlines()]


def until_state(runs: Path, run_id: str, *states: str, timeout: float = 120) -> dict:
    return wait_for(lambda: rec if (rec := show(runs, run_id))["status"] in states else None, timeout=timeout,
                    what=lambda: f"{run_id} to be {' or '.join(states)}: {(runs / run_id / 'worker.log').read_text()}")


def stopped_run(runs: Path, *extra: str) -> str:
    """A run stopped on request after its first checkpoint (step 4)."""
    sets = tiny_sets("train.steps=150", "train.log_every=1", "train.checkpoint_every=4", *extra)
    run_id = sslterm("run", *sets, "-d", runs=runs).stdout.strip()
    wait_for(lambda: show(runs, run_id)["step"] >= 4, what="step 4")
    assert sslterm("stop", run_id, runs=runs).returncode == 0
    until_state(runs, run_id, "stopped")
    return run_id


def test_two_resumes_started_together_start_one_worker(runs: Path) -> None:
    run_id = stopped_run(runs)
    barrier = threading.Barrier(2)
    results: dict[int, subprocess.CompletedProcess[str]] = {}

    def resume(i: int) -> None:
        barrier.wait()
        results[i] = sslterm("resume", run_id, "--detach", runs=runs)

    threads = [threading.Thread(target=resume, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(p.returncode for p in results.values()) == [0, 1], [p.stderr for p in results.values()]
    refused = next(p for p in results.values() if p.returncode == 1)
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "already in use by pid" in lines[0], refused.stderr
    rec = until_state(runs, run_id, "finished", "failed", "lost")
    assert rec["status"] == "finished" and rec["step"] == 150, rec
    assert logged_steps(runs / run_id) == list(range(1, 151)), "no step logged twice"
    assert rec["duration_s"] is not None


def test_a_stranger_with_the_workers_old_pid_is_never_signalled(runs: Path) -> None:
    assert sslterm("run", *tiny_sets("train.steps=2"), runs=runs).returncode == 0
    run_dir = next(p for p in runs.iterdir() if (p / "status.json").is_file())
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        old = read_status(run_dir)                                    # the pid was reused after a reboot, say
        write_status(run_dir, old.evolve(state="running", pid=stranger.pid, ended_at=None))
        assert show(runs, run_dir.name)["status"] == "lost"
        proc = sslterm("stop", run_dir.name, runs=runs)
        assert proc.returncode == 1 and len(proc.stderr.splitlines()) == 1, proc.stderr
        assert stranger.poll() is None, "the stranger was not signalled"
        # even with its true start time recorded, a process that does not hold the run's lock is not the worker
        write_status(run_dir, old.evolve(state="running", pid=stranger.pid, pid_start=process_start(stranger.pid)))
        assert show(runs, run_dir.name)["status"] == "lost"
        assert sslterm("stop", run_dir.name, runs=runs).returncode == 1 and stranger.poll() is None
    finally:
        stranger.kill()
        stranger.wait()


def test_without_a_lock_file_a_stranger_with_the_true_start_time_is_still_not_the_worker(runs: Path) -> None:
    run_dir = prepare_run(runs, "train.steps=2")                      # a run of an older version: no lock file
    stranger = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    try:
        wait_for(lambda: process_start(stranger.pid), what="the stranger's start time")
        write_status(run_dir, read_status(run_dir).evolve(state="running", pid=stranger.pid,
                                                          pid_start=process_start(stranger.pid)))
        assert not (run_dir / "lock").exists()
        assert show(runs, run_dir.name)["status"] == "lost", "its command line does not name the run"
        proc = sslterm("stop", run_dir.name, runs=runs)
        assert proc.returncode == 1 and len(proc.stderr.splitlines()) == 1, proc.stderr
        assert stranger.poll() is None, "the stranger was not signalled"
        assert sslterm("resume", run_dir.name, runs=runs).returncode == 0 and stranger.poll() is None
        assert show(runs, run_dir.name)["status"] == "finished"
    finally:
        stranger.kill()
        stranger.wait()


def test_killed_before_the_worker_started_is_lost_and_restarts_from_step_0(runs: Path) -> None:
    run_dir = prepare_run(runs, "train.steps=6")
    starter = subprocess.Popen([sys.executable, "-c", (
        "import sys, os, signal; from pathlib import Path; from sslterm.store import read_status, write_status;"
        "from sslterm.store.lock import acquire; d = Path(sys.argv[1]); acquire(d);"
        "write_status(d, read_status(d).evolve(state='starting'));"
        "os.kill(os.getpid(), signal.SIGKILL)"), str(run_dir)])        # killed between its status and its worker
    assert starter.wait(60) == -signal.SIGKILL
    assert read_status(run_dir).state == "starting"
    assert show(runs, run_dir.name)["status"] == "lost"               # the lock died with it: no grace needed
    proc = sslterm("resume", run_dir.name, runs=runs)
    assert proc.returncode == 0, proc.stderr
    rec = show(runs, run_dir.name)
    assert rec["status"] == "finished" and rec["step"] == 6 and logged_steps(run_dir) == [2, 4, 6]
    assert "restarting from step 0" in (run_dir / "worker.log").read_text()


def test_an_old_starting_run_without_a_lock_is_lost_after_the_grace_period(runs: Path) -> None:
    run_dir = prepare_run(runs)
    status = read_status(run_dir).evolve(state="starting")
    write_status(run_dir, status)
    assert not lock_path(run_dir).exists()
    assert Run(run_dir).state() == "starting"                         # within the grace period
    write_status(run_dir, status.evolve(created_at=status.created_at - 3600))
    assert Run(run_dir).state() == "lost"


def test_a_prepared_run_says_so_and_resume_starts_it(runs: Path) -> None:
    proc = sslterm("run", "--prepare", *tiny_sets("train.steps=2"), runs=runs)
    assert proc.returncode == 0, proc.stderr
    run_id = Path(proc.stdout.strip()).name
    rec = show(runs, run_id)
    assert rec["status"] == "prepared" and rec["pid"] is None
    line = sslterm("show", run_id, runs=runs).stdout.splitlines()[0]
    assert "prepared" in line and "pid None" not in line, line
    assert "prepared" in sslterm("ls", runs=runs).stdout
    assert sslterm("resume", run_id, runs=runs).returncode == 0
    rec = show(runs, run_id)
    assert rec["status"] == "finished" and rec["step"] == 2 and json.loads(
        (runs / run_id / "status.json").read_text())["resumes"] == 0


def _stop_while(runs: Path, fault: str) -> Path:
    run_dir = prepare_run(runs, "train.steps=50")
    worker = start_faulty_worker(run_dir, fault, 1)
    try:
        wait_for(lambda: (run_dir / "fault-point").exists() or worker.poll() is not None,
                 what=lambda: (run_dir / "worker.log").read_text())
        assert worker.poll() is None, (run_dir / "worker.log").read_text()
        assert sslterm("stop", run_dir.name, runs=runs).returncode == 0
        assert worker.wait(timeout=60) == 0, (run_dir / "worker.log").read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
    rec = show(runs, run_dir.name)
    assert rec["status"] == "stopped" and rec["step"] == 0, rec
    return run_dir


def test_stop_is_honoured_while_the_dataset_is_built(runs: Path) -> None:
    _stop_while(runs, "block-dataset")


def test_stop_is_honoured_during_the_first_step_then_resume_restarts(runs: Path) -> None:
    run_dir = _stop_while(runs, "block-first-step")                   # as long as a torch.compile
    proc = sslterm("resume", run_dir.name, runs=runs)                 # no checkpoint yet: from step 0
    assert proc.returncode == 0, proc.stderr
    assert show(runs, run_dir.name)["status"] == "finished" and logged_steps(run_dir) == list(range(2, 51, 2))


def test_a_worker_started_on_a_run_in_use_writes_nothing(runs: Path) -> None:
    run_dir = prepare_run(runs)
    lock = acquire(run_dir)
    try:
        before = (run_dir / "status.json").read_bytes()
        proc = subprocess.run([sys.executable, "-m", "sslterm.worker", str(run_dir)], capture_output=True,
                              text=True, timeout=60, env={**os.environ, "SSLTERM_LOCK_FD": ""}, cwd=ROOT)
        assert proc.returncode == 75 and f"pid {os.getpid()}" in proc.stderr, proc.stderr
        assert (run_dir / "status.json").read_bytes() == before
    finally:
        os.close(lock)


def test_resume_steps_trains_a_finished_run_on(runs: Path) -> None:
    assert sslterm("run", *tiny_sets(), runs=runs).returncode == 0           # 6 steps, a checkpoint at 4 and 6
    run_id = next(p for p in runs.iterdir() if (p / "status.json").is_file()).name
    refused = sslterm("resume", run_id, runs=runs)
    assert refused.returncode == 1 and "--steps" in refused.stderr
    assert sslterm("resume", run_id, "--steps", "4", runs=runs).returncode == 1
    proc = sslterm("resume", run_id, "--steps", "10", runs=runs)
    assert proc.returncode == 0, proc.stderr
    rec = show(runs, run_id)
    assert rec["status"] == "finished" and rec["step"] == rec["total_steps"] == 10
    assert rec["config"]["train"]["steps"] == 10 and logged_steps(runs / run_id) == [2, 4, 6, 8, 10]
    from sslterm import config
    from sslterm.utils.schedule import lr_at

    stretched = config.load(runs / run_id / "config.toml").train               # the schedule of a 10-step run
    lrs = [r["lr"] for r in Run(runs / run_id).metrics()]
    assert lrs[3:] == [lr_at(7, stretched), lr_at(9, stretched)]


def test_stopped_time_is_not_training_time(runs: Path) -> None:
    run_dir = prepare_run(runs)
    status = read_status(run_dir)
    write_status(run_dir, status.evolve(state=State.STOPPED, started_at=1000.0, ended_at=1010.0, trained_s=30.0))
    assert show(runs, run_dir.name)["duration_s"] == 40.0           # however long ago it stopped


def test_the_apps_resume_key_takes_the_lock_and_says_what_the_cli_says(runs: Path) -> None:
    import asyncio

    from sslterm.tui.app import make_app
    from tests.conftest import wait_for_async

    run_dir = prepare_run(runs, "train.steps=2")
    lock = acquire(run_dir)                                           # another process has the run

    def told(words: str) -> Callable[[], list[str]]:
        return lambda: [n.message for n in app._notifications if words in n.message]

    async def body() -> None:
        async with app.run_test(size=(120, 30)) as pilot:
            await pilot.app.workers.wait_for_complete()
            await pilot.pause()
            await pilot.press("R")
            [message] = await wait_for_async(told("already in use by pid"), what="the refusal")
            assert message.startswith(f"run {run_dir.name} is already in use by pid {os.getpid()} on ")
            os.close(lock)
            await pilot.press("R")
            await wait_for_async(told("resumed"), what="the resume")

    app = make_app(runs)
    asyncio.run(body())
    rec = until_state(runs, run_dir.name, "finished", "failed", "lost")
    assert rec["status"] == "finished" and rec["step"] == 2, rec


def test_resume_refuses_a_linked_log_before_starting_a_worker(runs: Path, tmp_path: Path) -> None:
    run_dir = prepare_run(runs, "train.steps=2")
    write_status(run_dir, read_status(run_dir).evolve(state="stopped"))
    precious = tmp_path / "precious.jsonl"
    precious.write_bytes(b'{"step": 1}\n')
    (run_dir / "metrics.jsonl").symlink_to(precious)
    proc = sslterm("resume", run_dir.name, runs=runs)
    assert proc.returncode == 1 and len(proc.stderr.splitlines()) == 1, proc.stderr
    assert "metrics.jsonl is a symbolic link" in proc.stderr
    assert read_status(run_dir).state == "stopped", "still resumable once the link is replaced"
    assert precious.read_bytes() == b'{"step": 1}\n' and not (run_dir / "worker.log").exists()
