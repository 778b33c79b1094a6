"""Compare groups of runs: the seeds of each setting of some config keys, as mean ± std, the best marked,
and their mean curves."""

from __future__ import annotations

import json
import math
import statistics
from dataclasses import dataclass, field
from typing import Any

from sslterm.compare import Comparison, RunSummary, flatten, format_value

RANK_ORDER = ("eval.linear_probe", "eval.knn", "probe_acc", "knn_acc", "loss")
"""The metric that ranks groups when none is chosen: the first of these any group has."""


@dataclass(frozen=True)
class Stat:
    """One metric over a group's runs: mean, sample standard deviation (None with one run) and count."""

    mean: float
    std: float | None
    n: int

    def text(self) -> str:
        return format_value(self.mean) + (f" ± {self.std:.2g}" if self.std is not None else "")


@dataclass(frozen=True)
class Group:
    """The runs that share one setting of the grouping keys."""

    setting: dict[str, Any]
    runs: list[str]
    stats: dict[str, Stat] = field(default_factory=dict)

    def label(self) -> str:
        return ", ".join(f"{k}={format_value(v)}" for k, v in self.setting.items())


@dataclass(frozen=True)
class Grouped:
    """Groups, the metric that ranks them and its direction, the best group's index and a note on the spread."""

    keys: list[str]
    groups: list[Group]
    metric: str | None
    maximize: bool
    best: int | None
    note: str

    def to_json(self) -> str:
        def stat(s: Stat) -> dict[str, Any]:
            return {"mean": s.mean, "std": s.std, "n": s.n}

        data = {"group_by": self.keys, "metric": self.metric, "direction": "maximize" if self.maximize else "minimize",
                "note": self.note, "groups": [
                    {"setting": g.setting, "runs": g.runs, "n": len(g.runs), "best": i == self.best,
                     "metrics": {m: stat(s) for m, s in g.stats.items()}} for i, g in enumerate(self.groups)]}
        return json.dumps(data, indent=1)


def group_sections(g: Grouped) -> list[tuple[str, str, list[tuple[str, list[str]]]]]:
    """A table of the groups, as :func:`sslterm.compare.table_sections` makes one of runs: (section key,
    title, [(row label, one cell per group)]): the setting, the seeds, the final metrics and the evaluation
    as mean ± std; the metric that ranks the groups is labelled so."""
    def cells(name: str) -> list[str]:
        return [grp.stats[name].text() if name in grp.stats else "-" for grp in g.groups]

    def label(name: str) -> str:
        return name.removeprefix("eval.") + (" (ranks)" if name == g.metric else "")

    names = list(dict.fromkeys(m for grp in g.groups for m in grp.stats))
    setting = [(k, [format_value(grp.setting.get(k)) for grp in g.groups]) for k in g.keys]
    setting.append(("seeds (n)", [str(len(grp.runs)) for grp in g.groups]))
    sections = [("setting", "setting", setting),
                ("metrics", "final metrics, mean ± std", [(label(m), cells(m)) for m in names
                                                          if not m.startswith("eval.")])]
    evaluation = [(label(m), cells(m)) for m in names if m.startswith("eval.")]
    if evaluation:
        sections.append(("eval", "evaluation, mean ± std", evaluation))
    return sections


def stat_of(values: list[float]) -> Stat | None:
    """Mean and sample standard deviation of the finite ``values``; None when there are none."""
    vs = [v for v in values if math.isfinite(v)]
    if not vs:
        return None
    return Stat(statistics.fmean(vs), statistics.stdev(vs) if len(vs) > 1 else None, len(vs))


def group_runs(cmp: Comparison, keys: list[str], metric: str | None = None) -> Grouped:
    """Group the compared runs by the values of ``keys`` in their configurations, and rank the groups."""
    configs = {r.id: flatten(r_config) for r, r_config in zip(cmp.runs, cmp_configs(cmp), strict=True)}
    order: dict[tuple[str, ...], list[int]] = {}
    for i, r in enumerate(cmp.runs):
        order.setdefault(tuple(json.dumps(configs[r.id].get(k)) for k in keys), []).append(i)
    groups = []
    for members in order.values():
        runs = [cmp.runs[i] for i in members]
        setting = {k: configs[runs[0].id].get(k) for k in keys}
        names = dict.fromkeys(m for r in runs for m in (*r.final, *r.evaluation))
        stats = {}
        for name in names:
            s = stat_of([v for r in runs for v in [metric_of(r, name)] if v is not None])
            if s is not None:
                stats[name] = s
        groups.append(Group(setting, [r.id for r in runs], stats))
    metric = metric or next((m for m in RANK_ORDER if any(m in g.stats for g in groups)), None)
    maximize = metric is not None and "loss" not in metric
    ranked = sorted((i for i, g in enumerate(groups) if metric in g.stats),
                    key=lambda i: groups[i].stats[metric].mean, reverse=maximize)  # type: ignore[index]
    best = ranked[0] if ranked else None
    return Grouped(keys, groups, metric, maximize, best, _note(groups, ranked, metric))


def cmp_configs(cmp: Comparison) -> list[dict[str, Any]]:
    """Each compared run's configuration (read again: a Comparison keeps only the keys that differ)."""
    from sslterm.store import Run

    return [Run(r.path).config() for r in cmp.runs]


def _note(groups: list[Group], ranked: list[int], metric: str | None) -> str:
    """Plain words on whether the best group's lead is larger than the seeds' spread."""
    if metric is None or not ranked:
        return "no metric to rank the groups by"
    if len(ranked) < 2:
        return f"only one group has {metric}"
    a, b = groups[ranked[0]], groups[ranked[1]]
    sa, sb = a.stats[metric], b.stats[metric]
    if sa.std is None or sb.std is None:
        return (f"best by {metric}: {a.label()}; with one seed in a group the spread is unknown: "
                "run more seeds (sslterm sweep --seeds N) to tell the difference from seed noise")
    gap = abs(sa.mean - sb.mean)
    if gap <= sa.std + sb.std:
        return (f"best by {metric}: {a.label()}, but the runner-up ({b.label()}) is within the spread of the "
                f"seeds: the gap {gap:.3g} is not larger than their standard deviations ({sa.std:.2g} + "
                f"{sb.std:.2g}); the seeds do not tell them apart")
    return (f"best by {metric}: {a.label()}, ahead of {b.label()} by {gap:.3g}, more than the seeds' spread "
            f"({sa.std:.2g} + {sb.std:.2g})")


def metric_of(run: RunSummary, name: str) -> float | None:
    """A compared run's final value of ``name``, else its evaluation result of that name (None: neither)."""
    value: float | None = run.final.get(name, run.evaluation.get(name))
    return value


@dataclass(frozen=True)
class MeanCurve:
    """A metric over the seeds of one setting, step by step: mean, sample std (0 with one run), min and max."""

    steps: list[int]
    mean: list[float]
    std: list[float]
    low: list[float]
    high: list[float]
    n: int  # runs that logged the metric


def mean_curve(cmp: Comparison, run_ids: list[str], metric: str) -> MeanCurve | None:
    """The runs' ``metric`` averaged at the steps every one of them logged (a run still going cuts the curve
    at its step); at the steps any logged when they share none. None when no run logged it."""
    series = [s for rid in run_ids for s in [cmp.series.get(rid, {}).get(metric)] if s is not None and s.values]
    if not series:
        return None
    by_step = [dict(zip(s.steps, s.values, strict=True)) for s in series]
    common = set(by_step[0]).intersection(*by_step[1:])
    steps = sorted(common or {step for d in by_step for step in d})
    out = MeanCurve([], [], [], [], [], len(series))
    for step in steps:
        vs = [d[step] for d in by_step if step in d]
        out.steps.append(step)
        out.mean.append(statistics.fmean(vs))
        out.std.append(statistics.stdev(vs) if len(vs) > 1 else 0.0)
        out.low.append(min(vs))
        out.high.append(max(vs))
    return out
