"""Start a training worker in its own process and session, detached from the terminal."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from sslterm.config import Experiment
from sslterm.store import Run, Status, create_run, write_status
from sslterm.store.runs import CONFIG
from sslterm.store.status import ACTIVE, effective_state, pid_alive


def prepare(exp: Experiment, root: Path, source: str = "", world: int = 1) -> Run:
    """Create a run directory for ``exp`` (config and status) without starting anything."""
    run = create_run(root, exp.name)
    header = f"Resolved configuration of run {run.id}" + (f"\nfrom {source}" if source else "")
    (run.path / CONFIG).write_text(exp.to_toml(header=header), encoding="utf-8")
    write_status(run.path, Status(id=run.id, state="starting", total_steps=exp.train.steps, world=world))
    return run


def launch(exp: Experiment, root: Path, source: str = "", nproc: int = 1) -> tuple[Run, subprocess.Popen[bytes]]:
    """Create a run for ``exp`` under ``root`` and start its worker(s); returns at once.

    With ``nproc`` > 1, torchrun starts that many processes (one per GPU on CUDA, gloo on the CPU)
    under a supervisor, and they show as one run.
    """
    run = prepare(exp, root, source, nproc)
    if exp.train.auto_resume or nproc > 1:
        return run, _spawn(run, "sslterm.supervise", str(exp.train.auto_resume), str(nproc))
    return run, _spawn(run, "sslterm.worker")


def _spawn(run: Run, module: str, *extra: str) -> subprocess.Popen[bytes]:
    """Start ``module`` for ``run`` in a new session, its output appended to the run's log."""
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with open(run.log_path, "ab") as log:
        return subprocess.Popen(
            [sys.executable, "-m", module, str(run.path), *extra],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, env=env, close_fds=True,
        )


class ResumeError(RuntimeError):
    """A run that cannot be resumed."""


def resume(run: Run, nproc: int | None = None) -> subprocess.Popen[bytes]:
    """Continue ``run`` from its last checkpoint with ``nproc`` processes (default: as many as it had)."""
    status = run.status()
    state = effective_state(run.path, status)
    if state in ACTIVE:
        raise ResumeError(f"run {run.id} is {state}; stop it before resuming")
    if not (run.checkpoint_dir / "last.pt").is_file():
        raise ResumeError(f"run {run.id} has no checkpoint to resume from; start it again with `sslterm run`")
    if state == "finished":
        raise ResumeError(f"run {run.id} already finished; raise train.steps in a new run to train longer")
    with open(run.log_path, "ab") as log:
        log.write(f"\n--- resuming (was {state}) ---\n".encode())
    # supervisor=None: a supervisor of the last attempt is gone, and a 1-process resume starts none
    write_status(run.path, status.evolve(state="starting", pid=None, supervisor=None, resumes=status.resumes + 1,
                                         created_at=time.time()))
    world = nproc or status.world
    if world > 1:
        return _spawn(run, "sslterm.supervise", "0", str(world), "--resume")
    return _spawn(run, "sslterm.worker", "--resume")


class StopError(RuntimeError):
    """A run that cannot be stopped from here."""


def stop(run: Run, sig: int = signal.SIGTERM) -> int:
    """Ask the run's worker to stop cleanly (SIGTERM); returns its pid."""
    status = run.status()
    state = effective_state(run.path, status)
    if state not in ACTIVE:
        raise StopError(f"run {run.id} is {state}, not running")
    if status.host != socket.gethostname():
        raise StopError(f"run {run.id} runs on host {status.host!r}; stop it from there")
    target = status.supervisor if status.supervisor is not None else status.pid
    if target is None or not pid_alive(target):
        raise StopError(f"run {run.id} has no live worker process yet; try again in a moment")
    os.kill(target, sig)                        # a supervisor passes the signal on to every worker
    return target
