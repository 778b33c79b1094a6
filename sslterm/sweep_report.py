"""How the command line shows sweeps: the trial tables, the settings compared, the sensitivity plot, and
``sslterm eval SWEEP`` (every finished trial evaluated in turn)."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from sslterm.compare import format_value
from sslterm.compare_groups import Grouped
from sslterm.sweep import store as ss
from sslterm.sweep.spec import SweepSpec, Trial

if TYPE_CHECKING:
    from sslterm.sweep.analysis import Sensitivity

MEAN_RGB, SPREAD_RGB = (90, 170, 255), (160, 160, 160)


def print_search(spec: SweepSpec) -> None:
    """What ``--search optuna --dry-run`` prints: the space, the metric and the pruning."""
    typer.echo(f"optuna TPE (seed {spec.sample_seed}): {spec.trials} trial(s), each setting proposed from the "
               f"finished ones, to {spec.direction} {spec.metric}")
    width = max(len(k) for k in spec.swept_keys())
    for key, values in spec.grid:
        typer.echo(f"  {key:<{width}}  choice of {', '.join(json.dumps(v) for v in values)}")
    for d in spec.random:
        typer.echo(f"  {d.key:<{width}}  {d.text().partition('=')[2]}")
    warm = f"step {spec.prune_warmup}" if spec.prune_warmup is not None else "a quarter of train.steps"
    typer.echo(f"pruning: a trial whose {spec.metric} trails the median of the earlier trials at the same step "
               f"stops, after {spec.prune_startup} finished trial(s) and past {warm}" if spec.prune else
               "pruning: off (--no-prune)")
    typer.echo("every edge of the space is valid; nothing started (--dry-run)")


def print_trials(spec: SweepSpec, trials: list[Trial], valid: int) -> None:
    """The table of trials ``--dry-run`` prints."""
    keys = [k for k, _ in spec.grid] + [d.key for d in spec.random]
    rows = [[t.id, *(json.dumps(t.settings[k]) for k in keys), str(t.seed)] for t in trials]
    head = ["trial", *keys, "seed"]
    widths = [max(len(r[i]) for r in [head, *rows]) for i in range(len(head))]
    for r in [head, *rows]:
        typer.echo("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip())
    typer.echo(f"{len(trials)} trial(s), {valid} valid; nothing started (--dry-run)")


def show_sweeps(sweeps: list[ss.Sweep], json_: bool, root: Path | None = None) -> None:
    """Each sweep's state and its trials (state, run id, loss, probe, settings)."""
    records = []
    for sw in sweeps:
        try:
            data = sw.trials()
        except (OSError, ValueError) as e:          # a damaged trials.json: said, and the other sweeps listed
            data = {"state": "unreadable", "trials": [], "error": f"cannot read {sw.path / ss.TRIALS}: {e}"}
        try:
            spec = sw.spec()
        except (OSError, ValueError):
            spec = {}
        records.append({"id": sw.id, "state": data["state"], "scheduler": ss.scheduler_running(sw),
                        "slurm": bool(spec.get("slurm")), "search": _search_line(spec.get("spec", {}), data["trials"]),
                        "trials": data["trials"], **({"error": data["error"]} if "error" in data else {})})
    if json_:
        typer.echo(json.dumps(records, indent=1))
        return
    if not records:
        typer.echo(f"no sweeps in {ss.sweeps_dir(root or Path('runs'))}/ yet; start one with "
                   "`sslterm sweep FILE --grid KEY=A,B --seeds 3`")
        return
    for rec in records:
        trials = rec["trials"]
        done = sum(t["state"] in ss.TRIAL_FINAL for t in trials)
        sched = "SLURM jobs" if rec["slurm"] else "scheduler running" if rec["scheduler"] else "no scheduler"
        typer.echo(f"{rec['id']}  {rec['state']}  {done}/{len(trials)} ended  ({sched})")
        if rec["search"]:
            typer.echo(f"  {rec['search']}")
        if trials:
            typer.echo(f"  {'trial':<5} {'state':<9} {'loss':>8} {'probe':>6} {'seed':>4}  setting  run")
        if rec.get("error"):
            typer.echo(f"  {rec['error']}")
        for t in trials:
            m = t.get("metric") or {}
            loss = f"{m['loss']:.4g}" if "loss" in m else "-"
            probe = f"{m['probe']:.3f}" if "probe" in m else "-"
            label = ", ".join(f"{k}={format_value(v)}" for k, v in t["settings"].items()) or "-"
            where = t.get("run_id") or (f"job {t['job']}" if t.get("job") else "")
            typer.echo(f"  {t['id']:<5} {t['state']:<9} {loss:>8} {probe:>6} {t['seed']:>4}  {label}  "
                       f"{where}".rstrip())    # the run id last: at 80 columns it is what wraps
            if t.get("error"):
                typer.echo(f"        {t['error']}")


def trials_csv(sweeps: list[ss.Sweep]) -> str:
    """Every trial of ``sweeps`` as CSV: sweep, trial, state, seed, run id, one column per swept key and per metric."""
    rows: list[dict[str, Any]] = []
    for sw in sweeps:
        for t in sw.trials()["trials"]:
            rows.append({"sweep": sw.id, "trial": t["id"], "state": t["state"], "seed": t["seed"],
                         "run_id": t.get("run_id") or "", **t["settings"], **(t.get("metric") or {})})
    fields = list(dict.fromkeys(k for r in rows for k in r)) or ["sweep", "trial", "state", "seed", "run_id"]
    out = io.StringIO()
    writer = csv.DictWriter(out, fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _search_line(spec: dict[str, Any], trials: list[dict[str, Any]]) -> str:
    """For a search that learns: what it optimises and its best trial so far ("" for a grid or random sweep)."""
    if not spec.get("search"):
        return ""
    told = [t for t in trials if isinstance(t.get("value"), (int, float))]
    line = f"optuna: {spec.get('direction')} {spec.get('metric')}"
    if not told:
        return line + "; no trial has finished yet"
    pick = max if spec.get("direction") == "maximize" else min
    best = pick(told, key=lambda t: t["value"])
    pruned = sum(t["state"] == ss.PRUNED for t in trials)
    label = ", ".join(f"{k}={format_value(v)}" for k, v in best["settings"].items())
    return f"{line}; best {best['id']} {format_value(best['value'])} ({label}); {pruned} pruned"


def print_grouped(g: Grouped) -> None:
    """The groups as a table, one column per group, the best marked with *."""
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, 2, 0, 0))
    table.add_column("", no_wrap=True)
    for i, grp in enumerate(g.groups):
        table.add_column(("* " if i == g.best else "") + grp.label(), justify="right")
    table.add_row("  seeds (n)", *(str(len(grp.runs)) for grp in g.groups))
    names = dict.fromkeys(m for grp in g.groups for m in grp.stats)
    for name in names:
        mark = " (ranks)" if name == g.metric else ""
        table.add_row(f"  {name}{mark}", *(grp.stats[name].text() if name in grp.stats else "-" for grp in g.groups))
    Console().print(table)
    direction = "higher" if g.maximize else "lower"
    Console().print(f"* best: {direction} {g.metric} is better. {g.note}", highlight=False)


def eval_sweep(root: Path, sweep: ss.Sweep, evaluate: Callable[[Any], dict[str, Any]], json_: bool) -> int:
    """``sslterm eval SWEEP``: evaluate every finished trial not yet evaluated, one after another, a line each;
    the exit status (1 when any evaluation failed or none is finished)."""
    from sslterm.config import ConfigError
    from sslterm.store import Run

    trials = sweep.trials()["trials"]
    done = [t for t in trials if t["state"] == ss.DONE and t.get("run_id")]
    if not done:
        typer.echo(f"sslterm: error: sweep {sweep.id} has no finished trial to evaluate yet ({len(trials)} "
                   f"trial(s); see `sslterm sweep show {sweep.id}`)", err=True)
        return 1
    failed, skipped, records = 0, 0, {}
    for t in done:
        run = Run(root / t["run_id"])
        if run.evaluation() is not None:
            skipped += 1
            typer.echo(f"{t['id']} {run.id}: already evaluated", err=json_)
            continue
        try:
            record = evaluate(run)
            run.save_evaluation(record)
        except (FileNotFoundError, ConfigError, ValueError, RuntimeError, OSError) as e:
            failed += 1
            typer.echo(f"{t['id']} {run.id}: failed: {e}", err=json_)
            continue
        records[run.id] = record
        typer.echo(f"{t['id']} {run.id}: {_results(record)}", err=json_)
    if json_:
        typer.echo(json.dumps(records, indent=1))
    typer.echo(f"sweep {sweep.id}: {len(records)} evaluated, {skipped} already evaluated, {failed} failed",
               err=json_)
    return 1 if failed else 0


def _results(record: dict[str, Any]) -> str:
    """An evaluation record in one line: its probe and kNN accuracies (or its note)."""
    if "note" in record:
        return str(record["note"])
    parts = [f"{name} {record[key]['accuracy']:.3f}" for key, name in (("linear_probe", "linear probe"),
                                                                       ("knn", "kNN")) if key in record]
    parts += [f"fine-tune {k} {v['accuracy']:.3f}" for k, v in record.get("finetune", {}).items()]
    return ", ".join(parts) or "evaluated"


def print_sensitivity(s: Sensitivity, width: int = 72, height: int = 14) -> None:
    """The metric against the key as a terminal plot (each value's mean ●, ± one standard deviation ▴ ▾), then
    the table of values with their number of trials and mean ± std, the best marked *."""
    from rich.console import Console
    from rich.text import Text

    from sslterm.tui.widgets.loss_chart import plot_lines

    pts = s.points
    xs = [math.log10(float(p.value)) if s.log else float(p.value) for p in pts] if s.numeric else [
        float(i + 1) for i in range(len(pts))]
    means = [p.mean for p in pts]
    up = [p.mean + (p.std or 0.0) for p in pts]
    down = [p.mean - (p.std or 0.0) for p in pts]
    step = max(1, math.ceil(len(pts) / max(1, width // 10)))
    ticks = (xs[::step], [format_value(p.value) for p in pts[::step]])
    lines = [(xs, means, MEAN_RGB, "braille")] if s.numeric and 1 < len(pts) <= width // 4 else []
    dots = [(xs, up, SPREAD_RGB, "▴"), (xs, down, SPREAD_RGB, "▾"), (xs, means, MEAN_RGB, "●")]
    console = Console(highlight=False)
    axis = " (log scale)" if s.log else ""
    console.print(f"{s.metric} against {s.key}{axis}: mean ●, ± std ▴▾ over each value's trials")
    margin = 0.05 * (max(xs) - min(xs) or 1.0)
    console.print(Text.from_ansi(plot_lines(lines, width, height, log_y=False, x_range=(min(xs) - margin,
                                                                                         max(xs) + margin),
                                            points=dots, x_ticks=ticks)))
    best = s.best()
    width_v = max(len(s.key), *(len(format_value(p.value)) for p in pts))
    console.print(f"  {s.key:<{width_v}}  {'n':>3}  {s.metric} (mean ± std)")
    for p in pts:
        mark = "*" if p is best else " "
        std = f" ± {p.std:.2g}" if p.std is not None else ""
        console.print(f"{mark} {format_value(p.value):<{width_v}}  {p.n:>3}  {format_value(p.mean)}{std}")
    direction = "higher" if s.maximize else "lower"
    note = f"; {s.missing} finished trial(s) without {s.metric}" if s.missing else ""
    if best is not None:
        console.print(f"* best ({direction} is better); {s.key} moves the mean by {s.spread():.3g}{note}")
