"""``sslterm eval``: transfer of a run's representation (linear probe, kNN, fine-tuning), or of a sweep's trials.

The evaluation code, and with it torch, is imported inside the command, in-process.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from sslterm import config
from sslterm.cli_args import JsonFlag, RunRef, RunsDir, fail
from sslterm.cli_show import print_evaluation
from sslterm.store import Run, RunNotFound, StatusError, find_run, runs_root


def register(app: typer.Typer) -> None:
    """Add ``eval`` to the ``sslterm`` command line."""
    app.command("eval")(eval_)


def parse_percentages(text: str) -> tuple[float, ...]:
    """``--finetune``: comma-separated percentages in (0, 100] as fractions, or none; fails with one line."""
    if text.strip().lower() in ("none", ""):
        return ()
    out = []
    for part in text.split(","):
        try:
            pct = float(part.strip().rstrip("%"))
        except ValueError:
            fail(f"--finetune: got {part.strip()!r}, expected percentages such as 1,10,100 or none")
        if not 0 < pct <= 100:
            fail(f"--finetune: got {part.strip()}, expected percentages with 0 < value ≤ 100, or none")
        out.append(pct / 100)
    return tuple(out)


def eval_(
    ref: RunRef,
    runs_dir: RunsDir = None,
    json_: JsonFlag = False,
    device: Annotated[str, typer.Option(help="auto, cpu or cuda.")] = "auto",
    epochs: Annotated[int, typer.Option(help="Fine-tuning epochs per label fraction.", min=1, max=1000)] = 10,
    finetune: Annotated[str, typer.Option(help="Shares of the training labels to fine-tune with, in percent, "
                                          "comma-separated; none skips fine-tuning.")] = "1,10,100",
    baselines: Annotated[bool, typer.Option("--baselines", help="Also train the same encoder from scratch on all "
                                            "labels (supervised) and probe the untrained encoder.")] = False,
) -> None:
    """Measure transfer: linear probe, kNN and fine-tuning with 1/10/100% of labels, vs a raw-input probe (of a
    run, or of every finished trial of a sweep not yet evaluated)."""
    if device not in ("auto", "cpu", "cuda"):
        fail(f"--device: got {device!r}, expected auto, cpu or cuda")
    fractions = parse_percentages(finetune)

    def log(line: str) -> None:
        typer.echo(line, err=True)

    def evaluate(r: Run) -> dict[str, Any]:
        from sslterm.evaluate.transfer import evaluate_run

        return evaluate_run(r, device, finetune_epochs=epochs, fractions=fractions, supervised=baselines,
                            random_init=baselines, log=log)

    root = runs_root(runs_dir)
    try:
        run_ = find_run(root, ref)
        run_.status()
    except (RunNotFound, StatusError) as e:                 # a sweep: each finished trial, one after another
        from sslterm.sweep.store import SweepNotFound, find_sweep
        from sslterm.sweep_report import eval_sweep

        try:
            sweep = find_sweep(root, ref)
        except SweepNotFound:
            fail(f"{e}; nor does it name a sweep (see `sslterm queue`)")
        raise typer.Exit(eval_sweep(root, sweep, evaluate, json_)) from None
    try:
        record = evaluate(run_)
    except (FileNotFoundError, config.ConfigError, ValueError, RuntimeError) as e:
        fail(str(e), code=1)
    try:
        run_.save_evaluation(record)
    except OSError as e:  # a full disk or a read-only runs directory
        fail(f"cannot save the evaluation of {run_.id}: cannot write {e.filename or run_.path}: {e.strerror or e}",
             code=1)
    if json_:
        typer.echo(json.dumps(record, indent=1))
        return
    print_evaluation(run_.id, record)
