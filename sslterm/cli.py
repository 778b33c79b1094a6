"""The ``sslterm`` command line: a thin face over the config, the run store and the launcher.

Nothing here imports torch: training happens in the worker process, so every command but the
worker itself starts in a fraction of a second.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any, NoReturn

import typer

from sslterm import catalog as catalog_mod
from sslterm import config
from sslterm.humanize import fmt_duration
from sslterm.store import Run, RunNotFound, StatusError, find_run, list_runs, runs_root, summary
from sslterm.store.status import effective_state

app = typer.Typer(
    help="Set up, run, watch and compare self-supervised learning experiments from a terminal.",
    no_args_is_help=False, invoke_without_command=True, pretty_exceptions_enable=False,
    add_completion=False, context_settings={"help_option_names": ["-h", "--help"]},
)

RunsDir = Annotated[
    Path | None,
    typer.Option("--runs-dir", help="Runs root (default: $SSLTERM_RUNS, else ./runs).", show_default=False),
]
RunRef = Annotated[str, typer.Argument(help="A run id, a unique prefix of one, or a run directory.")]
JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


def fail(message: str, code: int = 2) -> NoReturn:
    """Print one line to stderr and exit (2 for bad input)."""
    typer.echo(f"sslterm: error: {message}", err=True)
    raise typer.Exit(code)


def _find(runs_dir: Path | None, ref: str) -> Run:
    try:
        run = find_run(runs_root(runs_dir), ref)
        run.status()
        return run
    except (RunNotFound, StatusError) as e:
        fail(str(e))


def run_record(run: Run) -> dict[str, Any]:
    """Everything ``show --json`` and ``ls --json`` say about one run."""
    st = run.status()
    cfg = run.config()
    state = effective_state(run.path, st)
    end = st.ended_at or time.time()
    return {
        "id": run.id, "path": str(run.path), "status": state, "step": st.step,
        "total_steps": st.total_steps, "pid": st.pid, "host": st.host, "device": st.device,
        "created_at": st.created_at, "started_at": st.started_at, "ended_at": st.ended_at,
        "duration_s": (end - st.started_at) if st.started_at else None, "error": st.error,
        "name": cfg.get("name"), "modality": cfg.get("data", {}).get("modality"),
        "objective": cfg.get("objective", {}).get("name"), "config": cfg, "summary": summary(run),
        "eval": run.evaluation(), "world": st.world,
        "global_batch": st.world * int(cfg.get("train", {}).get("batch_size", 0)),
    }


@app.callback()
def main_callback(
    ctx: typer.Context,
    runs_dir: RunsDir = None,
    theme: Annotated[str | None, typer.Option("--theme", help="The app's look: dark or mono (no colour). Default: "
                                              "$SSLTERM_THEME, else mono where NO_COLOR is set, else dark.",
                                              show_default=False)] = None,
) -> None:
    """With no command, open the app on the runs in the runs root."""
    from sslterm.tui.terminal import terminal_environment

    try:  # before textual is imported (it reads its colour system once); the app's processes inherit it
        os.environ.update(terminal_environment(theme, os.environ))
    except ValueError as e:
        fail(str(e))
    if ctx.invoked_subcommand is None:
        from sslterm.tui.app import make_app

        make_app(runs_root(runs_dir)).run()


@app.command()
def run(
    file: Annotated[Path | None, typer.Argument(help="Experiment TOML file (omit for the defaults).")] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a key: table.key=value.")] = None,
    modality: Annotated[str | None, typer.Option("--modality", "-m", help="Shorthand for --set data.modality=M.",
                                                 show_default=False)] = None,
    objective: Annotated[str | None, typer.Option("--objective", "-o", help="Shorthand for --set objective.name=O.",
                                                  show_default=False)] = None,
    detach: Annotated[bool, typer.Option("--detach", "-d", help="Print the run id and return at once.")] = False,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Start detached and open the live dashboard.")] = False,
    nproc: Annotated[int, typer.Option("--nproc", help="Processes on this machine (torchrun; one per GPU).",
                                       min=1, max=1024)] = 1,
    prepare: Annotated[bool, typer.Option("--prepare", help="Only create the run directory and print its path "
                                          "(to start workers yourself, e.g. on several nodes).")] = False,
    runs_dir: RunsDir = None,
) -> None:
    """Train an experiment in a background worker process (any modality × objective with no file)."""
    shorthand = [f"data.modality={modality}"] if modality else []
    shorthand += [f"objective.name={objective}"] if objective else []
    overrides = (*shorthand, *(set_ or ()))
    try:
        exp = config.load(file, overrides) if file else config.from_overrides(overrides, source="command line")
    except config.ConfigError as e:
        fail(str(e))
    from sslterm.launch import launch
    from sslterm.launch import prepare as prepare_run

    root = runs_root(runs_dir)
    if prepare:
        try:
            typer.echo(prepare_run(exp, root, source=str(file or "defaults")).path)
        except OSError as e:
            fail(f"cannot create a run in {root}/: {e.strerror or e}")
        return
    try:
        run_, proc = launch(exp, root, source=str(file or "defaults"), nproc=nproc)
    except OSError as e:
        fail(f"cannot create a run in {root}/: {e.strerror or e}")
    if nproc > 1:
        typer.echo(f"{nproc} processes × train.batch_size {exp.train.batch_size} = a global batch of "
                   f"{nproc * exp.train.batch_size} per step", err=True)
    if watch:
        from sslterm.tui.app import make_app

        make_app(root, run_.id).run()
        typer.echo(f"{run_.id} keeps training in the background; `sslterm watch {run_.id}` to return")
        return
    if detach:
        typer.echo(run_.id)
        return
    from sslterm.follow import follow

    raise typer.Exit(follow(run_, proc))


@app.command("resume")
def resume_(
    ref: RunRef,
    detach: Annotated[bool, typer.Option("--detach", "-d", help="Return at once.")] = False,
    watch: Annotated[bool, typer.Option("--watch", "-w", help="Open the live dashboard.")] = False,
    nproc: Annotated[int | None, typer.Option("--nproc", help="Processes to continue with (default: as many as "
                                              "before).", min=1, max=1024, show_default=False)] = None,
    runs_dir: RunsDir = None,
) -> None:
    """Continue a stopped, failed, diverged or lost run from its last checkpoint."""
    from sslterm.launch import ResumeError, resume

    run_ = _find(runs_dir, ref)
    try:
        proc = resume(run_, nproc)
    except ResumeError as e:
        fail(str(e), code=1)
    except OSError as e:  # a full disk or a read-only runs directory
        fail(f"cannot resume {run_.id}: cannot write {e.filename or run_.path}: {e.strerror or e}", code=1)
    if watch:
        from sslterm.tui.app import make_app

        make_app(runs_root(runs_dir), run_.id).run()
    elif detach:
        typer.echo(run_.id)
    else:
        from sslterm.follow import follow

        raise typer.Exit(follow(run_, proc))


@app.command("ls")
def ls(runs_dir: RunsDir = None, json_: JsonFlag = False) -> None:
    """List runs: state, objective, progress, latest loss."""
    root = runs_root(runs_dir)
    records = []
    for r in list_runs(root):
        try:
            records.append(run_record(r))
        except StatusError as e:
            records.append({"id": r.id, "status": "unreadable", "error": str(e)})
    if json_:
        typer.echo(json.dumps([{k: v for k, v in r.items() if k != "config"} for r in records], indent=1))
        return
    if not records:
        typer.echo(f"no runs in {root}/ yet; start one with `sslterm run experiments/image-simclr.toml`")
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, 1, 0, 0))
    table.add_column("id", no_wrap=True)
    table.add_column("status", no_wrap=True)
    table.add_column("task", no_wrap=True)
    for col in ("step", "loss", "time"):
        table.add_column(col, justify="right", no_wrap=True)
    colours = {"running": "green", "finished": "blue", "failed": "red", "lost": "red", "diverged": "red",
               "stopped": "yellow"}
    for rec in records:
        loss = rec.get("summary", {}).get("loss")
        table.add_row(
            rec["id"], f"[{colours.get(rec['status'], 'white')}]{rec['status']}[/]",
            f"{rec.get('modality') or '-'}/{rec.get('objective') or '-'}",
            f"{rec.get('step', 0)}/{rec.get('total_steps', 0)}",
            f"{loss:.4f}" if isinstance(loss, (int, float)) else "-", fmt_duration(rec.get("duration_s")),
        )
    Console().print(table)


@app.command()
def show(ref: RunRef, runs_dir: RunsDir = None, json_: JsonFlag = False) -> None:
    """Show one run: status, configuration and latest metrics."""
    rec = run_record(_find(runs_dir, ref))
    if json_:
        typer.echo(json.dumps(rec, indent=1))
        return
    typer.echo(f"{rec['id']}  {rec['status']}  step {rec['step']}/{rec['total_steps']}  "
               f"on {rec['device'] or '-'} (pid {rec['pid']}, {rec['host']})  {fmt_duration(rec['duration_s'])}")
    if rec["error"]:
        typer.echo(f"error: {rec['error']}")
    typer.echo(f"{rec['modality']} / {rec['objective']}  ({rec['path']})")
    if rec["world"] > 1:
        typer.echo(f"{rec['world']} processes × train.batch_size {rec['global_batch'] // rec['world']} "
                   f"= a global batch of {rec['global_batch']}")
    for k, v in rec["summary"].items():
        typer.echo(f"  {k:<16} {v:.6g}" if isinstance(v, float) else f"  {k:<16} {v}")
    if rec["eval"]:
        from sslterm.compare import flatten_evaluation

        accuracies = flatten_evaluation(rec["eval"])
        width = max(map(len, accuracies), default=0)
        for k, v in accuracies.items():
            typer.echo(f"  {k:<{width}} {v:.3f}")


@app.command("compare")
def compare_(
    refs: Annotated[list[str], typer.Argument(help="Two or more runs: ids, unique prefixes or run directories.",
                                              show_default=False)],
    runs_dir: RunsDir = None,
    json_: JsonFlag = False,
    csv_: Annotated[Path | None, typer.Option("--csv", help="Also write the comparison as CSV to FILE ('-': stdout).",
                                              show_default=False)] = None,
) -> None:
    """Compare runs side by side: final metrics, evaluation results and the config keys that differ."""
    from sslterm.compare import compare, table_sections

    runs = list({run.id: run for run in (_find(runs_dir, ref) for ref in refs)}.values())
    if len(runs) < 2:
        fail(f"compare needs two or more different runs, got {len(runs)}")
    cmp = compare(runs)
    if csv_ is not None:
        if str(csv_) == "-":
            typer.echo(cmp.to_csv(), nl=False)
            return
        try:
            csv_.write_text(cmp.to_csv(), encoding="utf-8")
        except OSError as e:
            fail(f"--csv: cannot write {csv_}: {e.strerror or e}", code=1)
        typer.echo(f"wrote {csv_}", err=True)
    if json_:
        typer.echo(cmp.to_json())
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(box=None, header_style="bold", pad_edge=False, padding=(0, 2, 0, 0))
    table.add_column("", no_wrap=True)
    for r in cmp.runs:
        table.add_column(r.id, justify="right", no_wrap=True)
    for _, title, rows in table_sections(cmp):
        table.add_row(f"[bold underline]{title}[/]")
        for label, cells in rows:
            table.add_row(f"  {label}", *cells)
    Console().print(table)


@app.command()
def watch(ref: RunRef, runs_dir: RunsDir = None) -> None:
    """Open the live dashboard of a run (leaving it never stops the run)."""
    run_ = _find(runs_dir, ref)
    from sslterm.tui.app import make_app

    make_app(runs_root(runs_dir), run_.id).run()


@app.command()
def stop(ref: RunRef, runs_dir: RunsDir = None) -> None:
    """Stop a running run cleanly: final checkpoint, status stopped."""
    from sslterm.launch import StopError
    from sslterm.launch import stop as stop_run

    run_ = _find(runs_dir, ref)
    try:
        pid = stop_run(run_)
    except StopError as e:
        fail(str(e), code=1)
    typer.echo(f"asked {run_.id} (pid {pid}) to stop; it writes a final checkpoint first")


@app.command()
def export(
    ref: RunRef,
    format_: Annotated[str, typer.Option("--format", "-f", help="csv or jsonl.")] = "csv",
    output: Annotated[Path | None, typer.Option("--output", "-o", help="File to write (default: stdout).")] = None,
    encoder: Annotated[Path | None, typer.Option("--encoder", help="Save the trained encoder to this .pt file.",
                                                 show_default=False)] = None,
    runs_dir: RunsDir = None,
) -> None:
    """Export a run's metrics (a header row, one row per logged step), or its encoder with --encoder."""
    if format_ not in ("csv", "jsonl"):
        fail(f"--format: got {format_!r}, expected csv or jsonl")
    run_ = _find(runs_dir, ref)
    if encoder is not None:
        from sslterm.evaluate.transfer import export_encoder

        try:
            export_encoder(run_, encoder)
        except (FileNotFoundError, config.ConfigError, OSError, ValueError) as e:   # ValueError: CheckpointError
            fail(str(e), code=1)
        typer.echo(f"saved the encoder of {run_.id} to {encoder}; load it with sslterm.models.load_encoder")
        return
    records = run_.metrics()
    out = open(output, "w", newline="", encoding="utf-8") if output else sys.stdout  # noqa: SIM115
    try:
        if format_ == "jsonl":
            for rec in records:
                out.write(json.dumps(rec) + "\n")
        else:
            columns: dict[str, None] = {"step": None}
            for rec in records:
                columns.update(dict.fromkeys(k for k, v in rec.items() if not isinstance(v, (dict, list))))
            writer = csv.DictWriter(out, fieldnames=list(columns), extrasaction="ignore")
            writer.writeheader()
            writer.writerows(records)
    finally:
        if output:
            out.close()


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


@app.command("eval")
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
    """Measure transfer: linear probe, kNN and fine-tuning with 1/10/100% of labels, vs a raw-input probe."""
    if device not in ("auto", "cpu", "cuda"):
        fail(f"--device: got {device!r}, expected auto, cpu or cuda")
    fractions = parse_percentages(finetune)
    run_ = _find(runs_dir, ref)
    from sslterm.evaluate.transfer import evaluate_run

    def log(line: str) -> None:
        typer.echo(line, err=True)

    try:
        record = evaluate_run(run_, device, finetune_epochs=epochs, fractions=fractions, supervised=baselines,
                              random_init=baselines, log=log)
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
    if "note" in record:
        typer.echo(record["note"])
        return
    typer.echo(f"{run_.id} at step {record['step']} ({record['train_examples']} train / "
               f"{record['eval_examples']} held-out examples)")
    rows = [("linear probe (frozen)", record["linear_probe"]), ("kNN (frozen)", record["knn"]),
            ("linear probe on raw inputs", record["raw_linear_probe"])]
    rows += [(f"fine-tune, {k} of labels", v) for k, v in record.get("finetune", {}).items()]
    if "random_init_linear_probe" in record:
        rows.append(("linear probe, untrained encoder", record["random_init_linear_probe"]))
    if "supervised" in record:
        rows.append(("supervised from scratch", record["supervised"]))
    for name, r in rows:
        typer.echo(f"  {name:<28} {r['accuracy']:.3f}")


@app.command()
def catalog(json_: JsonFlag = False) -> None:
    """List modalities, datasets, objectives, augmentations and encoders with their parameters."""
    data = catalog_mod.as_dict()
    if json_:
        typer.echo(json.dumps(data, indent=1))
        return
    for kind in catalog_mod.KINDS:
        typer.echo(f"\n{kind}s".upper())
        for e in catalog_mod.entries(kind):
            fits = f"  [{', '.join(e.modalities)}]" if e.modalities else ""
            typer.echo(f"  {e.name}{fits}: {e.help}")
            for p in e.params:
                typer.echo(f"      {p.name} = {p.default!r}  ({p.allowed()}) {p.help}")


@app.command()
def serve(
    ref: Annotated[str | None, typer.Argument(help="Open on this run's dashboard (default: the runs list).",
                                              show_default=False)] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on; 0.0.0.0 opens it to the network.")] = (
        "127.0.0.1"),
    port: Annotated[int, typer.Option("--port", help="Port to listen on.", min=1, max=65535)] = 8000,
    runs_dir: RunsDir = None,
) -> None:
    """Serve the app to a browser (textual-serve, one app process per visitor), on this machine only by default."""
    from sslterm.tui.serve import is_loopback, make_server

    root = runs_root(runs_dir)
    run_id = _find(runs_dir, ref).id if ref is not None else None
    server = make_server(root, run_id, host, port)
    if not is_loopback(host):
        typer.echo(f"sslterm: warning: listening on {host}: anyone who reaches port {port} can watch, stop and "
                   "delete runs, with no password", err=True)
    typer.echo(f"open {server.public_url} in a browser (ctrl+c stops)")
    server.serve()


def main() -> None:
    """Console-script entry point."""
    app()
