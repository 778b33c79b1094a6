"""What the user adds to a run from the app: a star, tags and notes, as small files in the run directory.

The worker never writes these. ``notes.txt`` holds free text (UTF-8), ``tags.txt`` one tag per line,
and an empty file ``starred`` marks a starred run. Each is written with the one atomic write
(:mod:`sslterm.atomic`), so a reader sees the old text or the new, never a mix; an empty notes or
tags text removes its file.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from sslterm.atomic import atomic_write_text

NOTES, TAGS, STARRED = "notes.txt", "tags.txt", "starred"


@dataclass(frozen=True)
class Annotations:
    """A run's star, tags and notes."""

    starred: bool = False
    tags: tuple[str, ...] = ()
    notes: str = ""


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return ""


def read_annotations(run_dir: Path) -> Annotations:
    """The star, tags and notes of a run (empty where a file is missing)."""
    tags = tuple(t.strip() for t in _read(run_dir / TAGS).splitlines() if t.strip())
    return Annotations(starred=(run_dir / STARRED).exists(), tags=tags, notes=_read(run_dir / NOTES).strip())


def write_atomic(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` all or nothing (:func:`sslterm.atomic.atomic_write_text`)."""
    atomic_write_text(path, text)


def _write_or_remove(path: Path, text: str) -> None:
    if text:
        write_atomic(path, text)
    else:
        path.unlink(missing_ok=True)


def set_starred(run_dir: Path, starred: bool) -> None:
    """Star (an empty file ``starred``) or unstar a run."""
    if starred:
        write_atomic(run_dir / STARRED, "")
    else:
        (run_dir / STARRED).unlink(missing_ok=True)


def write_notes(run_dir: Path, notes: str) -> None:
    """Replace the run's notes (empty text removes ``notes.txt``)."""
    notes = notes.strip()
    _write_or_remove(run_dir / NOTES, notes + "\n" if notes else "")


def parse_tags(text: str) -> tuple[str, ...]:
    """Tags from what the user typed: separated by spaces or commas, a leading ``#`` dropped, no repeats."""
    seen: dict[str, None] = {}
    for raw in text.replace(",", " ").split():
        tag = raw.lstrip("#")
        if tag:
            seen.setdefault(tag, None)
    return tuple(seen)


def write_tags(run_dir: Path, tags: tuple[str, ...]) -> None:
    """Replace the run's tags, one per line (none removes ``tags.txt``)."""
    _write_or_remove(run_dir / TAGS, "".join(f"{t}\n" for t in tags))
