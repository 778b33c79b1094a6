"""One writer per run: an exclusive ``flock`` on ``RUN_DIR/lock``, held by the run's worker for its whole life.

Whoever starts a worker on a run (``sslterm run``, ``resume``, the supervisor, the app) takes the lock
first, checks and changes the state under it, and hands the locked descriptor to the worker it starts
(environment variable ``SSLTERM_LOCK_FD``); the workers a supervisor starts through torchrun cannot
inherit it, and are told by ``SSLTERM_SUPERVISED`` that the supervisor holds it for them. The kernel
releases the lock when the last process holding that descriptor ends, however it ends, so a killed
worker never leaves a stale lock behind. The file names its holder (``PID HOST TIME``) so that a
second starter can say who has the run.

Readers only test the lock (a shared, non-blocking ``flock`` released at once); they never wait on it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path

LOCK = "lock"
ENV_FD = "SSLTERM_LOCK_FD"
ENV_SUPERVISED = "SSLTERM_SUPERVISED"  # = the run directory: a supervisor holds the lock for the job's workers
RETRY_SECONDS = 0.5  # a reader's test holds the lock for microseconds: a starter tries again this long
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_NO_LOCKS = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS}


class RunLocked(RuntimeError):
    """Another process holds the run's lock."""


@dataclass(frozen=True)
class Holder:
    """Who took a run's lock, as its lock file says."""

    pid: int | None
    host: str
    since: float | None

    def describe(self) -> str:
        pid = f"pid {self.pid}" if self.pid is not None else "an unknown process"
        return f"{pid} on {self.host or 'an unknown host'}"


def lock_path(run_dir: Path) -> Path:
    return run_dir / LOCK


def read_holder(run_dir: Path) -> Holder | None:
    """The holder the lock file names (the last one to take it), or None if there is no readable lock file."""
    try:
        fd = os.open(lock_path(run_dir), os.O_RDONLY | _NOFOLLOW)
    except OSError:
        return None
    try:
        parts = os.read(fd, 512).decode("utf-8", errors="replace").split()
    finally:
        os.close(fd)
    pid = int(parts[0]) if parts and parts[0].isdigit() else None
    since = None
    with contextlib.suppress(IndexError, ValueError):
        since = float(parts[2])
    return Holder(pid, parts[1] if len(parts) > 1 else "", since)


def record_holder(fd: int, pid: int | None = None) -> None:
    """Write ``PID HOST TIME`` into the lock file whose locked descriptor is ``fd``."""
    line = f"{pid if pid is not None else os.getpid()} {socket.gethostname()} {time.time():.3f}\n"
    os.ftruncate(fd, 0)
    os.pwrite(fd, line.encode(), 0)


def acquire(run_dir: Path, run_id: str | None = None, wait: float = RETRY_SECONDS) -> int:
    """Take the run's lock, trying for ``wait`` seconds; the locked descriptor (close-on-exec).

    RunLocked naming the holder if another process keeps it.
    """
    fd = os.open(lock_path(run_dir), os.O_RDWR | os.O_CREAT | _NOFOLLOW | os.O_CLOEXEC, 0o644)
    deadline = time.monotonic() + wait
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            break
        except BlockingIOError:
            if time.monotonic() < deadline:
                time.sleep(0.02)
                continue
            os.close(fd)
            holder = read_holder(run_dir)
            who = holder.describe() if holder else "another process"
            raise RunLocked(f"run {run_id or run_dir.name} is already in use by {who} "
                            f"(it holds {lock_path(run_dir)}); stop it first") from None
        except OSError as e:
            if e.errno in _NO_LOCKS:                                  # a filesystem without flock: as before locks,
                break                                                 # liveness (pid, heartbeat) is the only guard
            os.close(fd)
            raise
        except BaseException:
            os.close(fd)
            raise
    record_holder(fd)
    return fd


def adopt(run_dir: Path) -> int | None:
    """The run's locked descriptor this process inherited from its starter (``SSLTERM_LOCK_FD``), or None."""
    raw = os.environ.get(ENV_FD, "")
    if not raw.isdigit():
        return None
    fd = int(raw)
    try:
        mine, theirs = os.fstat(fd), os.stat(lock_path(run_dir), follow_symlinks=False)
    except OSError:
        return None
    if (mine.st_dev, mine.st_ino) != (theirs.st_dev, theirs.st_ino):
        return None                                                   # a stale variable: that fd is something else
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)                # succeeds only if this descriptor holds it
    except OSError:
        return None
    os.set_inheritable(fd, False)
    return fd


def is_held(run_dir: Path) -> bool | None:
    """Whether a live process holds the run's lock; None when the run has no lock file (an older run)."""
    return flock_held(lock_path(run_dir))


def flock_held(path: Path) -> bool | None:
    """Whether a live process holds an ``flock`` on ``path``; None when there is no such file (links are not
    followed) or its filesystem has no flock."""
    try:
        fd = os.open(path, os.O_RDONLY | _NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return None                                                   # a filesystem without flock
    finally:
        os.close(fd)                                                  # releases a lock just taken
    return False


def release(fd: int) -> None:
    """Close this process's copy of the locked descriptor (a worker that was handed it keeps holding it)."""
    with contextlib.suppress(OSError):
        os.close(fd)
