"""What the screens do to a run, without the UI: stop its worker, resume it, delete it (no torch)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Literal

from sslterm.store import Run, Status, StatusError
from sslterm.tui.poller import is_active

RESUMABLE = ("stopped", "failed", "diverged", "lost")
Severity = Literal["information", "warning", "error"]  # as a notification's


def stop_problem(status: Status | None, state: str) -> str | None:
    """Why this run cannot be stopped from here, or None if it can."""
    if status is None or state != "running":
        return f"the run is {state}: nothing to stop"
    if status.pid is None:
        return "the run's status has no pid"
    if status.host != socket.gethostname():
        return f"the run's worker is on {status.host}: stop it there"
    return None


def send_stop(run: Run, pid: int | None) -> tuple[str, Severity]:
    """SIGTERM the run's worker if it is still ``pid`` and running; (message, severity) for a notification."""
    try:  # read again: the run may have ended while the question was open
        status, state = run.status(), run.state()
    except StatusError as e:
        return str(e), "error"
    if state != "running" or status.pid != pid or pid is None:
        return f"the run is {state} now: not stopped", "warning"
    try:
        os.kill(pid, signal.SIGTERM)
    except OSError as e:
        return f"could not stop pid {pid}: {e}", "error"
    return f"sent SIGTERM to pid {pid}", "information"


def resume_problem(run: Run, state: str) -> str | None:
    """Why this run cannot be resumed, or None if it can."""
    if state not in RESUMABLE:
        return f"the run is {state}: only a stopped, failed, diverged or lost run resumes"
    if not (run.checkpoint_dir / "last.pt").is_file():
        return "the run has no checkpoint to resume from"
    return None


def resume_command(run: Run, root: Path) -> list[str]:
    """The command that resumes ``run`` in the background (``sslterm resume ID --detach``)."""
    return [sys.executable, "-m", "sslterm", "resume", run.id, "--detach", "--runs-dir", str(root)]


def resume_detached(run: Run, root: Path, timeout: float = 60.0) -> int:
    """Run :func:`resume_command` (no shell, its own session, output discarded); its exit status."""
    proc = subprocess.Popen(
        resume_command(run, root), stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True,
    )
    try:
        return proc.wait(timeout=timeout)  # `resume --detach` returns once the worker is started
    except subprocess.TimeoutExpired:
        return 0  # still starting it: leave it be


def delete_problem(state: str) -> str | None:
    """Why this run must not be deleted, or None if it may."""
    if is_active(state):
        return f"the run is {state}: stop it before deleting it"
    return None


def delete_run(run: Run) -> None:
    """Remove the run directory and everything in it."""
    shutil.rmtree(run.path)
