"""Start a training worker in its own process and session, detached from the terminal."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

from sslterm.config import Experiment
from sslterm.store import Run, Status, create_run, write_status
from sslterm.store.runs import CONFIG
from sslterm.store.status import ACTIVE, effective_state, pid_alive


def launch(exp: Experiment, root: Path, source: str = "") -> tuple[Run, subprocess.Popen[bytes]]:
    """Create a run for ``exp`` under ``root`` and start its worker; returns at once."""
    run = create_run(root, exp.name)
    header = f"Resolved configuration of run {run.id}" + (f"\nfrom {source}" if source else "")
    (run.path / CONFIG).write_text(exp.to_toml(header=header), encoding="utf-8")
    write_status(run.path, Status(id=run.id, state="starting", total_steps=exp.train.steps))
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    with open(run.log_path, "ab") as log:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sslterm.worker", str(run.path)],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, env=env, close_fds=True,
        )
    return run, proc


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
    if status.pid is None or not pid_alive(status.pid):
        raise StopError(f"run {run.id} has no live worker process yet; try again in a moment")
    os.kill(status.pid, sig)
    return status.pid
