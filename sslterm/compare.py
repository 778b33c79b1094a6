"""Compare runs side by side: final metrics, evaluation results, differing config keys, aligned series (no torch)."""

from __future__ import annotations

import csv
import io
import json
import math
import time
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from sslterm.humanize import fmt_duration
from sslterm.store import Run
from sslterm.store.status import effective_state
from sslterm.store.summary import NOT_METRICS, RunSummary, finite, flatten_evaluation, make_summary

__all__ = ["NOT_METRICS", "Comparison", "RunSummary", "Series", "compare", "config_diff", "flatten",
           "flatten_evaluation", "format_value", "read_series", "summarize", "table_sections"]


@dataclass(frozen=True)
class Series:
    """One metric of one run: the steps it was logged at and its finite values."""

    steps: list[int] = field(default_factory=list)
    values: list[float] = field(default_factory=list)


@dataclass(frozen=True)
class Comparison:
    """Runs side by side; ``config_diff`` maps each differing dotted key to one value per run (None: missing)."""

    runs: list[RunSummary]
    config_diff: dict[str, list[Any]]
    series: dict[str, dict[str, Series]]  # run id -> metric (``t`` included: the wall-time axis) -> series

    def metric_names(self) -> list[str]:
        """Every metric any run logged, in the order first seen."""
        names: dict[str, None] = {}
        for r in self.runs:
            names.update(dict.fromkeys(r.final))
        return list(names)

    def eval_names(self) -> list[str]:
        """Every evaluation result any run has, in the order first seen."""
        names: dict[str, None] = {}
        for r in self.runs:
            names.update(dict.fromkeys(r.evaluation))
        return list(names)

    def aligned(self, metric: str) -> tuple[list[int], dict[str, list[float]]]:
        """The union of the steps at which any run logged ``metric``, and each run's value there (NaN: none)."""
        steps = sorted({s for per_run in self.series.values() for s in per_run.get(metric, Series()).steps})
        out: dict[str, list[float]] = {}
        for run_id, per_run in self.series.items():
            s = per_run.get(metric, Series())
            values = [math.nan] * len(steps)
            for step, v in zip(s.steps, s.values, strict=True):
                values[bisect_left(steps, step)] = v
            out[run_id] = values
        return steps, out

    def rows(self) -> list[dict[str, Any]]:
        """One flat record per run: progress, final metrics, eval.*, and config.* for the differing keys."""
        out = []
        for i, r in enumerate(self.runs):
            row: dict[str, Any] = {"id": r.id, "name": r.name, "status": r.status, "step": r.step,
                                   "total_steps": r.total_steps, "duration_s": r.duration_s, "min_loss": r.min_loss}
            row.update(r.final)
            row.update(r.evaluation)
            row.update({f"config.{k}": values[i] for k, values in self.config_diff.items()})
            out.append(row)
        return out

    def columns(self) -> list[str]:
        """The columns of :meth:`rows` and of the CSV, in order."""
        fixed = ["id", "name", "status", "step", "total_steps", "duration_s", "min_loss"]
        metrics = [m for m in self.metric_names() if m not in fixed]
        return [*fixed, *metrics, *self.eval_names(), *(f"config.{k}" for k in self.config_diff)]

    def to_csv(self) -> str:
        """A header and one row per run (see :meth:`columns`); missing values are empty cells."""
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=self.columns(), extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in self.rows():
            writer.writerow({k: _csv_value(v) for k, v in row.items()})
        return buf.getvalue()

    def to_json(self, series: bool = False) -> str:
        """The runs and the config diff as JSON (non-finite numbers as null); ``series`` adds every series."""
        data: dict[str, Any] = {
            "runs": [_compared(r) for r in self.runs],
            "config_diff": {k: dict(zip((r.id for r in self.runs), v, strict=True))
                            for k, v in self.config_diff.items()},
        }
        if series:
            data["series"] = {rid: {m: asdict(s) for m, s in per.items()} for rid, per in self.series.items()}
        return json.dumps(_json_safe(data), indent=1)


def _compared(r: RunSummary) -> dict[str, Any]:
    """What ``compare --json`` says of one run."""
    data = r.to_dict()
    return {k: data[k] for k in ("id", "name", "status", "step", "total_steps", "duration_s", "final", "min_loss",
                                 "evaluation")}


def _csv_value(v: Any) -> Any:
    if v is None or (isinstance(v, float) and not math.isfinite(v)):
        return ""
    if isinstance(v, (list, dict)):
        return json.dumps(v)
    return v


def _json_safe(v: Any) -> Any:
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_json_safe(x) for x in v]
    return v


def flatten(data: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested tables as one level of dotted keys: ``{"a": {"b": 1}}`` becomes ``{"a.b": 1}``."""
    out: dict[str, Any] = {}
    for k, v in data.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict) and v:
            out.update(flatten(v, key + "."))
        else:
            out[key] = v
    return out


def config_diff(configs: Sequence[dict[str, Any]]) -> dict[str, list[Any]]:
    """The dotted keys whose values are not all equal (a key missing in a run counts), sorted; None: missing."""
    flat = [flatten(c) for c in configs]
    keys = sorted({k for f in flat for k in f})
    diff: dict[str, list[Any]] = {}
    for key in keys:
        values = [f.get(key) for f in flat]
        if any(key not in f for f in flat) or any(v != values[0] for v in values[1:]):
            diff[key] = values
    return diff


def read_series(records: Sequence[dict[str, Any]]) -> dict[str, Series]:
    """Every scalar key of the metrics records as a series (``t`` included); a step that does not increase
    (a resumed run read while it was cut back) drops what came from that step on."""
    series: dict[str, Series] = {}
    newest = -1
    for rec in records:
        step = rec.get("step")
        if not isinstance(step, int) or isinstance(step, bool):
            continue
        if step <= newest:
            for s in series.values():
                k = bisect_left(s.steps, step)
                del s.steps[k:], s.values[k:]
        newest = step
        for key, raw in rec.items():
            v = finite(raw)
            if v is None or key in ("step", "time"):
                continue
            s = series.setdefault(key, Series())
            s.steps.append(step)
            s.values.append(float(v))
    return series


def summarize(run: Run, now: float | None = None) -> tuple[RunSummary, dict[str, Series]]:
    """One run's summary and series, from one read of its metrics."""
    status = run.status()
    records = run.metrics()
    series = read_series(records)
    losses = series.get("loss", Series()).values
    final = {k: v[-1] for k, s in series.items() if k not in NOT_METRICS for v in (s.values,) if v}
    summary = make_summary(run, status, effective_state(run.path, status), run.config(), final=final,
                           min_loss=min(losses) if losses else None, evaluation=flatten_evaluation(run.evaluation()),
                           now=now)
    return summary, series


def compare(runs: list[Run]) -> Comparison:
    """Compare runs: a summary of each, the config keys that differ, and every metric's series per run."""
    now = time.time()
    summaries, series = [], {}
    for run in runs:
        summary, per_run = summarize(run, now)
        summaries.append(summary)
        series[run.id] = per_run
    return Comparison(runs=summaries, config_diff=config_diff([r.config() for r in runs]), series=series)


def format_value(v: Any) -> str:
    """A value as the tables show it: 4 significant digits for floats, ``-`` when missing."""
    if v is None:
        return "-"
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, float):
        return f"{v:.4g}" if math.isfinite(v) else str(v)
    if isinstance(v, (list, dict)):
        return json.dumps(v)
    return str(v)


Section = tuple[str, str, list[tuple[str, list[str]]]]


def table_sections(cmp: Comparison) -> list[Section]:
    """What a table of the comparison shows: (section key, title, [(row label, one cell per run)]).

    The sections are ``run`` (status, steps, duration, min loss), ``metrics`` (final values), ``eval``
    (only when some run was evaluated) and ``config`` (the keys that differ).
    """
    runs = cmp.runs

    def row(label: str, values: list[Any]) -> tuple[str, list[str]]:
        return label, [format_value(v) for v in values]

    progress = [
        row("status", [r.status for r in runs]),
        ("steps", [f"{r.step:,}/{r.total_steps:,}" if r.total_steps else f"{r.step:,}" for r in runs]),
        ("duration", [fmt_duration(r.duration_s) for r in runs]),
        row("min loss", [r.min_loss for r in runs]),
    ]
    metrics = [row(m, [r.final.get(m) for r in runs]) for m in cmp.metric_names()]
    evaluation = [row(e.removeprefix("eval."), [r.evaluation.get(e) for r in runs]) for e in cmp.eval_names()]
    diff = [row(k, v) for k, v in cmp.config_diff.items()]
    sections: list[Section] = [("run", "run", progress), ("metrics", "final metrics", metrics)]
    if evaluation:
        sections.append(("eval", "evaluation (sslterm eval)", evaluation))
    sections.append(("config", "config: keys that differ" if diff else "config: no differences", diff))
    return sections
