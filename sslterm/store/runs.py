"""Run directories: where they live, how they are named, created, listed and found.

One directory per run under a runs root (``--runs-dir``, else ``$SSLTERM_RUNS``, else
``./runs``). See docs/run-format.md for the files inside.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sslterm import tomlio
from sslterm.atomic import DIR_MODE, make_dir
from sslterm.store.jsonl import JsonlTail, read_records
from sslterm.store.status import Status, StatusError, effective_state, read_status, write_json_atomic

ENV_RUNS = "SSLTERM_RUNS"
CONFIG = "config.toml"
METRICS = "metrics.jsonl"
SNAPSHOTS = "snapshots.jsonl"
LOG = "worker.log"
CHECKPOINTS = "checkpoints"
CHECKPOINT = "last.pt"  # the latest checkpoint, inside CHECKPOINTS: the one place its name is written
EVAL = "eval.json"


class RunNotFound(LookupError):
    """A run reference that names no run, or more than one."""


def runs_root(explicit: str | Path | None = None) -> Path:
    """The runs root: the explicit argument, else ``$SSLTERM_RUNS``, else ``./runs``."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(ENV_RUNS)
    return Path(env) if env else Path("runs")


@dataclass(frozen=True)
class Run:
    """A handle on one run directory; reads files on demand and caches nothing."""

    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def metrics_path(self) -> Path:
        return self.path / METRICS

    @property
    def snapshots_path(self) -> Path:
        return self.path / SNAPSHOTS

    @property
    def log_path(self) -> Path:
        return self.path / LOG

    @property
    def checkpoint_dir(self) -> Path:
        return self.path / CHECKPOINTS

    @property
    def checkpoint_path(self) -> Path:
        """The latest checkpoint (``checkpoints/last.pt``), whether or not it exists yet."""
        return self.path / CHECKPOINTS / CHECKPOINT

    def has_checkpoint(self) -> bool:
        return self.checkpoint_path.is_file()

    def clear_logs(self) -> None:
        """Empty the metrics and snapshot logs, for a run that starts again from step 0 (symlinks not followed)."""
        for path in (self.metrics_path, self.snapshots_path):
            try:
                fd = os.open(path, os.O_WRONLY | getattr(os, "O_NOFOLLOW", 0))
            except FileNotFoundError:
                continue
            try:
                os.ftruncate(fd, 0)
            finally:
                os.close(fd)

    def status(self) -> Status:
        return read_status(self.path)

    def state(self) -> str:
        """The state to show, with dead workers reported as ``lost``."""
        return effective_state(self.path, self.status())

    def config(self) -> dict[str, Any]:
        """The resolved configuration saved in the run (raw TOML data)."""
        try:
            return tomlio.loads((self.path / CONFIG).read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):     # missing, not UTF-8, not TOML (TOMLDecodeError), too deep
            return {}

    def evaluation(self) -> dict[str, Any] | None:
        """The results of ``sslterm eval``, or None if it has not been run."""
        try:
            data = json.loads((self.path / EVAL).read_text(encoding="utf-8"))
        except (OSError, ValueError, RecursionError):
            return None
        return data if isinstance(data, dict) else None

    def save_evaluation(self, record: dict[str, Any]) -> None:
        """Store the results of ``sslterm eval`` (replaced atomically)."""
        write_json_atomic(self.path / EVAL, record)

    def metrics(self) -> list[dict[str, Any]]:
        """Every complete metrics record so far."""
        return read_records(self.metrics_path)

    def tail_metrics(self) -> JsonlTail:
        return JsonlTail(self.metrics_path)

    def tail_snapshots(self) -> JsonlTail:
        return JsonlTail(self.snapshots_path)

    def log_tail(self, lines: int = 20, max_bytes: int = 64 << 10) -> list[str]:
        """The last lines of the worker's log."""
        try:
            with open(self.log_path, "rb") as f:
                f.seek(max(0, os.fstat(f.fileno()).st_size - max_bytes))
                data = f.read()
        except OSError:
            return []
        return data.decode("utf-8", errors="replace").splitlines()[-lines:]


def _slug(name: str) -> str:
    s = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.")
    return s[:40] or "run"


def create_run(root: Path, name: str) -> Run:
    """Make a new, uniquely named run directory (never reusing an existing one)."""
    make_dir(root)
    stamp = time.strftime("%y%m%d-%H%M%S")
    for _ in range(100):
        path = root / f"{stamp}-{_slug(name)}-{secrets.token_hex(2)}"
        try:
            os.mkdir(path, DIR_MODE)
        except FileExistsError:
            continue
        os.chmod(path, DIR_MODE)
        make_dir(path / CHECKPOINTS)
        return Run(path)
    raise RuntimeError(f"could not create a unique run directory in {root}")


def list_runs(root: Path) -> list[Run]:
    """Every run under ``root``, oldest first (directories without a status are skipped)."""
    if not root.is_dir():
        return []
    runs = [Run(p) for p in root.iterdir() if p.is_dir() and _has_status(p)]
    return sorted(runs, key=lambda r: r.id)


def _has_status(path: Path) -> bool:
    """Whether ``path`` holds a status record, a damaged one included (a link to nowhere: listed as unreadable)."""
    status = path / "status.json"
    return status.is_file() or status.is_symlink()


def find_run(root: Path, ref: str) -> Run:
    """The run that ``ref`` names: a run directory's path, an id, or a unique id prefix (RunNotFound, one line,
    quoting at most 80 characters of ``ref``, when none or several match)."""
    if not ref.strip():
        raise RunNotFound("the run reference is empty: give a run's id, a unique prefix of one, or its directory")
    as_path = Path(ref)
    try:
        is_run, is_dir = (as_path / "status.json").is_file(), as_path.is_dir()
    except (OSError, ValueError):                       # a name too long for the filesystem, a loop of links
        is_run = is_dir = False
    if is_run:
        return Run(as_path)
    shown_ref = quote_ref(ref)
    if is_dir and (os.sep in ref or ref.startswith(".")):
        raise RunNotFound(f"{shown_ref}: not a run directory (no status.json)")
    runs = list_runs(root)
    exact = [r for r in runs if r.id == ref]
    if exact:
        return exact[0]
    matches = [r for r in runs if r.id.startswith(ref)] or [r for r in runs if ref in r.id]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        where = f"{root}/ ({len(runs)} runs)" if root.is_dir() else f"{root}/ (no such directory)"
        raise RunNotFound(f"no run matches {shown_ref} in {where}; see `sslterm ls`")
    shown = ", ".join(r.id for r in matches[:5]) + (", ..." if len(matches) > 5 else "")
    raise RunNotFound(f"{shown_ref} matches {len(matches)} runs ({shown}); give more of the id")


def quote_ref(ref: str, limit: int = 80) -> str:
    """``ref`` quoted for a one-line message: cut to ``limit`` characters, its length said when cut."""
    if len(ref) <= limit:
        return repr(ref)
    return f"{ref[: limit - 1]!r}… ({len(ref)} characters)"


__all__ = ["CHECKPOINT", "Run", "RunNotFound", "StatusError", "create_run", "find_run", "list_runs", "quote_ref",
           "runs_root"]
