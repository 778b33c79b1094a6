"""The run's status record: one JSON file replaced atomically, plus the proof that a run's worker is alive.

The worker is the only writer (it holds the run's lock, :mod:`sslterm.store.lock`); every write goes
through :func:`sslterm.atomic.atomic_write`, so a reader sees either the old record or the new one.
Liveness on the run's host: the run's lock is held by a live process (the kernel drops it when the
worker dies), and a pid is only trusted with the start time recorded beside it (``pid_start``), so a
reused pid never makes a dead run look alive. From another host (a shared filesystem): the heartbeat
file the worker touches every few seconds. A run that should be active but fails these is ``lost``.
"""

from __future__ import annotations

import json
import math
import os
import socket
import time
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from sslterm.atomic import atomic_write_text
from sslterm.store.lock import is_held
from sslterm.store.states import State, is_active

FORMAT_VERSION = 1
HEARTBEAT_SECONDS = 5.0
STALE_SECONDS = 60.0     # a heartbeat older than this, seen from another host: lost
STARTING_GRACE = 10.0    # a run of an older version, starting with no pid and no lock for this long: lost


@dataclass(frozen=True)
class Status:
    """What a run is doing now; ``state`` is one of :class:`~sslterm.store.states.State`."""

    id: str
    state: str = State.STARTING
    pid: int | None = None
    host: str = field(default_factory=socket.gethostname)
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None   # when the current (or last) attempt began training
    ended_at: float | None = None
    step: int = 0
    total_steps: int = 0
    epochs: int = 0                       # train.epochs (0: train.steps decides)
    steps_per_epoch: float = 0.0          # steps of one pass over the training split (0: not known yet); whole
    #                                       with train.epochs, else train size / (batch × processes)
    device: str | None = None
    error: str | None = None
    warning: str | None = None            # set at start when something will not fail but is likely unintended
    resumes: int = 0
    world: int = 1
    supervisor: int | None = None
    pid_start: int | None = None          # the worker's start time (/proc/PID/stat, clock ticks since boot)
    supervisor_start: int | None = None   # the supervisor's, likewise
    trained_s: float = 0.0                # seconds trained by earlier attempts (before ``started_at``)
    format: int = FORMAT_VERSION

    def evolve(self, **changes: Any) -> Status:
        """A copy with some fields changed."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The record as plain data (the state as its string)."""
        data = asdict(self)
        data["state"] = str(self.state)
        return data


def write_json_atomic(path: Path, data: Any, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` as JSON, all or nothing (:func:`sslterm.atomic.atomic_write_text`).

    If that fails (a full disk), the OSError names ``path``.
    """
    try:
        atomic_write_text(path, json.dumps(data, indent=1) + "\n", durable=durable)
    except OSError as e:
        raise OSError(e.errno, e.strerror, str(path)) from e


def write_status(run_dir: Path, status: Status, durable: bool = True) -> None:
    """Atomically replace ``run_dir/status.json``; ``durable`` also fsyncs (final states)."""
    write_json_atomic(run_dir / "status.json", status.to_dict(), durable)


class StatusError(ValueError):
    """A status file that is missing or unreadable."""


_INT, _FLOAT, _STR = (int,), (int, float), (str,)
_TYPES: dict[str, tuple[tuple[type, ...], bool, str]] = {   # field: (types, may be null, what it must be)
    "id": (_STR, False, "a string"), "state": (_STR, False, "a string"), "host": (_STR, False, "a string"),
    "pid": (_INT, True, "an integer or null"), "supervisor": (_INT, True, "an integer or null"),
    "pid_start": (_INT, True, "an integer or null"), "supervisor_start": (_INT, True, "an integer or null"),
    "created_at": (_FLOAT, False, "a number"), "started_at": (_FLOAT, True, "a number or null"),
    "ended_at": (_FLOAT, True, "a number or null"), "trained_s": (_FLOAT, False, "a number"),
    "step": (_INT, False, "an integer"), "total_steps": (_INT, False, "an integer"),
    "resumes": (_INT, False, "an integer"), "world": (_INT, False, "an integer"),
    "epochs": (_INT, False, "an integer"), "steps_per_epoch": (_FLOAT, False, "a number"),
    "format": (_INT, False, "an integer"),
    "device": (_STR, True, "a string or null"), "error": (_STR, True, "a string or null"),
    "warning": (_STR, True, "a string or null"),
}


def _check(path: Path, key: str, value: Any) -> None:
    if key not in _TYPES:
        return
    types, nullable, what = _TYPES[key]
    if value is None and nullable:
        return
    if isinstance(value, bool) or not isinstance(value, types):
        raise StatusError(f"{path}: {key} must be {what}, got {json.dumps(value)[:40]}")
    if isinstance(value, int) and not -(2**63) <= value < 2**63:
        raise StatusError(f"{path}: {key} must be {what} below 2^63, got a {value.bit_length()}-bit number")
    if isinstance(value, float) and not math.isfinite(value):
        raise StatusError(f"{path}: {key} must be a finite number, got {value}")


def read_status(run_dir: Path) -> Status:
    """Read ``run_dir/status.json``; StatusError with one plain line if that fails."""
    path = run_dir / "status.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if path.is_symlink():
            raise StatusError(f"{path}: a symbolic link to a missing file, not a status record") from None
        raise StatusError(f"{run_dir}: not a run directory (no status.json)") from None
    except (OSError, ValueError) as e:
        raise StatusError(f"{path}: unreadable status record ({str(e).splitlines()[0][:120]})") from None
    except RecursionError:
        raise StatusError(f"{path}: unreadable status record (nested too deeply)") from None
    if not isinstance(raw, dict) or "id" not in raw:
        raise StatusError(f"{path}: not an sslterm status record")
    known = {f.name for f in fields(Status)}
    values = {k: v for k, v in raw.items() if k in known}
    for key, value in values.items():
        _check(path, key, value)
    return Status(**values)


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists and is not a zombie (on this host)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except (OverflowError, ValueError):
        return False
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] != "Z"


def process_start(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (/proc/PID/stat field 22); None where unknown."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (OSError, ValueError):
        return None
    after = stat.rpartition(")")[2].split()   # fields 3.. (the command name may hold spaces and parentheses)
    try:
        return int(after[19])
    except (IndexError, ValueError):
        return None


def is_process(pid: int | None, start: int | None) -> bool:
    """Whether ``pid`` is a live process that started at ``start`` (the one recorded beside it).

    With no recorded start (a status written by an older version) only liveness can be checked.
    """
    if pid is None or not pid_alive(pid):
        return False
    if start is None:
        return True
    now = process_start(pid)
    return now is None or now == start


def worker_target(status: Status) -> tuple[int | None, int | None]:
    """The process that owns the run on its host and its recorded start: the supervisor if any, else the worker."""
    if status.supervisor is not None:
        return status.supervisor, status.supervisor_start
    return status.pid, status.pid_start


def names_run(pid: int, run_dir: Path) -> bool:
    """Whether the command line of process ``pid`` names the run directory (the worker's and the supervisor's
    do: ``python -m sslterm.worker RUN_DIR``); True where command lines cannot be read (no /proc)."""
    try:
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except FileNotFoundError:
        return not Path("/proc/self").exists()
    except OSError:
        return True
    name = os.fsencode(run_dir.name)
    return any(arg and os.path.basename(arg.rstrip(b"/")) == name for arg in argv)


def _live_target(status: Status, run_dir: Path | None = None) -> int | None:
    """The supervisor if it is alive (it passes signals on), else the worker if it is; each checked against its
    recorded start time, and with ``run_dir`` (a run with no lock file to prove it) against its command line.
    A worker whose supervisor was killed goes on training and still answers for the run."""
    for pid, start in ((status.supervisor, status.supervisor_start), (status.pid, status.pid_start)):
        if pid is not None and is_process(pid, start) and (run_dir is None or names_run(pid, run_dir)):
            return pid
    return None


def proven_worker(run_dir: Path, status: Status) -> int | None:
    """The pid of the run's own live worker (or supervisor) on this host, if that can be proven, else None.

    Proof: the run's lock is held by a live process and the pid's start time matches the recorded one;
    a run without a lock file (an older version, or a status written by hand) needs the recorded start time
    and a command line that names the run directory.
    """
    if status.host != socket.gethostname():
        return None
    held = is_held(run_dir)
    if held is False:
        return None
    target = _live_target(status, run_dir if held is None else None)
    if target is None or (held is None and (status.pid_start if target == status.pid else status.supervisor_start)
                          is None):
        return None
    return target


def touch_heartbeat(run_dir: Path, rank: int = 0) -> None:
    """Record that the worker (of ``rank``) is alive now."""
    name = "heartbeat" if rank == 0 else f"heartbeat.rank{rank}"
    atomic_write_text(run_dir / name, f"{time.time():.3f} {os.getpid()}\n", durable=False)


def heartbeat_age(run_dir: Path) -> float | None:
    """Seconds since the last heartbeat, or None if there has been none."""
    try:
        return time.time() - (run_dir / "heartbeat").stat().st_mtime
    except OSError:
        return None


def effective_state(run_dir: Path, status: Status) -> str:
    """The state to show: ``lost`` for an active run whose worker is gone (or cannot be proven to be its own)."""
    if not is_active(status.state):
        return status.state
    if status.host == socket.gethostname():
        held = is_held(run_dir)
        if held is not None:                      # the lock decides: the kernel drops it with the last holder
            if not held:
                return State.LOST
            if status.pid is None and status.supervisor is None:
                return status.state               # its starter holds the lock: the worker is on its way
            return status.state if _live_target(status) is not None else State.LOST
        if status.pid is None and status.supervisor is None:   # a run of an older version: no lock file
            return State.LOST if time.time() - status.created_at > STARTING_GRACE else status.state
        return status.state if _live_target(status, run_dir) is not None else State.LOST
    age = heartbeat_age(run_dir)
    if age is None:
        age = time.time() - status.created_at
    return State.LOST if age > STALE_SECONDS else status.state
