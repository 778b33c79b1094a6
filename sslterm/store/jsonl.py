"""Append-only JSON-lines logs: one writer appends whole records, any number of readers tail.

A record is one JSON object on one line ending in ``\\n``. A reader remembers the byte offset
after the last complete line it consumed and only ever reads bytes past it, so polling a
growing file costs only the new bytes. A last line without its newline is a record still
being written: it is left for the next read, never parsed. A line that is not a JSON object
(a corrupt record) is counted in ``bad`` and skipped; it never raises; so is a line longer than
:data:`MAX_RECORD` bytes, and the reader goes on after it. A log that is not a file (a directory
in its place) reads as empty with ``problem`` saying why. A reader whose offset no longer follows a
newline, or lies past the end (the log was cut back by a resume), starts over.

The writer never follows a symbolic link: a log that is a link is refused (``O_NOFOLLOW``), so a
run directory can never make sslterm append to, or cut back, a file outside it.
"""

from __future__ import annotations

import errno
import json
import math
import os
from pathlib import Path
from typing import Any

from sslterm.atomic import FILE_MODE

_CHUNK = 8 << 20  # bytes read per call at most, so one poll never blocks a viewer for long
MAX_RECORD = _CHUNK
"""The longest record line a reader accepts; a longer one is skipped and counted in ``bad``."""
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)


class SymlinkRefused(OSError):
    """A file sslterm would write or cut back is a symbolic link; it is never followed."""

    def __str__(self) -> str:
        return f"{self.filename} is a symbolic link; sslterm writes only regular files in a run directory"


def open_no_follow(path: Path, flags: int) -> int:
    """``os.open`` that refuses a symbolic link at ``path`` (SymlinkRefused); new files get FILE_MODE."""
    if path.is_symlink():
        raise SymlinkRefused(errno.ELOOP, os.strerror(errno.ELOOP), str(path))
    try:
        return os.open(path, flags | _NOFOLLOW, FILE_MODE)
    except OSError as e:
        if e.errno == errno.ELOOP:                             # made a link since the check above
            raise SymlinkRefused(e.errno, e.strerror, str(path)) from None
        raise OSError(e.errno, e.strerror, str(path)) from None


def _finite(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None if math.isnan(v) else ("inf" if v > 0 else "-inf")
    return v


def encode(record: dict[str, Any]) -> bytes:
    """One record as a line of strict JSON (NaN becomes null, infinities become strings)."""
    clean = {k: _finite(v) for k, v in record.items()}
    return (json.dumps(clean, separators=(",", ":"), allow_nan=False) + "\n").encode()


class JsonlWriter:
    """Appends records to a JSON-lines file; the only writer of that file."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        fd = open_no_follow(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
        self._f = os.fdopen(fd, "ab")  # kept open for the run's lifetime

    def write(self, record: dict[str, Any]) -> None:
        """Append one record and hand it to the OS, so readers see it at once (OSError naming the file)."""
        try:
            self._f.write(encode(record))
            self._f.flush()
        except OSError as e:
            raise OSError(e.errno, e.strerror, str(self.path)) from e

    def sync(self) -> None:
        """Force written records to stable storage (used next to checkpoints)."""
        try:
            self._f.flush()
            os.fsync(self._f.fileno())
        except OSError as e:
            raise OSError(e.errno, e.strerror, str(self.path)) from e

    def close(self) -> None:
        """Flush and close the file."""
        if not self._f.closed:
            self._f.flush()
            self._f.close()


class JsonlTail:
    """Reads the complete records appended to a JSON-lines file since the last call."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.offset = 0
        self.bad = 0
        self.problem: str | None = None

    def read(self, max_bytes: int = _CHUNK) -> list[dict[str, Any]]:
        """Records completed since the last read (empty if none, or if the file is missing or not a file)."""
        try:
            chunk = self._complete_lines(max_bytes)
        except FileNotFoundError:
            return []
        except IsADirectoryError:
            self.problem = f"{self.path.name} is a directory, not a log file"
            return []
        except OSError as e:
            self.problem = f"cannot read {self.path.name}: {e.strerror or e}"
            return []
        self.offset += len(chunk)
        return self._parse(chunk)

    def _complete_lines(self, max_bytes: int) -> bytes:
        """The whole lines (up to ``max_bytes``, or one record longer than that) after the offset."""
        with open(self.path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < self.offset:  # the file was replaced or truncated: start over
                self.offset = 0
            elif self.offset:  # cut back (a resume) and grown past us again: a line no longer ends here
                f.seek(self.offset - 1)
                if f.read(1) != b"\n":
                    self.offset = 0
            f.seek(self.offset)
            chunk = f.read(max_bytes)
            if b"\n" not in chunk and len(chunk) == max_bytes < MAX_RECORD:    # one record longer than a read
                chunk += f.read(MAX_RECORD - len(chunk))
            if b"\n" not in chunk and len(chunk) >= MAX_RECORD:
                self._skip_long_line(f)
        return chunk[: chunk.rfind(b"\n") + 1]

    def _parse(self, chunk: bytes) -> list[dict[str, Any]]:
        """The JSON objects among ``chunk``'s lines; anything else is counted in ``bad``."""
        out: list[dict[str, Any]] = []
        for line in chunk.splitlines():
            if not line.strip():
                continue
            try:
                obj = json.loads(line) if len(line) <= MAX_RECORD else None
            except (ValueError, RecursionError):               # not JSON, or nested deeper than the parser goes
                obj = None
            if isinstance(obj, dict):
                out.append(obj)
            else:
                self.bad += 1
        return out

    def _skip_long_line(self, f: Any) -> None:
        """Move past a line longer than any record (counted in ``bad``), once its newline is written."""
        pos = f.tell()
        while True:
            block = f.read(1 << 20)
            if not block:
                return                                  # its end is not written yet: try again later
            nl = block.find(b"\n")
            if nl >= 0:
                self.offset = pos + nl + 1
                self.bad += 1
                self.problem = f"{self.path.name}: a line longer than {MAX_RECORD >> 20} MB was skipped"
                return
            pos += len(block)

    def read_all(self) -> list[dict[str, Any]]:
        """Every complete record not yet read, however many reads that takes."""
        out: list[dict[str, Any]] = []
        while True:
            before = self.offset
            out.extend(self.read())
            if self.offset == before:
                return out


def read_records(path: str | Path) -> list[dict[str, Any]]:
    """All complete records of a JSON-lines file (a one-shot read)."""
    return JsonlTail(path).read_all()


def truncate_after(path: str | Path, step: int) -> int:
    """Cut a log back to its records with ``step`` ≤ ``step`` (a resumed run logs the rest again).

    The cut is a single ``truncate`` at the end of the last record kept, so what remains is
    byte-for-byte what readers may already have read. Returns the number of records dropped.
    A log that is a symbolic link is refused (OSError), never followed.
    """
    try:
        fd = open_no_follow(Path(path), os.O_RDWR)
    except FileNotFoundError:
        return 0
    with os.fdopen(fd, "r+b") as f:
        data = f.read()
        keep, dropped = _cut_point(data, step)
        if keep < len(data):
            f.truncate(keep)
            f.flush()
            os.fsync(f.fileno())
    return dropped


def _cut_point(data: bytes, step: int) -> tuple[int, int]:
    """(bytes up to the end of the last record kept, records past ``step``) of a log's contents."""
    keep, dropped, pos = 0, 0, 0
    for line in data.splitlines(keepends=True):
        pos += len(line)
        if not line.endswith(b"\n"):
            break                                                  # a torn last record
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        rec_step = rec.get("step") if isinstance(rec, dict) else None
        if isinstance(rec_step, int) and rec_step > step:
            dropped += 1
            continue
        if dropped == 0:
            keep = pos
    return keep, dropped
