"""The ``sslterm`` command line: a thin face over the config, the run store, the launcher and the run lifecycle.

Nothing imported at start-up imports torch: training happens in the worker process, so every command
starts in a fraction of a second. Two commands import the evaluation code, and with it torch, inside
the command itself, in-process: ``eval`` and ``export --encoder``.

The runs root is ``--runs-dir`` (before or after the command), else ``$SSLTERM_RUNS``, else ``./runs``.
"""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from sslterm import __version__, config
from sslterm import catalog as catalog_mod
from sslterm.cli_args import JsonFlag, RunRef, RunsDir, fail
from sslterm.cli_eval import register as register_eval
from sslterm.cli_show import print_comparison, print_ls, print_show, run_record
from sslterm.data_cli import data_app
from sslterm.store import Run, RunNotFound, StatusError, find_run, list_runs, runs_root
from sslterm.store.runs import ENV_RUNS
from sslterm.sweep.spec import SWEEP_TABLE
from sslterm.sweep_cli import register as register_sweeps

app = typer.Typer(
    help="Set up, run, watch and compare self-supervised learning experiments from a terminal.",
    no_args_is_help=False, invoke_without_command=True, pretty_exceptions_enable=False,
    add_completion=False, context_settings={"help_option_names": ["-h", "--help"]},
)
app.add_typer(data_app, name="data")   # sslterm data prepare|ls|rm: sslterm/data_cli.py
register_sweeps(app)                    # sslterm sweep ... and sslterm queue: sslterm/sweep_cli.py

def _find(runs_dir: Path | None, ref: str) -> Run:
    try:
        run = find_run(runs_root(runs_dir), ref)
        run.status()
        return run
    except (RunNotFound, StatusError) as e:
        fail(str(e))


def writable_file(option: str, path: Path) -> Path:
    """``path`` if a file can be written there (its directory exists, it is not a directory); else one line, exit 2."""
    if path.is_dir():
        fail(f"{option}: {path} is a directory; give a file name")
    if not path.parent.is_dir():
        fail(f"{option}: cannot write {path}: the directory {path.parent}/ does not exist")
    return path


def _version(value: bool) -> None:
    if value:
        typer.echo(f"sslterm {__version__}")
        raise typer.Exit()


@app.callback()
def main_callback(
    ctx: typer.Context,
    runs_dir: RunsDir = None,
    theme: Annotated[str | None, typer.Option("--theme", help="The app's look: dark or mono (no colour). Default: "
                                              "$SSLTERM_THEME, else mono where NO_COLOR is set, else dark.",
                                              show_default=False)] = None,
    _version_: Annotated[bool, typer.Option("--version", callback=_version, is_eager=True,
                                            help="Print the version and exit.")] = False,
) -> None:
    """With no command, open the app on the runs in the runs root."""
    from sslterm.tui.terminal import terminal_environment

    if runs_dir is not None:  # `sslterm --runs-dir X CMD`: the root of every command (and of the processes they start)
        os.environ[ENV_RUNS] = str(runs_dir)

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
        if file is not None and SWEEP_TABLE in config.read_toml(file):
            fail(f"{file} defines a sweep: use sslterm sweep {file}")
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
        typer.echo(after_the_app(run_))
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
    steps: Annotated[int | None, typer.Option("--steps", help="Train on to this many steps in all (a finished run "
                                              "too); the learning-rate schedule is stretched to it.", min=1,
                                              show_default=False)] = None,
    epochs: Annotated[int | None, typer.Option("--epochs", help="A run trained by epochs (train.epochs): train on to "
                                               "this many epochs in all.", min=1, show_default=False)] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="train.steps=N or train.epochs=N, as --steps N or "
                                                   "--epochs N (the keys a resume changes).",
                                                   show_default=False)] = None,
    runs_dir: RunsDir = None,
) -> None:
    """Continue a stopped, failed, diverged or lost run from its last checkpoint (from step 0 if it has none)."""
    from sslterm.lifecycle import ResumeError, resume, resume_steps

    try:
        steps, epochs = resume_steps(set_ or (), steps, epochs)
    except config.ConfigError as e:
        fail(str(e))
    run_ = _find(runs_dir, ref)
    try:
        proc = resume(run_, nproc, steps, epochs)
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
    print_ls(records)


@app.command()
def show(ref: RunRef, runs_dir: RunsDir = None, json_: JsonFlag = False) -> None:
    """Show one run: status, configuration and latest metrics."""
    try:
        rec = run_record(_find(runs_dir, ref))
    except StatusError as e:
        fail(str(e))
    if json_:
        typer.echo(json.dumps(rec, indent=1))
        return
    print_show(rec)


@app.command("compare")
def compare_(
    refs: Annotated[list[str], typer.Argument(help="Two or more runs: ids, unique prefixes or run directories.",
                                              show_default=False)],
    runs_dir: RunsDir = None,
    json_: JsonFlag = False,
    csv_: Annotated[Path | None, typer.Option("--csv", help="Also write the comparison as CSV to FILE ('-': stdout).",
                                              show_default=False)] = None,
    group_by: Annotated[list[str] | None, typer.Option("--group-by", help="Group runs by this config key (the "
                                                       "seeds of each setting: mean ± std); runs or sweeps.",
                                                       show_default=False)] = None,
    metric: Annotated[str | None, typer.Option("--metric", help="With --group-by: the metric that ranks the groups.",
                                               show_default=False)] = None,
) -> None:
    """Compare runs side by side: final metrics, evaluation results and the config keys that differ."""
    if group_by:                                            # sslterm/sweep_cli.py
        from sslterm.sweep_cli import compare_groups
        compare_groups(runs_root(runs_dir), refs, group_by, metric, json_)
        return
    from sslterm.compare import compare

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
    print_comparison(cmp)


def after_the_app(run_: Run) -> str:
    """The line ``run --watch`` prints when the app closes: where the run stands and how to get back to it."""
    from sslterm.store.states import is_active

    state = run_.state()
    if is_active(state):
        return f"{run_.id} keeps training in the background; `sslterm watch {run_.id}` to return"
    return f"{run_.id} {state}; `sslterm show {run_.id}` for its summary"


@app.command()
def watch(ref: RunRef, runs_dir: RunsDir = None) -> None:
    """Open the live dashboard of a run (leaving it never stops the run)."""
    run_ = _find(runs_dir, ref)
    from sslterm.tui.app import make_app

    make_app(runs_root(runs_dir), run_.id).run()


@app.command()
def stop(ref: RunRef, runs_dir: RunsDir = None) -> None:
    """Stop a running run cleanly: final checkpoint, status stopped."""
    from sslterm.lifecycle import StopError
    from sslterm.lifecycle import stop as stop_run

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
    for option, path in (("--encoder", encoder), ("--output", output)):
        if path is not None:
            writable_file(option, path)
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
    try:
        out = open(output, "w", newline="", encoding="utf-8") if output else sys.stdout  # noqa: SIM115
    except OSError as e:
        fail(f"--output: cannot write {output}: {e.strerror or e}", code=1)
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


register_eval(app)  # between export and catalog in --help, where it was declared: sslterm/cli_eval.py


@app.command()
def catalog(json_: JsonFlag = False) -> None:
    """List modalities, datasets, objectives, augmentations and encoders with their parameters."""
    data = catalog_mod.as_dict()
    if json_:
        typer.echo(json.dumps(data, indent=1))
        return
    for kind in catalog_mod.KINDS:
        typer.echo("\n" + catalog_mod.plural(kind).upper())
        for e in catalog_mod.entries(kind):
            fits = f"  [{', '.join(e.modalities)}]" if e.modalities else ""
            typer.echo(f"  {e.name}{fits}: {e.help}")
            for p in e.params:
                typer.echo(f"      {p.name} = {p.default!r}  ({p.allowed()}) {p.help}")
    typer.echo("\nFORMATS  (what data.path is: detected from the path, or named by data.format)")
    for modality, rows in data["formats"].items():
        typer.echo(f"  {modality}:")
        for f in rows:
            extra = f"  (needs {f['extra']}: pip install 'sslterm[data]')" if f["extra"] else ""
            typer.echo(f"      {f['format']:<13} {f['detected']}{extra}")


@app.command()
def serve(
    ref: Annotated[str | None, typer.Argument(help="Open on this run's dashboard (default: the runs list).",
                                              show_default=False)] = None,
    host: Annotated[str, typer.Option("--host", help="Address to listen on; 0.0.0.0 opens it to the network.")] = (
        "127.0.0.1"),
    port: Annotated[int, typer.Option("--port", help="Port to listen on.", min=1, max=65535)] = 8000,
    runs_dir: RunsDir = None,
) -> None:
    """Serve the app to a browser (textual-serve, one app process per visitor), on this machine only by default.

    textual-serve has no authentication: on 127.0.0.1 every local user can open it; any other --host
    requires the random token printed with the address.
    """
    from sslterm.tui.serve import is_loopback, make_server, new_token

    root = runs_root(runs_dir)
    run_id = _find(runs_dir, ref).id if ref is not None else None
    token = None if is_loopback(host) else new_token()   # textual-serve has no authentication of its own
    server = make_server(root, run_id, host, port, token)
    if token is not None:
        typer.echo(f"sslterm: warning: listening on {host}: anyone with this address, token included, can watch, "
                   "stop and delete runs", err=True)
    typer.echo(f"open {server.public_url}{'/?token=' + token if token else ''} in a browser (ctrl+c stops)")
    server.serve()


def main() -> None:
    """Console-script entry point."""
    app()
