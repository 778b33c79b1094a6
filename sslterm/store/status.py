"""The run's status record: one JSON file replaced atomically, plus liveness checks.

The worker is the only writer. It writes ``status.json.tmp-PID``, flushes and fsyncs it, and
renames it over ``status.json``, so a reader sees either the old record or the new one, never
a mix. Liveness: the worker touches ``heartbeat`` every few seconds; a run whose status says
running but whose process is gone (same host) or whose heartbeat is stale (another host, as on
a shared filesystem) is reported as ``lost``.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

FORMAT_VERSION = 1
STATES = ("starting", "running", "finished", "failed", "stopped", "diverged", "lost")
ACTIVE = ("starting", "running")
HEARTBEAT_SECONDS = 5.0
STALE_SECONDS = 60.0


@dataclass(frozen=True)
class Status:
    """What a run is doing now; ``state`` is one of :data:`STATES`."""

    id: str
    state: str = "starting"
    pid: int | None = None
    host: str = field(default_factory=socket.gethostname)
    created_at: float = field(default_factory=time.time)
    started_at: float | None = None
    ended_at: float | None = None
    step: int = 0
    total_steps: int = 0
    device: str | None = None
    error: str | None = None
    resumes: int = 0
    world: int = 1
    supervisor: int | None = None
    format: int = FORMAT_VERSION

    def evolve(self, **changes: Any) -> Status:
        """A copy with some fields changed."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """The record as plain data."""
        return asdict(self)


def write_json_atomic(path: Path, data: Any, durable: bool = True) -> None:
    """Replace ``path`` with ``data`` as JSON by writing a temporary file and renaming it over.

    If that fails (a full disk), the temporary file is removed and the OSError names ``path``.
    """
    tmp = path.with_name(f"{path.name}.tmp-{os.getpid()}")
    try:
        with open(tmp, "w", encoding="utf-8") as f:
            json.dump(data, f, indent=1)
            f.write("\n")
            f.flush()
            if durable:
                os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        raise OSError(e.errno, e.strerror, str(path)) from e
    if durable:
        fsync_dir(path.parent)


def write_status(run_dir: Path, status: Status, durable: bool = True) -> None:
    """Atomically replace ``run_dir/status.json``; ``durable`` also fsyncs (final states)."""
    write_json_atomic(run_dir / "status.json", status.to_dict(), durable)


def fsync_dir(path: Path) -> None:
    """Make a rename inside ``path`` durable (best effort where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass  # some filesystems refuse fsync on directories; the rename is still atomic
    finally:
        os.close(fd)


class StatusError(ValueError):
    """A status file that is missing or unreadable."""


def read_status(run_dir: Path) -> Status:
    """Read ``run_dir/status.json``; StatusError with a plain message if that fails."""
    path = run_dir / "status.json"
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StatusError(f"{run_dir}: not a run directory (no status.json)") from None
    except (OSError, ValueError) as e:
        raise StatusError(f"{path}: unreadable status record ({e})") from None
    if not isinstance(raw, dict) or "id" not in raw:
        raise StatusError(f"{path}: not an sslterm status record")
    known = set(Status.__dataclass_fields__)
    try:
        return Status(**{k: v for k, v in raw.items() if k in known})
    except TypeError as e:
        raise StatusError(f"{path}: malformed status record ({e})") from None


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists and is not a zombie (on this host)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[0] != "Z"


def touch_heartbeat(run_dir: Path, rank: int = 0) -> None:
    """Record that the worker (of ``rank``) is alive now."""
    name = "heartbeat" if rank == 0 else f"heartbeat.rank{rank}"
    (run_dir / name).write_text(f"{time.time():.3f} {os.getpid()}\n")


def heartbeat_age(run_dir: Path) -> float | None:
    """Seconds since the last heartbeat, or None if there has been none."""
    try:
        return time.time() - (run_dir / "heartbeat").stat().st_mtime
    except OSError:
        return None


def effective_state(run_dir: Path, status: Status) -> str:
    """The state to show: ``lost`` for an active run whose worker is gone."""
    if status.state not in ACTIVE:
        return status.state
    if status.host == socket.gethostname():
        if status.supervisor is not None:  # a supervisor outlives its workers and records their end
            return status.state if pid_alive(status.supervisor) else "lost"
        if status.pid is None:  # the worker never started: give it a minute to record its pid
            return "lost" if time.time() - status.created_at > STALE_SECONDS else status.state
        return status.state if pid_alive(status.pid) else "lost"
    age = heartbeat_age(run_dir)
    if age is None:
        age = time.time() - status.created_at
    return "lost" if age > STALE_SECONDS else status.state
