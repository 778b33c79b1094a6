"""What the screens do to a run: the core's stop, resume and delete (:mod:`sslterm.lifecycle`), with its one-line
reasons, shaped for notifications (no torch). Call the acting functions from a thread worker."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Literal

from sslterm import lifecycle
from sslterm.store import Run, Status
from sslterm.store.states import is_active
from sslterm.subproc import child_env, python_module

Severity = Literal["information", "warning", "error"]  # as a notification's
EVAL_LOG = "eval.log"  # in the run directory: what a background evaluation writes


def stop_problem(status: Status | None, state: str) -> str | None:
    """Why this run cannot be stopped from here, or None if it can (the CLI's reason)."""
    return lifecycle.stop_problem(status, state)


def send_stop(run: Run, pid: int | None) -> tuple[str, Severity]:
    """SIGTERM the run's worker if it is provably the run's and still ``pid``; (message, severity)."""
    try:
        sent = lifecycle.stop(run, expected=pid)
    except lifecycle.StopError as e:
        return str(e), "warning"
    except OSError as e:
        return f"could not stop pid {pid}: {e.strerror or e}", "error"
    return f"asked {run.id} (pid {sent}) to stop; it writes a final checkpoint first", "information"


def resume_problem(run: Run, state: str) -> str | None:
    """Why this run cannot be resumed, or None if it can (the CLI's reason)."""
    return lifecycle.resume_problem(run, state)


def resume_detached(run: Run, root: Path | None = None) -> str | None:
    """Resume ``run`` in the background as ``sslterm resume`` does (under its lock); None, or the one-line reason
    it was refused. ``root`` is unused (kept for callers)."""
    try:
        lifecycle.resume(run)
    except lifecycle.ResumeError as e:
        return str(e)
    except OSError as e:  # a full disk or a read-only runs directory
        return f"cannot resume {run.id}: cannot write {e.filename or run.path}: {e.strerror or e}"
    return None


def delete_problem(state: str, run: Run) -> str | None:
    """Why this run, in this state, must not be deleted, or None if it may be."""
    return lifecycle.delete_problem(run, state)


def delete_run(run: Run) -> str | None:
    """Remove the run directory under its lock; None, or the one-line reason it was not deleted."""
    try:
        lifecycle.delete(run)
    except lifecycle.DeleteError as e:
        return str(e)
    return None


def evaluate_problem(run: Run, state: str) -> str | None:
    """Why this run cannot be evaluated from here, or None if it can (it needs its final checkpoint)."""
    if is_active(state):
        return f"the run is {state}: evaluate it once it has ended"
    if not run.checkpoint_dir.is_dir() or not any(run.checkpoint_dir.iterdir()):
        return "the run has no checkpoint to evaluate"
    return None


def evaluate_detached(run: Run, root: Path) -> subprocess.Popen[bytes]:
    """Start ``sslterm eval RUN`` in the background (its own session, no shell), writing to ``eval.log``.

    The evaluation saves ``eval.json`` in the run directory when it is done, which every view then shows.
    """
    with open(run.path / EVAL_LOG, "ab") as log:
        return subprocess.Popen(python_module("sslterm", "--runs-dir", str(root), "eval", run.id),
                                stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True, close_fds=True, env=child_env())


def evaluation_ended(run: Run, code: int) -> tuple[str, Severity]:
    """What to say when a background evaluation exits with ``code``: done, or the last line it wrote."""
    if code == 0:
        return f"{run.id} evaluated: the probe, kNN and fine-tuning results are in eval.json", "information"
    try:
        lines = (run.path / EVAL_LOG).read_text(errors="replace").strip().splitlines()
    except OSError:
        lines = []
    return f"evaluating {run.id} failed: {lines[-1] if lines else f'exit status {code}'}", "error"
