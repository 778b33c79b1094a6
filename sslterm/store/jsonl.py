"""Append-only JSON-lines logs: one writer appends whole records, any number of readers tail.

A record is one JSON object on one line ending in ``\\n``. A reader remembers the byte offset
after the last complete line it consumed and only ever reads bytes past it, so polling a
growing file costs only the new bytes. A last line without its newline is a record still
being written: it is left for the next read, never parsed. A line that is not a JSON object
(a corrupt record) is counted in ``bad`` and skipped; it never raises. A reader whose offset no
longer follows a newline, or lies past the end (the log was cut back by a resume), starts over.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

_CHUNK = 8 << 20  # bytes read per call at most, so one poll never blocks a viewer for long


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
        self._f = open(self.path, "ab")  # noqa: SIM115 - kept open for the run's lifetime

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

    def read(self, max_bytes: int = _CHUNK) -> list[dict[str, Any]]:
        """Records completed since the last read (empty if none, or if the file is missing)."""
        try:
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
        except FileNotFoundError:
            return []
        end = chunk.rfind(b"\n")
        if end < 0:
            return []
        self.offset += end + 1
        out: list[dict[str, Any]] = []
        for line in chunk[: end + 1].splitlines():
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                self.bad += 1
                continue
            if isinstance(obj, dict):
                out.append(obj)
            else:
                self.bad += 1
        return out

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
    """
    p = Path(path)
    try:
        data = p.read_bytes()
    except FileNotFoundError:
        return 0
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
    if keep < len(data):
        with open(p, "r+b") as f:
            f.truncate(keep)
            f.flush()
            os.fsync(f.fileno())
    return dropped
