"""Incremental reader of one run directory for the dashboard: metrics, snapshots, status, log (no UI)."""

from __future__ import annotations

import math
import os
from array import array
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from sslterm.store import JsonlTail, Run, Status, StatusError
from sslterm.store.states import is_active
from sslterm.store.summary import NOT_METRICS, finite

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


_finite = finite
@dataclass
class Column:
    """The finite values of one metric and the steps they were logged at."""

    steps: array[int] = field(default_factory=lambda: array("q"))
    values: array[float] = field(default_factory=lambda: array("d"))

    def cut(self, step: int) -> bool:
        """Drop the values logged at ``step`` or later; whether any were."""
        if not self.steps or self.steps[-1] < step:
            return False
        k = bisect_left(self.steps, step)
        del self.steps[k:], self.values[k:]
        return True


NOT_PLOTTED = tuple(k for k in NOT_METRICS if k != "t")  # ``t`` is kept as a column: it is the time axis


@dataclass
class MetricSeries:
    """Metrics records split into the columns the dashboard draws; steps only ever increase."""

    steps: list[int] = field(default_factory=list)  # steps with a finite loss
    losses: list[float] = field(default_factory=list)
    timing: list[tuple[int, float]] = field(default_factory=list)  # the last (step, t) pairs
    last: dict[str, Any] | None = None  # the newest record as written
    latest: dict[str, float] = field(default_factory=dict)  # the newest finite value of every metric
    columns: dict[str, Column] = field(default_factory=dict)  # every other scalar key, ``t`` included
    low: int | None = None  # the lowest step added: a later batch replaces what it had from there on
    generation: int = 0  # bumped whenever values are dropped, so that derived data (smoothing) starts over

    def add(self, records: Iterable[dict[str, Any]]) -> None:
        """Append records; a step at or below an earlier one (a resumed run) drops what it replaces."""
        steps, losses, timing, columns = self.steps, self.losses, self.timing, self.columns
        newest = max(steps[-1] if steps else -1, timing[-1][0] if timing else -1)
        for rec in records:
            step = rec.get("step")
            if not isinstance(step, int) or isinstance(step, bool):
                continue
            if step <= newest:
                self._cut(step)
            newest = step
            self.low = step if self.low is None else min(self.low, step)
            loss, t = _finite(rec.get("loss")), _finite(rec.get("t"))
            if loss is not None:
                steps.append(step)
                losses.append(loss)
            if t is not None:
                timing.append((step, t))
                if len(timing) > 4 * RATE_WINDOW:
                    del timing[:-RATE_WINDOW]
            self.last = rec
            for k, v in rec.items():
                value = _finite(v)
                if value is None or k in NOT_PLOTTED:
                    continue
                if k != "loss":
                    column = columns.get(k)
                    if column is None:
                        column = columns[k] = Column()
                    column.steps.append(step)
                    column.values.append(value)
                self.latest[k] = value
        del self.timing[:-RATE_WINDOW]

    def merge(self, newer: MetricSeries) -> None:
        """Append a series read later (as :meth:`add` would have, record by record)."""
        if newer.low is not None:
            self._cut(newer.low)
        self.steps.extend(newer.steps)
        self.losses.extend(newer.losses)
        self.timing.extend(newer.timing)
        del self.timing[:-RATE_WINDOW]
        for key, col in newer.columns.items():
            mine = self.columns.get(key)
            if mine is None:
                self.columns[key] = Column(array("q", col.steps), array("d", col.values))
            else:
                mine.steps.extend(col.steps)
                mine.values.extend(col.values)
        if newer.low is not None:
            self.low = newer.low if self.low is None else min(self.low, newer.low)
        self.last = newer.last if newer.last is not None else self.last
        self.latest.update(newer.latest)

    def clear(self) -> None:
        """Forget everything (the metrics file was replaced); the lists stay the same objects."""
        self.steps.clear()
        self.losses.clear()
        self.timing.clear()
        self.columns.clear()
        self.last, self.low = None, None
        self.latest.clear()
        self.generation += 1

    def keys(self) -> list[str]:
        """Every metric seen that can be plotted, loss first."""
        others = sorted(k for k in self.columns if k != "t")
        return ["loss", *others] if self.steps else others

    def column(self, key: str) -> tuple[Sequence[int], Sequence[float]]:
        """The steps and finite values of one metric (empty if never seen)."""
        if key == "loss":
            return self.steps, self.losses
        col = self.columns.get(key)
        return (col.steps, col.values) if col is not None else ((), ())

    def _cut(self, step: int) -> None:
        dropped = False
        if self.steps and self.steps[-1] >= step:
            k = bisect_left(self.steps, step)
            del self.steps[k:], self.losses[k:]
            dropped = True
        while self.timing and self.timing[-1][0] >= step:
            self.timing.pop()
        for col in self.columns.values():
            dropped = col.cut(step) or dropped
        if dropped:
            self.generation += 1


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


__all__ = ["Column", "FeedUpdate", "MetricSeries", "RunFeed", "Snapshot", "is_active", "parse_snapshot", "rate_of"]
