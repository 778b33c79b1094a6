"""Stop, resume and delete a run: the one set of rules that the CLI and the app both call (no torch).

Each operation that starts a worker or removes a run first takes the run's lock
(:mod:`sslterm.store.lock`), so two of them never act on one run at once, and a second one is told in
one line who has the run. A signal is only ever sent to a process proven to be the run's own worker
(:func:`sslterm.store.status.proven_worker`). Every refusal is a :class:`LifecycleError` whose message
is the one line both faces show.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess

from sslterm.atomic import atomic_write_text, open_append
from sslterm.store import Run, Status, StatusError, write_status
from sslterm.store.lock import RunLocked, acquire, lock_path, read_holder, release
from sslterm.store.runs import CONFIG
from sslterm.store.states import RESUMABLE, State, is_active, is_resumable, words
from sslterm.store.status import effective_state, is_process, names_run, proven_worker, worker_target


class LifecycleError(RuntimeError):
    """An operation refused, with the one line that says why."""


class ResumeError(LifecycleError):
    """A run that cannot be resumed."""


class StopError(LifecycleError):
    """A run that cannot be stopped from here."""


class DeleteError(LifecycleError):
    """A run that must not be deleted."""


def stop_problem(status: Status | None, state: str) -> str | None:
    """Why a run with this status and shown state cannot be stopped from here, or None if it may be."""
    if status is None:
        return f"the run is {state}: nothing to stop"
    if not is_active(state):
        return f"run {status.id} is {state}, not running: nothing to stop"
    if status.host != socket.gethostname():
        return f"run {status.id} runs on host {status.host!r}; stop it from there"
    if worker_target(status)[0] is None:
        return f"run {status.id} has no worker process yet; try again in a moment"
    return None


def stop(run: Run, sig: int = signal.SIGTERM, expected: int | None = None) -> int:
    """Ask the run's worker (or its supervisor, which passes it on) to stop cleanly; returns the pid signalled.

    ``expected``: the pid the user was shown; another one now (the run was resumed meanwhile) is refused.
    """
    try:
        status = run.status()
    except StatusError as e:
        raise StopError(str(e)) from None
    problem = stop_problem(status, effective_state(run.path, status))
    if problem:
        raise StopError(problem)
    target = proven_worker(run.path, status)
    shown, _ = worker_target(status)
    if target is None:
        raise StopError(f"pid {shown} cannot be proven to be run {run.id}'s worker (its lock is not held or "
                        "the process started at another time): nothing sent; the run is lost")
    if expected is not None and target != expected:
        raise StopError(f"run {run.id} is now run by pid {target}, not {expected}: nothing sent; look again")
    os.kill(target, sig)
    return target


def resume_problem(run: Run, state: str, steps: int | None = None) -> str | None:
    """Why a run in the shown ``state`` cannot be resumed (on to ``steps`` steps, or epochs, in all), or None."""
    if state == State.FINISHED:
        if steps is None:
            return (f"run {run.id} already finished; `sslterm resume {run.id} --steps N` trains it on to "
                    "N steps in all (--epochs N: to N epochs, for a run trained by epochs)")
        if not run.has_checkpoint():
            return f"run {run.id} finished without a checkpoint: nothing to continue from"
        return None
    if not is_resumable(state):
        return f"run {run.id} is {state}; only a {words(RESUMABLE)} run resumes" + (
            " (stop it first)" if is_active(state) else "")
    return None


def _state_under_lock(run: Run, status: Status, had_lock_file: bool) -> str:
    """The run's state while this process holds its lock: an active state means its worker is gone,
    unless the run comes from an older version (no lock file before ours) and its worker is alive."""
    if not is_active(status.state):
        return status.state
    if status.host != socket.gethostname():
        return effective_state(run.path, status)        # a heartbeat on a shared filesystem decides
    if had_lock_file:
        return State.LOST
    target, start = worker_target(status)
    alive = target is not None and is_process(target, start) and names_run(target, run.path)
    return status.state if alive else State.LOST


ENDING_SECONDS = 30.0  # how long to wait for a worker that recorded its end to exit and drop the lock


def _lock(run: Run, error: type[LifecycleError]) -> tuple[int, bool]:
    """Take the run's lock: (descriptor, whether the run had a lock file before). A worker that has recorded
    how the run ended is let finish exiting (``stop`` then ``resume`` at once)."""
    had = lock_path(run.path).exists()
    try:
        return acquire(run.path, run.id), had
    except RunLocked as e:
        try:
            status = run.status()
        except StatusError:
            raise error(str(e)) from None
        holder = read_holder(run.path)
        # only the run's own worker (or supervisor), having recorded how the run ended, is waited for; another
        # starter (a second `sslterm resume`, the app's R) holding the lock is refused at once
        ending = (not is_active(status.state) and holder is not None and holder.pid is not None
                  and holder.pid in (status.pid, status.supervisor))
        if not ending:
            raise error(str(e)) from None
    try:
        return acquire(run.path, run.id, wait=ENDING_SECONDS), had
    except RunLocked as e:
        raise error(str(e)) from None


def resume(run: Run, nproc: int | None = None, steps: int | None = None,
           epochs: int | None = None) -> subprocess.Popen[bytes]:
    """Continue ``run`` from its last checkpoint with ``nproc`` processes (default: as many as it had).

    A run with no checkpoint (killed or failed before its first one, or only prepared) starts again from
    step 0. ``steps`` trains a run on to that many steps in all (a finished run too); the learning-rate
    schedule is then the one of a run of ``steps`` steps (docs/run-format.md, "Training longer").
    ``epochs`` does the same for a run trained by epochs (``train.epochs``): on to that many epochs in all.
    A run trained by epochs takes ``epochs`` only, one trained by steps ``steps`` only (:func:`_train_longer`).
    """
    from sslterm.launch import spawn

    lock, had_lock_file = _lock(run, ResumeError)
    try:
        try:
            status = run.status()
        except StatusError as e:
            raise ResumeError(str(e)) from None
        state = _state_under_lock(run, status, had_lock_file)
        problem = resume_problem(run, state, steps if epochs is None else epochs) or _linked_log(run)
        if problem:
            raise ResumeError(problem)
        if steps is not None or epochs is not None:
            status = _train_longer(run, status, steps, epochs)
        fresh = not run.has_checkpoint()
        with open_append(run.log_path) as log:
            what = "starting" if state == State.PREPARED else (
                "restarting from step 0: no checkpoint" if fresh else "resuming")
            log.write(f"\n--- {what} (was {state}) ---\n".encode())
        if fresh:
            run.clear_logs()
        # supervisor=None: a supervisor of the last attempt is gone, and a 1-process resume starts none
        write_status(run.path, status.evolve(
            state=State.STARTING, pid=None, pid_start=None, supervisor=None, supervisor_start=None,
            error=None, step=0 if fresh else status.step,
            resumes=status.resumes + (0 if state == State.PREPARED else 1)))
        world = nproc or status.world
        flag = () if fresh else ("--resume",)
        if world > 1:
            return spawn(run, lock, "sslterm.supervise", "0", str(world), *flag)
        return spawn(run, lock, "sslterm.worker", *flag)
    finally:
        release(lock)


def _linked_log(run: Run) -> str | None:
    """Why a resume would fail at once: a log it cuts back or appends to is a symbolic link (never followed)."""
    for path in (run.metrics_path, run.snapshots_path):
        if path.is_symlink():
            return (f"cannot resume {run.id}: {path} is a symbolic link; sslterm writes only regular files in a "
                    "run directory (put the file itself there)")
    return None


RESUME_KEYS = ("train.steps", "train.epochs")
"""The keys ``resume --set`` may change: the rest of a run's configuration is what its checkpoint was trained with."""


def resume_steps(sets: list[str] | tuple[str, ...], steps: int | None,
                 epochs: int | None = None) -> tuple[int | None, int | None]:
    """The steps or epochs to train on to, from ``--steps``, ``--epochs`` and ``--set train.steps=N`` or
    ``train.epochs=N`` (the keys a resume changes); a ConfigError in one line for any other key, a value that
    is not a whole number, two different counts, or both steps and epochs."""
    from sslterm.checker import cut
    from sslterm.errors import ConfigError
    from sslterm.overrides import parse_override

    for text in sets:
        path, value = parse_override(text)
        key, source = ".".join(path), f"--set {cut(text)}"
        if key not in RESUME_KEYS:
            reason = (f"resume changes only {', '.join(RESUME_KEYS)}; {cut(key)} stays as the run was trained "
                      "(start a new run to change it)")
            raise ConfigError(f"{source}: {reason}", source=source, keys=(key,), given=value,
                              allowed=", ".join(RESUME_KEYS), reason=reason)
        unit, given = ("steps", steps) if key == "train.steps" else ("epochs", epochs)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            reason = f"got {cut(repr(value))}, expected a whole number of {unit}, at least 1"
            raise ConfigError(f"{source}: {reason}", source=source, keys=(key,), given=value,
                              allowed="a whole number ≥ 1", reason=reason)
        if given is not None and given != value:
            reason = f"got {value}, but --{unit} says {given}: give the count once"
            raise ConfigError(f"{source}: {reason}", source=source, keys=(key,), given=value,
                              allowed=str(given), reason=reason)
        steps, epochs = (value, epochs) if unit == "steps" else (steps, value)
    if steps is not None and epochs is not None:
        reason = f"got {steps} steps and {epochs} epochs: give one (--epochs for a run trained by epochs)"
        raise ConfigError(f"--steps, --epochs: {reason}", source="--steps, --epochs",
                          keys=("train.steps", "train.epochs"), given=(steps, epochs),
                          allowed="--steps N or --epochs N", reason=reason)
    return steps, epochs


def _train_longer(run: Run, status: Status, steps: int | None, epochs: int | None) -> Status:
    """Set ``train.steps`` (a run trained by steps) or ``train.epochs`` (a run trained by epochs) in the run's
    saved configuration to train on to ``steps`` steps or ``epochs`` epochs in all; either is refused for a
    run trained the other way, in one line naming the option to use."""
    from sslterm import config

    try:
        trained = config.load(run.path / CONFIG)
    except config.ConfigError as e:
        raise ResumeError(f"cannot resume {run.id}: {e}") from None
    by_epochs = trained.train.epochs
    per_epoch = status.steps_per_epoch
    if steps is not None and by_epochs:
        each = f", {per_epoch:,.0f} steps each" if per_epoch else ""
        raise ResumeError(f"--steps: run {run.id} trains by epochs (train.epochs = {by_epochs}{each}); expected "
                          f"--epochs N, the epochs to train on to in all")
    if epochs is not None and not by_epochs:
        raise ResumeError(f"--epochs: run {run.id} trains by steps (train.steps = {trained.train.steps}, no "
                          "train.epochs); expected --steps N, the steps to train on to in all")
    if epochs is not None:
        if per_epoch and epochs * per_epoch <= status.step:
            raise ResumeError(f"--epochs: got {epochs}, expected more than the {status.step / per_epoch:.4g} epochs "
                              f"run {run.id} has done")
        key, value, total = "train.epochs", epochs, round(epochs * per_epoch)
    else:
        if steps is None or steps <= status.step:
            raise ResumeError(f"--steps: got {steps}, expected more than the {status.step} steps run {run.id} "
                              "has done")
        key, value, total = "train.steps", steps, steps
    try:
        exp = config.load(run.path / CONFIG, [f"{key}={value}"])
    except config.ConfigError as e:
        raise ResumeError(f"--{key.split('.')[1]}: {e}") from None
    header = f"Resolved configuration of run {run.id}\n{key} raised to {value} by sslterm resume"
    atomic_write_text(run.path / CONFIG, exp.to_toml(header=header))
    return status.evolve(total_steps=total, epochs=exp.train.epochs)


def delete_problem(run: Run, state: str) -> str | None:
    """Why this run must not be deleted, or None if it may be."""
    if is_active(state):
        return f"run {run.id} is {state}: stop it before deleting it"
    if run.path.is_symlink():
        return f"{run.path} is a symbolic link: delete the directory it points to yourself"
    return None


def delete(run: Run) -> None:
    """Remove the run directory and everything in it, under its lock (no worker can start meanwhile)."""
    if run.path.is_symlink():
        raise DeleteError(f"{run.path} is a symbolic link: delete the directory it points to yourself")
    lock, had_lock_file = _lock(run, DeleteError)
    try:
        try:
            state = _state_under_lock(run, run.status(), had_lock_file)
        except StatusError:
            state = "unreadable"
        problem = delete_problem(run, state)
        if problem:
            raise DeleteError(problem)
        shutil.rmtree(run.path)
    finally:
        release(lock)
