"""What the command line prints about runs: the ``ls`` table, ``show``, ``compare`` and ``eval`` results (no torch)."""

from __future__ import annotations

from typing import Any

import typer

from sslterm.autoconf import describe
from sslterm.humanize import fmt_duration
from sslterm.store import Run
from sslterm.store.states import colour
from sslterm.store.summary import epoch_words, flatten_evaluation, progress_words, summarize


def run_record(run: Run) -> dict[str, Any]:
    """Everything ``show --json`` and ``ls --json`` say about one run (StatusError if its status is unreadable)."""
    summary = summarize(run)
    rec = summary.to_dict()
    rec.update(summary=rec.pop("final"), eval=run.evaluation(), config=run.config(),
               global_batch=summary.world * summary.batch_size)
    return rec


def print_ls(records: list[dict[str, Any]]) -> None:
    """The runs as a table: id, state, task, epoch, step, latest loss, training time. Where the terminal is too
    narrow the task gives way (cut with …), then the id; the state and the numbers are never cut."""
    from rich.cells import cell_len
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    rows = []
    for rec in records:
        loss = rec.get("summary", {}).get("loss")
        rows.append((rec["id"], rec["status"], f"{rec.get('modality') or '-'}/{rec.get('objective') or '-'}",
                     epoch_words(rec.get("step", 0), rec.get("epochs", 0), rec.get("steps_per_epoch", 0.0)) or "-",
                     f"{rec.get('step', 0)}/{rec.get('total_steps', 0)}",
                     f"{loss:.4f}" if isinstance(loss, (int, float)) else "-", fmt_duration(rec.get("duration_s"))))
    headers = ("id", "status", "task", "epoch", "step", "loss", "time")
    widths = [max(cell_len(h), *(cell_len(r[i]) for r in rows)) for i, h in enumerate(headers)]
    console = Console()
    over = sum(widths) + len(widths) - 1 - console.width  # one space between columns
    fitted = list(widths)
    for i in (2, 0):  # the task gives way down to a few characters, then the id
        cut = min(max(over, 0), fitted[i] - min(fitted[i], 5))
        fitted[i] -= cut
        over -= cut
    table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, 1, 0, 0))
    for i, header in enumerate(headers):
        table.add_column(header, justify="right" if i >= 3 else "left", no_wrap=True, overflow="ellipsis",
                         min_width=fitted[i], max_width=fitted[i])
    for rec, row in zip(records, rows, strict=True):
        table.add_row(escape(row[0]), f"[{colour(rec['status'])}]{escape(row[1])}[/]", *map(escape, row[2:]))
    console.print(table)
    for rec in records:                                    # what the table has no room for, one line each
        if rec.get("problem"):
            typer.echo(f"{rec['id']}: {rec['problem']}")
        if rec.get("warning"):
            typer.echo(f"{rec['id']}: warning: {rec['warning']}")


def print_show(rec: dict[str, Any]) -> None:
    """One run in plain lines: state and progress, error, task, batch, final metrics, evaluation."""
    where = (f"on {rec['device'] or '-'} (pid {rec['pid']}, {rec['host']})" if rec["pid"] is not None
             else f"on {rec['host']}")
    progress = progress_words(rec["step"], rec["total_steps"], rec.get("epochs", 0), rec.get("steps_per_epoch", 0.0))
    typer.echo(f"{rec['id']}  {rec['status']}  {progress}  {where}  "
               f"{fmt_duration(rec['duration_s'])}")
    if rec["error"]:
        typer.echo(f"error: {rec['error']}")
    if rec.get("warning"):
        typer.echo(f"warning: {rec['warning']}")
    if rec.get("problem"):
        typer.echo(f"problem: {rec['problem']}")
    typer.echo(f"{rec['modality']} / {rec['objective']}  ({rec['path']})")
    if rec["world"] > 1:
        typer.echo(f"{rec['world']} processes × train.batch_size {rec['global_batch'] // rec['world']} "
                   f"= a global batch of {rec['global_batch']}")
    cfg = rec.get("config")
    auto = cfg.get("auto") if isinstance(cfg, dict) else None
    if isinstance(auto, dict) and auto:
        typer.echo("derived from the data's shape (--set KEY=VALUE chooses one yourself):")
        for line in describe({str(k): str(v) for k, v in auto.items()}):
            typer.echo(f"  {line}")
    for k, v in rec["summary"].items():
        typer.echo(f"  {k:<16} {v:.6g}" if isinstance(v, float) else f"  {k:<16} {v}")
    if rec["eval"]:
        accuracies = flatten_evaluation(rec["eval"])
        width = max(map(len, accuracies), default=0)
        for k, v in accuracies.items():
            typer.echo(f"  {k:<{width}} {v:.3f}")


def print_comparison(cmp: Any) -> None:
    """A :class:`sslterm.compare.Comparison` as a table, one column per run."""
    from rich.console import Console
    from rich.table import Table

    from sslterm.compare import table_sections

    table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, 2, 0, 0))
    table.add_column("", no_wrap=True)
    for r in cmp.runs:
        table.add_column(r.id, justify="right", no_wrap=True)
    for _, title, rows in table_sections(cmp):
        table.add_row(f"[bold underline]{title}[/]")
        for label, cells in rows:
            table.add_row(f"  {label}", *cells)
    Console().print(table)


def print_evaluation(run_id: str, record: dict[str, Any]) -> None:
    """``sslterm eval``'s results, one line per measure."""
    if "note" in record:
        typer.echo(record["note"])
        return
    typer.echo(f"{run_id} at step {record['step']} ({record['train_examples']} train / "
               f"{record['eval_examples']} held-out examples)")
    rows = [("linear probe (frozen)", record["linear_probe"]), ("kNN (frozen)", record["knn"]),
            ("linear probe on raw inputs", record["raw_linear_probe"])]
    rows += [(f"fine-tune, {k} of labels", v) for k, v in record.get("finetune", {}).items()]
    if "random_init_linear_probe" in record:
        rows.append(("linear probe, untrained encoder", record["random_init_linear_probe"]))
    if "supervised" in record:
        rows.append(("supervised from scratch", record["supervised"]))
    width = max(len(name) for name, _ in rows)
    for name, r in rows:
        typer.echo(f"  {name:<{width}}  {r['accuracy']:.3f}")
