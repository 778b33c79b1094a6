"""Sensitivity of a sweep: a final metric against one swept key, as mean ± std over the trials of each value.

Torch-free and face-free: ``sslterm sweep show SWEEP --plot KEY`` draws it in the terminal and the app's
sensitivity view reuses :func:`sweep_sensitivity` (reads the sweep's finished trials) or :func:`sensitivity`
(over rows the caller already holds).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from typing import Any

from sslterm.compare_groups import RANK_ORDER, stat_of
from sslterm.store import Run
from sslterm.sweep.store import DONE, Sweep

Row = tuple[dict[str, Any], dict[str, float]]
"""One finished trial: its settings (swept key → value) and its metrics (final values and ``eval.*`` results)."""


@dataclass(frozen=True)
class Point:
    """One value of the key: the mean and sample standard deviation (None with one trial) of the metric over the
    ``n`` finished trials that had it, and those trials' ids."""

    value: Any
    mean: float
    std: float | None
    n: int
    trials: tuple[str, ...] = ()


@dataclass(frozen=True)
class Sensitivity:
    """The metric against the key: one point per value, in the key's order (numbers ascending); ``numeric``
    when every value is a number, ``log`` when they are positive and span two decades or more (a log axis
    reads them better); ``missing``: finished trials without the metric."""

    key: str
    metric: str
    maximize: bool
    points: tuple[Point, ...]
    numeric: bool
    log: bool
    missing: int = 0

    def best(self) -> Point | None:
        """The value whose mean is best."""
        if not self.points:
            return None
        return (max if self.maximize else min)(self.points, key=lambda p: p.mean)

    def spread(self) -> float:
        """How far apart the best and worst means are: what this key moves the metric by."""
        means = [p.mean for p in self.points]
        return max(means) - min(means) if means else 0.0


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def default_metric(rows: list[Row]) -> str | None:
    """The metric to show when none is chosen: the first of :data:`RANK_ORDER` that a trial has."""
    return next((m for m in RANK_ORDER if any(m in metrics for _, metrics in rows)), None)


def sensitivity(rows: list[Row], key: str, metric: str, ids: list[str] | None = None) -> Sensitivity:
    """Group ``rows`` by their value of ``key`` and take the mean ± std of ``metric`` in each group (``ids``: the
    rows' trial ids, to name them in each point). A metric named ``*loss*`` is better lower."""
    groups: dict[str, tuple[Any, list[float], list[str]]] = {}
    missing = 0
    for i, (settings, metrics) in enumerate(rows):
        if key not in settings:
            continue
        value = metrics.get(metric)
        if value is None or not math.isfinite(value):
            missing += 1
            continue
        entry = groups.setdefault(json.dumps(settings[key], sort_keys=True), (settings[key], [], []))
        entry[1].append(value)
        entry[2].append(ids[i] if ids else str(i))
    points = []
    for v, values, trials in groups.values():
        s = stat_of(values)
        if s is not None:
            points.append(Point(v, s.mean, s.std, s.n, tuple(trials)))
    numeric = bool(points) and all(_is_number(p.value) for p in points)
    if numeric:
        points.sort(key=lambda p: float(p.value))
    log = numeric and all(float(p.value) > 0 for p in points) and len(points) > 1 and (
        float(points[-1].value) / float(points[0].value) >= 100)
    return Sensitivity(key, metric, "loss" not in metric, tuple(points), numeric, log, missing)


def finished_rows(sweep: Sweep) -> tuple[list[Row], list[str]]:
    """The sweep's finished trials as rows (settings, the run's final metrics and evaluation), and their ids."""
    from sslterm.store.summary import summarize

    rows, ids = [], []
    for t in sweep.trials()["trials"]:
        if t["state"] != DONE or not t.get("run_id"):
            continue
        run = Run(sweep.runs_root / t["run_id"])
        try:
            s = summarize(run)
        except (OSError, ValueError):                 # its run was removed or damaged: not a point
            continue
        rows.append((dict(t["settings"]), {**s.final, **s.evaluation}))
        ids.append(t["id"])
    return rows, ids


def swept_keys(sweep: Sweep) -> list[str]:
    """The keys the sweep varies (its grid's, then its random or searched ones)."""
    spec = sweep.spec().get("spec", {})
    return [*spec.get("grid", {}), *(r.partition("=")[0] for r in spec.get("random", []))]


def sweep_sensitivity(sweep: Sweep, key: str, metric: str | None = None) -> Sensitivity:
    """``metric`` (default: a search's metric, else :func:`default_metric`) against the swept ``key`` over the
    sweep's finished trials.
    ValueError (one line) for a key the sweep does not vary or a metric no finished trial has."""
    keys = swept_keys(sweep)
    if key not in keys:
        raise ValueError(f"--plot: {key!r} is not swept by {sweep.id}; its swept keys: {', '.join(keys) or 'none'}")
    rows, ids = finished_rows(sweep)
    chosen = metric or sweep.spec().get("spec", {}).get("metric") or default_metric(rows)
    if chosen is None or not any(chosen in m for _, m in rows):
        have = sorted({m for _, metrics in rows for m in metrics})
        what = f"no finished trial has {chosen!r}" if chosen else "no finished trial has a metric yet"
        raise ValueError(f"--metric: {what}; they have: {', '.join(have) or 'nothing yet'}")
    return sensitivity(rows, key, chosen, ids)
