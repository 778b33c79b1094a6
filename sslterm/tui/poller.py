"""Incremental readers of run directories for the app: one run's feed, and the runs list (no UI)."""

from __future__ import annotations

import math
import os
from array import array
from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sslterm.store import ACTIVE, JsonlTail, Run, Status, StatusError, list_runs

RATE_WINDOW = 64  # (step, t) pairs kept for the rate: recent enough to follow a change of speed
LOG_LINES = 20


@dataclass(frozen=True, eq=False)
class Snapshot:
    """One similarity snapshot: an n×n matrix stored flat, row-major (NaN where the worker wrote null)."""

    step: int
    n: int
    values: array[float]

    def row(self, i: int) -> array[float]:
        return self.values[i * self.n : (i + 1) * self.n]


def parse_snapshot(rec: dict[str, Any]) -> Snapshot | None:
    """A similarity snapshot from its record, or None if it is another kind or malformed."""
    if rec.get("kind", "similarity") != "similarity":
        return None
    rows, step = rec.get("values"), rec.get("step")
    if not isinstance(rows, list) or not rows or not isinstance(step, int):
        return None
    n = len(rows)
    flat = array("f")
    for row in rows:
        if not isinstance(row, list) or len(row) != n:
            return None
        flat.extend(float(v) if isinstance(v, (int, float)) else math.nan for v in row)
    return Snapshot(step=step, n=n, values=flat)


def _finite(v: Any) -> float | None:
    if isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v):
        return float(v)
    return None


@dataclass
class MetricSeries:
    """Metrics records split into the columns the dashboard draws; steps only ever increase."""

    steps: list[int] = field(default_factory=list)  # steps with a finite loss
    losses: list[float] = field(default_factory=list)
    timing: list[tuple[int, float]] = field(default_factory=list)  # the last (step, t) pairs
    last: dict[str, Any] | None = None  # the newest record as written
    latest: dict[str, float] = field(default_factory=dict)  # the newest finite value of every metric

    def add(self, records: Iterable[dict[str, Any]]) -> None:
        """Append records; a step at or below an earlier one (a resumed run) drops what it replaces."""
        steps, losses, timing = self.steps, self.losses, self.timing
        newest = max(steps[-1] if steps else -1, timing[-1][0] if timing else -1)
        for rec in records:
            step = rec.get("step")
            if not isinstance(step, int) or isinstance(step, bool):
                continue
            if step <= newest:
                self._cut(step)
            newest = step
            loss, t = _finite(rec.get("loss")), _finite(rec.get("t"))
            if loss is not None:
                steps.append(step)
                losses.append(loss)
            if t is not None:
                timing.append((step, t))
                if len(timing) > 4 * RATE_WINDOW:
                    del timing[:-RATE_WINDOW]
            self.last = rec
            self.latest.update((k, v) for k, v in rec.items() if _finite(v) is not None and k != "step")
        del self.timing[:-RATE_WINDOW]

    def merge(self, newer: MetricSeries) -> None:
        """Append a series read later (as :meth:`add` would have, record by record)."""
        if newer.steps:
            self._cut(newer.steps[0])
        if newer.timing:
            self._cut(newer.timing[0][0])
        self.steps.extend(newer.steps)
        self.losses.extend(newer.losses)
        self.timing.extend(newer.timing)
        del self.timing[:-RATE_WINDOW]
        self.last = newer.last if newer.last is not None else self.last
        self.latest.update(newer.latest)

    def clear(self) -> None:
        """Forget everything (the metrics file was replaced); the lists stay the same objects."""
        self.steps.clear()
        self.losses.clear()
        self.timing.clear()
        self.last = None
        self.latest.clear()

    def _cut(self, step: int) -> None:
        if self.steps and self.steps[-1] >= step:
            k = bisect_left(self.steps, step)
            del self.steps[k:], self.losses[k:]
        while self.timing and self.timing[-1][0] >= step:
            self.timing.pop()


@dataclass
class FeedUpdate:
    """What one poll of a run directory found; fields are None or empty where nothing changed."""

    status: Status | None
    state: str
    status_error: str | None
    metrics: MetricSeries
    snapshots: list[Snapshot]
    log: tuple[str, ...] | None
    reset: bool = False  # the metrics file was replaced: drop everything shown so far


class RunFeed:
    """Reads one run directory incrementally; its :meth:`poll` is called from one thread at a time."""

    def __init__(self, run: Run) -> None:
        self.run = run
        self._metrics: JsonlTail = run.tail_metrics()
        self._snapshots: JsonlTail = run.tail_snapshots()
        self._log_key: tuple[int, int] | None = None

    def poll(self) -> FeedUpdate:
        """Everything new since the last poll (the first poll reads the whole run)."""
        try:
            status: Status | None = self.run.status()
            state, error = self.run.state(), None
        except StatusError as e:
            status, state, error = None, "unknown", str(e)
        before = self._metrics.offset
        batch = MetricSeries()
        batch.add(self._metrics.read_all())
        snapshots = [s for s in map(parse_snapshot, self._snapshots.read_all()) if s is not None]
        return FeedUpdate(
            status=status, state=state, status_error=error, metrics=batch, snapshots=snapshots,
            log=self._read_log(), reset=self._metrics.offset < before,
        )

    def _read_log(self) -> tuple[str, ...] | None:
        try:
            st = os.stat(self.run.log_path)
        except OSError:
            return None
        key = (st.st_size, st.st_mtime_ns)
        if key == self._log_key:
            return None
        self._log_key = key
        return tuple(self.run.log_tail(LOG_LINES))


def rate_of(timing: list[tuple[int, float]]) -> float | None:
    """Steps per second over the recent (step, t) pairs, or None with too little to go on."""
    if len(timing) < 2:
        return None
    (s0, t0), (s1, t1) = timing[0], timing[-1]
    if t1 <= t0 or s1 <= s0:
        return None
    return (s1 - s0) / (t1 - t0)


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


class RunsScanner:
    """Lists the runs under a root with their state and last loss, reading only new bytes each scan."""

    TAIL_START = 64 << 10  # a run seen for the first time is read from this far before its end

    def __init__(self, root: Path) -> None:
        self.root = root
        self._tails: dict[str, JsonlTail] = {}
        self._loss: dict[str, float | None] = {}
        self._objective: dict[str, str] = {}

    def scan(self) -> list[RunRow]:
        """The runs now under the root, newest first."""
        rows = []
        for run in reversed(list_runs(self.root)):
            try:
                status, state = run.status(), run.state()
            except StatusError:
                continue
            rows.append(RunRow(
                id=run.id, path=run.path, state=state, objective=self._objective_of(run),
                step=status.step, total=status.total_steps, loss=self._last_loss(run),
            ))
        return rows

    def _objective_of(self, run: Run) -> str:
        if run.id not in self._objective:
            objective = run.config().get("objective", {})
            self._objective[run.id] = str(objective.get("name", "-")) if isinstance(objective, dict) else "-"
        return self._objective[run.id]

    def _last_loss(self, run: Run) -> float | None:
        tail = self._tails.get(run.id)
        if tail is None:
            tail = self._tails[run.id] = run.tail_metrics()
            tail.offset = _line_start_near_end(run.metrics_path, self.TAIL_START)
        for rec in tail.read_all():
            loss = _finite(rec.get("loss"))
            if loss is not None:
                self._loss[run.id] = loss
        return self._loss.get(run.id)


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


def is_active(state: str) -> bool:
    """Whether a run in this state may still write."""
    return state in ACTIVE
