"""Lists the runs under a root for the runs browser, reading only what changed since the last scan (no UI)."""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sslterm.store import JsonlTail, Run, StatusError, list_runs
from sslterm.tui.annotations import Annotations, read_annotations
from sslterm.tui.poller import is_active


def _finite(v: Any) -> float | None:
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        return float(v)
    return None


@dataclass(frozen=True)
class RunRow:
    """One line of the runs list."""

    id: str
    path: Path
    state: str
    objective: str
    step: int
    total: int
    loss: float | None
    name: str = "-"
    modality: str = "-"
    probe: float | None = None  # eval.json's linear probe, else the newest probe_acc, else knn_acc
    probe_evaluated: bool = False  # whether ``probe`` comes from eval.json
    duration: int | None = None  # seconds of training so far (to the end for a run that ended)
    starred: bool = False
    tags: tuple[str, ...] = ()
    notes: str = ""

    def haystack(self) -> str:
        """What the filter searches, lower-cased: id, name, modality, objective, state and tags."""
        return " ".join((self.id, self.name, self.modality, self.objective, self.state, *self.tags)).lower()


@dataclass(frozen=True)
class _DirInfo:
    """What is read again only when the run directory's modification time changes."""

    mtime_ns: int
    annotations: Annotations
    evaluated: float | None


class RunsScanner:
    """Lists the runs under a root with their state, last loss and probe accuracy, reading only new bytes."""

    TAIL_START = 64 << 10  # a run seen for the first time is read from this far before its end

    def __init__(self, root: Path) -> None:
        self.root = root
        self._tails: dict[str, JsonlTail] = {}
        self._loss: dict[str, float | None] = {}
        self._probe: dict[str, float] = {}
        self._config: dict[str, tuple[str, str, str]] = {}
        self._dirs: dict[str, _DirInfo] = {}

    def scan(self) -> list[RunRow]:
        """The runs now under the root, newest first."""
        rows, now = [], time.time()
        for run in reversed(list_runs(self.root)):
            try:
                status, state = run.status(), run.state()
            except StatusError:
                continue
            name, modality, objective = self._config_of(run)
            loss, probe = self._tail(run)
            info = self._dir_info(run)
            duration = None
            if status.started_at is not None:
                end = now if is_active(state) else (status.ended_at or now)
                duration = max(0, int(end - status.started_at))
            rows.append(RunRow(
                id=run.id, path=run.path, state=state, objective=objective, step=status.step,
                total=status.total_steps, loss=loss, name=name, modality=modality,
                probe=info.evaluated if info.evaluated is not None else probe,
                probe_evaluated=info.evaluated is not None, duration=duration,
                starred=info.annotations.starred, tags=info.annotations.tags, notes=info.annotations.notes,
            ))
        return rows

    def forget(self, run_id: str) -> None:
        """Read the run's star, tags, notes and evaluation again at the next scan (after the app wrote them)."""
        self._dirs.pop(run_id, None)

    def _config_of(self, run: Run) -> tuple[str, str, str]:
        if run.id not in self._config:
            cfg = run.config()

            def get(table: str, key: str) -> str:
                body = cfg.get(table)
                value = body.get(key) if isinstance(body, dict) else None
                return str(value) if value is not None else "-"

            name = cfg.get("name")
            self._config[run.id] = (str(name) if name else "-", get("data", "modality"), get("objective", "name"))
        return self._config[run.id]

    def _dir_info(self, run: Run) -> _DirInfo:
        try:
            mtime = os.stat(run.path).st_mtime_ns
        except OSError:
            mtime = -1
        info = self._dirs.get(run.id)
        if info is None or info.mtime_ns != mtime:
            evaluation = run.evaluation() or {}
            probe = evaluation.get("linear_probe")
            accuracy = _finite(probe.get("accuracy")) if isinstance(probe, dict) else None
            info = self._dirs[run.id] = _DirInfo(mtime, read_annotations(run.path), accuracy)
        return info

    def _tail(self, run: Run) -> tuple[float | None, float | None]:
        tail = self._tails.get(run.id)
        if tail is None:
            tail = self._tails[run.id] = run.tail_metrics()
            tail.offset = _line_start_near_end(run.metrics_path, self.TAIL_START)
        before = tail.offset
        records = tail.read_all()
        if tail.offset < before:  # the log was cut back (a resume) and read again from its start
            self._loss.pop(run.id, None)
            self._probe.pop(run.id, None)
        for rec in records:
            loss = _finite(rec.get("loss"))
            if loss is not None:
                self._loss[run.id] = loss
            probe = _finite(rec.get("probe_acc"))
            probe = probe if probe is not None else _finite(rec.get("knn_acc"))
            if probe is not None:
                self._probe[run.id] = probe
        return self._loss.get(run.id), self._probe.get(run.id)


def _line_start_near_end(path: Path, nbytes: int) -> int:
    """The offset of the first line that starts in the last ``nbytes`` of a file (0 if it is short)."""
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size <= nbytes:
                return 0
            f.seek(size - nbytes)
            chunk = f.read(nbytes)
    except OSError:
        return 0
    cut = chunk.find(b"\n")
    return size - nbytes + cut + 1 if cut >= 0 else size
