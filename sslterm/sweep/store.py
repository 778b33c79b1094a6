"""The sweep directory: ``<runs>/.sweeps/<id>/`` holds the spec, the trial list and each trial's configuration.

Files (plain JSON and TOML, readable without sslterm):

- ``spec.json``: name, source file, the experiment's raw configuration (without ``[sweep]``), the spec,
  ``parallel`` (slots; 0 = one per visible GPU).
- ``trials.json``: ``state`` (queued, running, paused, cancelled, done) and ``trials``, in queue order, each
  ``{id, settings, seed, state, run_id, slot, error, metric}``; trial states are queued, starting,
  running, done, failed, cancelled, pruned (a search that learns stopped it early). A search that learns adds
  ``optuna`` (the Optuna trial number) and ``value`` (the metric told to Optuna); a SLURM sweep adds ``job``.
  Replaced atomically, and only under ``edit.lock`` (a short flock),
  so the scheduler and the ``sslterm sweep``/``queue`` commands never lose each other's changes.
- ``trials/<trial>.toml``: each trial's resolved configuration; ``scheduler.lock``: held by the scheduler
  for its whole life; ``scheduler.log``: its output.

The runs scanner skips ``.sweeps`` (no ``status.json``), so ``sslterm ls`` is unchanged.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sslterm.atomic import DIR_MODE, atomic_write_text, make_dir
from sslterm.store.lock import flock_held
from sslterm.store.runs import quote_ref

SWEEPS = ".sweeps"
SPEC = "spec.json"
TRIALS = "trials.json"
EDIT_LOCK = "edit.lock"
SCHEDULER_LOCK = "scheduler.lock"
SCHEDULER_LOG = "scheduler.log"
FORMAT = 1

QUEUED, STARTING, RUNNING, DONE, FAILED, CANCELLED = "queued", "starting", "running", "done", "failed", "cancelled"
PAUSED = "paused"
PRUNED = "pruned"  # a trial of a search that learns, stopped early because its metric trailed the median
TRIAL_FINAL = (DONE, FAILED, CANCELLED, PRUNED)


class SweepNotFound(LookupError):
    """A sweep reference that names no sweep, or several."""


@dataclass(frozen=True)
class Sweep:
    """A handle on one sweep directory; reads on demand."""

    path: Path

    @property
    def id(self) -> str:
        return self.path.name

    @property
    def runs_root(self) -> Path:
        return self.path.parent.parent

    def spec(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.path / SPEC).read_text(encoding="utf-8"))
        return data

    def trials(self) -> dict[str, Any]:
        data: dict[str, Any] = json.loads((self.path / TRIALS).read_text(encoding="utf-8"))
        return data

    def trial_config(self, trial_id: str) -> Path:
        return self.path / "trials" / f"{trial_id}.toml"

    @contextlib.contextmanager
    def edit(self) -> Iterator[dict[str, Any]]:
        """The trial list, to change in place: read and written back under ``edit.lock``."""
        fd = os.open(self.path / EDIT_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            data = self.trials()
            yield data
            _write_json(self.path / TRIALS, data)
        finally:
            os.close(fd)                               # releases the lock

    def save_now(self, data: dict[str, Any]) -> None:
        """Write the trial list held in :meth:`edit` before it ends (what must survive a kill of the writer
        right after, such as a trial about to start)."""
        _write_json(self.path / TRIALS, data)


def _write_json(path: Path, data: Any) -> None:
    atomic_write_text(path, json.dumps(data, indent=1) + "\n")


def sweeps_dir(root: Path) -> Path:
    return root / SWEEPS


def create_sweep(root: Path, name: str, record: dict[str, Any], trials: list[dict[str, Any]],
                 configs: dict[str, str]) -> Sweep:
    """Make a new sweep directory with its spec ``record``, its queued ``trials`` and their TOML ``configs``."""
    base = make_dir(sweeps_dir(root))
    stamp = time.strftime("%y%m%d-%H%M%S")
    slug = "".join(c if c.isalnum() or c in "_.-" else "-" for c in name).strip("-.")[:30] or "sweep"
    for _ in range(100):
        path = base / f"{stamp}-{slug}-{secrets.token_hex(2)}"
        try:
            os.mkdir(path, DIR_MODE)
            break
        except FileExistsError:
            continue
    else:
        raise RuntimeError(f"could not create a unique sweep directory in {base}")
    make_dir(path / "trials")
    for tid, text in configs.items():
        atomic_write_text(path / "trials" / f"{tid}.toml", text)
    _write_json(path / SPEC, {"format": FORMAT, "id": path.name, "created_at": time.time(), **record})
    _write_json(path / TRIALS, {"state": QUEUED, "trials": [
        {"state": QUEUED, "run_id": None, "slot": None, "error": None, "metric": None, **t} for t in trials]})
    return Sweep(path)


def list_sweeps(root: Path) -> list[Sweep]:
    """Every sweep under ``root``, oldest first."""
    base = sweeps_dir(root)
    if not base.is_dir():
        return []
    return sorted((Sweep(p) for p in base.iterdir() if (p / TRIALS).is_file()), key=lambda s: s.id)


def find_sweep(root: Path, ref: str) -> Sweep:
    """The sweep ``ref`` names: an id, a unique prefix or part of one, or a sweep directory."""
    if not ref.strip():
        raise SweepNotFound("an empty sweep reference names no sweep; give its id (see `sslterm queue`)")
    as_path = Path(ref)
    try:
        if (as_path / TRIALS).is_file():
            return Sweep(as_path)
    except OSError:                                  # not a usable path (a name too long...): an id, then
        pass
    sweeps = list_sweeps(root)
    matches = [s for s in sweeps if s.id == ref] or [s for s in sweeps if s.id.startswith(ref)] or [
        s for s in sweeps if ref in s.id]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise SweepNotFound(f"no sweep matches {quote_ref(ref)} in {sweeps_dir(root)}/ ({len(sweeps)} sweeps); "
                            "see `sslterm queue`")
    raise SweepNotFound(f"{quote_ref(ref)} matches {len(matches)} sweeps ({', '.join(s.id for s in matches[:5])}); "
                        "give more of the id")


def scheduler_running(sweep: Sweep) -> bool:
    """Whether a scheduler holds the sweep's ``scheduler.lock`` now."""
    return flock_held(sweep.path / SCHEDULER_LOCK) is True


def take_scheduler_lock(sweep: Sweep) -> int | None:
    """The sweep's scheduler lock, held until this process ends; None when another scheduler has it."""
    fd = os.open(sweep.path / SCHEDULER_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
    return fd
