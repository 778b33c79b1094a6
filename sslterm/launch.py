"""Start a training worker in its own process and session, detached from the terminal, holding the run's lock."""

from __future__ import annotations

import subprocess
from pathlib import Path

from sslterm.atomic import atomic_write_text, open_append
from sslterm.config import Experiment
from sslterm.store import Run, Status, create_run, write_status
from sslterm.store.lock import ENV_FD, acquire, release
from sslterm.store.runs import CONFIG
from sslterm.store.states import State
from sslterm.subproc import child_env, python_module


def planned(status: Status, exp: Experiment) -> Status:
    """``status`` with what the run's configuration decides before its data is loaded: the steps (0, not
    known yet, when ``train.epochs`` sets them from the data's size) and the epochs."""
    return status.evolve(total_steps=0 if exp.train.epochs else exp.train.steps, epochs=exp.train.epochs)


def prepare(exp: Experiment, root: Path, source: str = "", world: int = 1, state: State = State.PREPARED) -> Run:
    """Create a run directory for ``exp`` (config and status) without starting anything.

    The status says ``prepared`` until a worker starts on it (``sslterm resume`` or workers started by hand).
    """
    run = create_run(root, exp.name)
    header = f"Resolved configuration of run {run.id}" + (f"\nfrom {source}" if source else "")
    atomic_write_text(run.path / CONFIG, exp.to_toml(header=header))
    write_status(run.path, planned(Status(id=run.id, state=state, world=world), exp))
    return run


def launch(exp: Experiment, root: Path, source: str = "", nproc: int = 1) -> tuple[Run, subprocess.Popen[bytes]]:
    """Create a run for ``exp`` under ``root`` and start its worker(s); returns at once.

    With ``nproc`` > 1, torchrun starts that many processes (one per GPU on CUDA, gloo on the CPU)
    under a supervisor, and they show as one run.
    """
    run = create_run(root, exp.name)
    lock = acquire(run.path, run.id)                     # before the status: a viewer never sees it unlocked
    try:
        header = f"Resolved configuration of run {run.id}" + (f"\nfrom {source}" if source else "")
        atomic_write_text(run.path / CONFIG, exp.to_toml(header=header))
        write_status(run.path, planned(Status(id=run.id, state=State.STARTING, world=nproc), exp))
        if exp.train.auto_resume or nproc > 1:
            return run, spawn(run, lock, "sslterm.supervise", str(exp.train.auto_resume), str(nproc))
        return run, spawn(run, lock, "sslterm.worker")
    finally:
        release(lock)                                    # the worker holds its own copy for its whole life


def spawn(run: Run, lock: int, module: str, *extra: str) -> subprocess.Popen[bytes]:
    """Start ``module`` for ``run`` in a new session, its output appended to the run's log, handing it the
    run's locked descriptor ``lock`` (:mod:`sslterm.store.lock`)."""
    env = child_env(PYTHONUNBUFFERED="1", **{ENV_FD: str(lock)})
    with open_append(run.log_path) as log:
        return subprocess.Popen(
            python_module(module, str(run.path), *extra),
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            start_new_session=True, env=env, close_fds=True, pass_fds=(lock,),
        )
