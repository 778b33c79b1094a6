"""Where prepared datasets live on disk and how an entry is named, fingerprinted, listed and removed.

A prepared dataset is a directory ``<root>/<kind>-<key>/`` holding memory-mappable arrays and a
``manifest.json`` written last (an entry without a manifest is unfinished). ``<root>`` is
``$SSLTERM_DATA_CACHE``, else ``$XDG_CACHE_HOME/sslterm/data``, else ``~/.cache/sslterm/data``: one
place per user, shared by every runs directory, as prepared data depends on the source alone. The
key digests the source's absolute path and the options that decide the arrays; the manifest also
records a fingerprint of the source's files (names, sizes, modification times), so a changed source
is seen and the entry rebuilt, never silently reused. Nothing here imports torch or numpy.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sslterm.atomic import FILE_MODE, atomic_write_text, make_dir

MANIFEST = "manifest.json"
FORMAT_VERSION = 1
"""Bumped when the layout of an entry changes; entries of another version are rebuilt."""


def cache_root() -> Path:
    """The directory holding every prepared dataset of this user."""
    if os.environ.get("SSLTERM_DATA_CACHE"):
        return Path(os.environ["SSLTERM_DATA_CACHE"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "sslterm" / "data"


def entry_dir(kind: str, source: Path, options: dict[str, Any], root: Path | None = None) -> Path:
    """The directory of the entry of ``kind`` for ``source`` prepared with ``options``."""
    text = json.dumps({"kind": kind, "source": str(source.resolve()), "options": options,
                       "version": FORMAT_VERSION}, sort_keys=True, default=str)
    return (root or cache_root()) / f"{kind}-{hashlib.sha256(text.encode()).hexdigest()[:16]}"


def fingerprint(files: Iterable[Path], root: Path) -> dict[str, Any]:
    """A digest of the files' paths (relative to ``root``), sizes and modification times, with counts."""
    h = hashlib.sha256()
    count = size = 0
    for f in files:
        st = f.stat()
        h.update(f"{f.relative_to(root) if f != root else f.name}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
        count, size = count + 1, size + st.st_size
    return {"files_hash": h.hexdigest(), "files": count, "source_bytes": size}


def read_manifest(entry: Path) -> dict[str, Any] | None:
    """The manifest of a finished entry, or None (none yet, or unreadable: either way, prepare again)."""
    try:
        manifest = json.loads((entry / MANIFEST).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return manifest if isinstance(manifest, dict) and manifest.get("version") == FORMAT_VERSION else None


def write_manifest(entry: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """Finish an entry: its manifest, written atomically after every array it describes (and returned)."""
    manifest = {**manifest, "version": FORMAT_VERSION}
    atomic_write_text(entry / MANIFEST, json.dumps(manifest, indent=1) + "\n")
    return manifest


def start_entry(entry: Path) -> Path:
    """An entry directory ready to be (re)written: an old manifest is removed first, so a crash leaves it unfinished."""
    make_dir(entry)
    (entry / MANIFEST).unlink(missing_ok=True)
    return entry


@contextlib.contextmanager
def preparing(entry: Path, wait: bool = True) -> Iterator[None]:
    """Hold the exclusive lock of ``entry`` (a ``flock`` on ``<entry>.lock`` beside it) while it is written.

    Two processes preparing the same source (the ranks of one job, two runs started together) take
    turns: the second waits, then finds the entry finished. With ``wait`` false a held lock raises
    ``BlockingIOError`` at once. The kernel releases the lock when its holder ends, however it ends.
    """
    make_dir(entry.parent)
    fd = os.open(entry.with_name(entry.name + ".lock"), os.O_RDWR | os.O_CREAT, FILE_MODE)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            if not wait:
                raise
            print(f"waiting for another process preparing {entry}", file=sys.stderr, flush=True)
            fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


@dataclass(frozen=True)
class Entry:
    """One prepared dataset as ``sslterm data ls`` shows it."""

    path: Path
    kind: str
    source: str
    finished: bool
    size: int
    manifest: dict[str, Any]


def reuse_or_prepare(entry: Path, prints: dict[str, Any],
                     prepare: Callable[[dict[str, Any] | None], tuple[Path, dict[str, Any]]]
                     ) -> tuple[Path, dict[str, Any]]:
    """The entry and its manifest when it was prepared from these very files, else ``prepare(stale manifest)``.

    Preparing happens under the entry's lock, and the manifest is read again once the lock is held, so two
    processes that need the same data take turns and the second reuses what the first prepared.
    """
    manifest = read_manifest(entry)
    if manifest is not None and manifest.get("fingerprint") == prints:
        return entry, manifest
    with preparing(entry):
        manifest = read_manifest(entry)
        if manifest is not None and manifest.get("fingerprint") == prints:
            return entry, manifest
        return prepare(manifest)


def entries(root: Path | None = None) -> list[Entry]:
    """Every entry under ``root`` (finished or not), by name."""
    base = root or cache_root()
    if not base.is_dir():
        return []
    out = []
    for d in sorted(p for p in base.iterdir() if p.is_dir() and "-" in p.name):
        manifest = read_manifest(d) or {}
        size = sum(f.stat().st_size for f in d.rglob("*") if f.is_file())
        out.append(Entry(d, d.name.split("-", 1)[0], str(manifest.get("source") or _planned_source(d)),
                         bool(manifest), size, manifest))
    return out


def _planned_source(entry: Path) -> str:
    """The source an unfinished entry is being prepared from (its ``plan.json``), or ``?``."""
    try:
        plan = json.loads((entry / "plan.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "?"
    return str(plan.get("source", "?")) if isinstance(plan, dict) else "?"


def remove(entry: Path) -> None:
    """Delete an entry: its manifest first (it is unfinished from then on), then its files.

    Raises ``BlockingIOError`` when a process is preparing it.
    """
    with preparing(entry, wait=False):
        (entry / MANIFEST).unlink(missing_ok=True)
        shutil.rmtree(entry, ignore_errors=False)
        entry.with_name(entry.name + ".lock").unlink(missing_ok=True)
