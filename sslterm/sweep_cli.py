"""``sslterm sweep`` and ``sslterm queue``: define, start, pause, resume and cancel sweeps, and list their trials."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Annotated

import typer

from sslterm import config
from sslterm.cli_args import RunsDir, fail
from sslterm.store import runs_root
from sslterm.sweep import control
from sslterm.sweep import store as ss
from sslterm.sweep.search import missing as search_missing
from sslterm.sweep.spec import make_spec, split_sweep
from sslterm.sweep_report import (
    print_grouped,
    print_search,
    print_sensitivity,
    print_trials,
    show_sweeps,
    trials_csv,
)

ACTIONS = ("pause", "resume", "cancel", "show")


def register(app: typer.Typer) -> None:
    """Add ``sweep`` and ``queue`` to the ``sslterm`` command line."""
    app.command("sweep")(sweep_command)
    app.command("queue")(queue_command)


def sweep_command(
    target: Annotated[str, typer.Argument(help="An experiment TOML file to sweep, or pause|resume|cancel|show.",
                                          show_default=False)],
    sweep_ref: Annotated[str | None, typer.Argument(help="With pause|resume|cancel|show: the sweep (id or prefix).",
                                                    show_default=False)] = None,
    grid: Annotated[list[str] | None, typer.Option("--grid", help="key=v1,v2,...: every value (combined with "
                                                   "the other --grid keys).", show_default=False)] = None,
    random_: Annotated[list[str] | None, typer.Option("--random", help="key=uniform:LOW:HIGH, loguniform:LOW:HIGH, "
                                                      "int:LOW:HIGH or choice:A,B,...", show_default=False)] = None,
    trials: Annotated[int, typer.Option("--trials", help="Random-search samples (with --search: trials).", min=0,
                                        max=10_000)] = 0,
    seeds: Annotated[int | None, typer.Option("--seeds", help="Seeds per setting (the experiment's seed, +1, ...).",
                                              min=1, max=1000, show_default=False)] = None,
    sample_seed: Annotated[int, typer.Option("--sample-seed", help="Seed of the random-search draws (with "
                                             "--search: of the TPE sampler).", min=0)] = 0,
    search: Annotated[str, typer.Option("--search", help="optuna: each trial's setting proposed by TPE from the "
                                        "finished trials' --metric, trailing trials pruned.", show_default=False)] = "",
    metric: Annotated[str, typer.Option("--metric", help="With --search: the logged metric to learn from (knn_acc, "
                                        "probe_acc, loss, ...).", show_default=False)] = "",
    direction: Annotated[str, typer.Option("--direction", help="With --search: maximize or minimize (default: "
                                           "minimize a *loss*, else maximize).", show_default=False)] = "",
    prune: Annotated[bool, typer.Option("--prune/--no-prune", help="With --search: stop trials whose metric trails "
                                        "the median of the earlier trials at the same step.")] = True,
    prune_startup: Annotated[int, typer.Option("--prune-startup", help="With --search: finished trials before any "
                                               "is pruned.", min=0)] = 2,
    prune_warmup: Annotated[int | None, typer.Option("--prune-warmup", help="With --search: steps before a trial "
                                                     "can be pruned (default: a quarter of train.steps).", min=0,
                                                     show_default=False)] = None,
    set_: Annotated[list[str] | None, typer.Option("--set", help="Override a key of the experiment: table.key=value.",
                                                   show_default=False)] = None,
    parallel: Annotated[int, typer.Option("--parallel", help="Trials at once (0: one per visible GPU; one on a "
                                          "CPU machine).", min=0, max=1024)] = 0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the trials and start nothing (with --slurm: "
                                          "write the sbatch scripts).")] = False,
    slurm: Annotated[bool, typer.Option("--slurm", help="Submit each trial as a SLURM job (sbatch).")] = False,
    partition: Annotated[str | None, typer.Option("--partition", help="SLURM partition.", show_default=False)] = None,
    time_limit: Annotated[str, typer.Option("--time", help="SLURM time limit per trial.")] = "04:00:00",
    gpus: Annotated[int, typer.Option("--gpus", help="SLURM GPUs per trial.", min=0, max=64)] = 1,
    nproc: Annotated[int, typer.Option("--nproc", help="Processes per trial (torchrun), with --slurm.",
                                       min=1, max=64)] = 1,
    json_: Annotated[bool, typer.Option("--json", help="With show: print JSON.")] = False,
    csv_: Annotated[bool, typer.Option("--csv", help="With show: a CSV row per trial (settings, metrics).")] = False,
    plot: Annotated[str | None, typer.Option("--plot", help="With show: the final --metric against this swept key "
                                             "(mean ± std per value), as a terminal plot.", show_default=False)] = None,
    runs_dir: RunsDir = None,
) -> None:
    """Sweep an experiment: `sslterm sweep FILE --grid KEY=A,B --seeds 3`; or pause|resume|cancel|show SWEEP."""
    root = runs_root(runs_dir)
    if target in ACTIONS and not Path(target).exists():
        if sweep_ref is None:
            fail(f"sweep {target}: name the sweep (see `sslterm queue`)")
        if plot is not None and target != "show":
            fail(f"--plot applies to `sslterm sweep show SWEEP`, not {target}")
        if csv_ and (target != "show" or plot is not None or json_):
            fail("--csv applies to `sslterm sweep show SWEEP` alone (not with --plot or --json)")
        if csv_:
            try:
                typer.echo(trials_csv([_find(root, sweep_ref)]), nl=False)
            except (OSError, ValueError) as e:
                fail(f"sweep {sweep_ref}: cannot read its trials: {e}")
            return
        _control(root, target, sweep_ref, json_, plot, metric or None)
        return
    if sweep_ref is not None:
        fail(f"sweep: unexpected argument {sweep_ref!r}; the form is `sslterm sweep FILE [options]` or "
             f"`sslterm sweep {'|'.join(ACTIONS)} SWEEP`")
    try:
        raw, table = split_sweep(config.read_toml(target), target)
        flags = bool(grid or random_ or trials or seeds or search)
        spec = make_spec(list(grid or ()), list(random_ or ()), trials, seeds or 1, sample_seed, search=search,
                         metric=metric, direction=direction, prune=prune, prune_startup=prune_startup,
                         prune_warmup=prune_warmup) if flags else table
        if spec is None:
            fail(f"{target}: nothing to sweep; give --grid KEY=A,B, --random KEY=DIST --trials N or --seeds N, "
                 "or a [sweep] table in the file")
        if spec.search and (slurm or search_missing()):
            fail(search_missing() or "--slurm with --search optuna: not yet (Optuna proposes each trial as another "
                 "ends, which the scheduler on this machine does); use --random with --slurm")
        base = config.overridden(raw, list(set_ or ()))
        name = control.sweep_name(str(base.get("name") or Path(target).stem))
        trial_list, exps = control.plan(base, spec, target, name)
    except config.ConfigError as e:               # SweepError too
        fail(str(e))
    if dry_run and not slurm:
        if spec.search:
            print_search(spec)
        else:
            print_trials(spec, trial_list, len(exps))
        return
    from sslterm.sweep.slurm import SlurmOptions, write_scripts

    opts = SlurmOptions(partition=partition, time=time_limit, gpus=gpus, nproc=nproc)
    if not slurm and nproc > 1:
        fail("--nproc applies to --slurm trials; on this machine each trial runs one process")
    if slurm and opts.problem():
        fail(str(opts.problem()))
    if slurm and not dry_run and shutil.which("sbatch") is None:
        fail("--slurm: sbatch is not on PATH (not a SLURM login node?); --dry-run writes the scripts anyway", code=1)
    try:
        sweep = control.create(root, name, str(Path(target).resolve()), base, spec, trial_list, exps, parallel, slurm)
    except OSError as e:
        fail(f"cannot create a sweep in {root}/: {e.strerror or e}", code=1)
    if slurm:
        scripts = write_scripts(sweep, root, opts)
        typer.echo(f"sweep {sweep.id}: {len(scripts)} sbatch script(s) in {sweep.path / 'slurm'}/")
        if dry_run:
            return
        from sslterm.sweep.slurm_jobs import submit

        said = submit(sweep, scripts)
        for line in said:
            typer.echo(f"  {line}")
        submitted = sum(t.get("job") is not None for t in sweep.trials()["trials"])
        typer.echo(f"sweep {sweep.id}: {submitted} of {len(scripts)} trial(s) submitted; `sslterm queue` follows "
                   f"their jobs, `sslterm sweep cancel {sweep.id}` cancels them")
        if submitted < len(scripts):
            raise typer.Exit(1)
        return
    control.start_scheduler(sweep)
    typer.echo(f"sweep {sweep.id}: {len(trial_list)} trial(s) queued; `sslterm queue` to follow, "
               f"`sslterm sweep pause {sweep.id}` to hold the queue")


def _find(root: Path, ref: str) -> ss.Sweep:
    try:
        return ss.find_sweep(root, ref)
    except ss.SweepNotFound as e:
        fail(str(e))


def _control(root: Path, action: str, ref: str, json_: bool, plot: str | None = None,
             metric: str | None = None) -> None:
    sweep = _find(root, ref)
    if action == "show" and plot is not None:
        show_sensitivity(sweep, plot, metric, json_)
        return
    if action == "show":
        refresh_slurm([sweep])
        show_sweeps([sweep], json_)
        spec = sweep.spec().get("spec", {})
        keys = [*spec.get("grid", {}), *(r.partition("=")[0] for r in spec.get("random", []))]
        done = sum(t["state"] == ss.DONE for t in sweep.trials()["trials"])
        if not json_ and keys and done >= 2 and not spec.get("search"):   # a search's settings are each one of a kind
            typer.echo("")
            compare_groups(root, [str(sweep.path)], keys, None, False)    # which setting wins, with the spread
        return
    act = {"pause": control.pause, "resume": control.resume, "cancel": control.cancel}[action]
    try:
        said = act(sweep)
    except control.ControlError as e:
        fail(str(e), code=e.code)
    typer.echo(said + (f"; `sslterm sweep resume {sweep.id}` to go on" if action == "pause" else ""))


def show_sensitivity(sweep: ss.Sweep, key: str, metric: str | None, json_: bool) -> None:
    """``sslterm sweep show SWEEP --plot KEY [--metric M]``: the metric against the key (plot and table, or JSON)."""
    from dataclasses import asdict

    from sslterm.sweep.analysis import sweep_sensitivity

    refresh_slurm([sweep])
    try:
        sens = sweep_sensitivity(sweep, key, metric)
    except ValueError as e:
        fail(str(e))
    if json_:
        typer.echo(json.dumps(asdict(sens), indent=1))
        return
    print_sensitivity(sens)


def refresh_slurm(sweeps: list[ss.Sweep]) -> None:
    """Bring the SLURM sweeps among ``sweeps`` up to date (their jobs' and runs' states) before they are shown."""
    from sslterm.sweep.slurm_jobs import is_slurm, refresh

    for sweep in sweeps:
        try:
            if is_slurm(sweep):
                refresh(sweep)
        except (OSError, ValueError):             # a damaged sweep: show_sweeps says so in its line
            continue


def queue_command(
    action: Annotated[str | None, typer.Argument(help="top: move a queued trial to the front.",
                                                 show_default=False)] = None,
    sweep_ref: Annotated[str | None, typer.Argument(help="The sweep.", show_default=False)] = None,
    trial: Annotated[str | None, typer.Argument(help="The trial (t003).", show_default=False)] = None,
    json_: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    runs_dir: RunsDir = None,
) -> None:
    """List sweeps and their trials (state, run, metric); `sslterm queue top SWEEP TRIAL` moves a trial up."""
    root = runs_root(runs_dir)
    if action is None:
        sweeps = ss.list_sweeps(root)
        refresh_slurm(sweeps)
        show_sweeps(sweeps, json_, root)
        return
    if action != "top" or sweep_ref is None or trial is None:
        fail(f"queue: got {action!r}; the forms are `sslterm queue` and `sslterm queue top SWEEP TRIAL`")
    try:
        typer.echo(control.move_top(_find(root, sweep_ref), trial))
    except control.ControlError as e:
        fail(str(e), code=e.code)


def compare_groups(root: Path, refs: list[str], keys: list[str], metric: str | None, json_: bool) -> None:
    """``sslterm compare --group-by KEY... REFS``: REFS are runs or sweeps (a sweep stands for its trials' runs)."""
    from sslterm.compare import compare
    from sslterm.compare_groups import group_runs
    from sslterm.store import Run, RunNotFound, StatusError, find_run

    runs: dict[str, Run] = {}
    for ref in refs:
        try:
            found = [find_run(root, ref)]
        except RunNotFound as e:
            try:
                sweep = ss.find_sweep(root, ref)
            except ss.SweepNotFound:
                fail(f"{e}; nor does it name a sweep (see `sslterm queue`)")
            found = [Run(root / t["run_id"]) for t in sweep.trials()["trials"]
                     if t.get("run_id") and (root / t["run_id"] / "status.json").is_file()]
        runs.update((r.id, r) for r in found)
    if len(runs) < 2:
        fail(f"compare needs two or more different runs, got {len(runs)}")
    try:
        cmp = compare(list(runs.values()))
    except StatusError as e:
        fail(str(e))
    from sslterm.compare import flatten

    configs = [flatten(r.config()) for r in runs.values()]
    missing = [k for k in keys if not any(k in c for c in configs)]
    if missing:
        fail(f"--group-by: no run has the key {missing[0]!r}; keys that differ between these runs: "
             f"{', '.join(cmp.config_diff) or 'none'}")
    grouped = group_runs(cmp, keys, metric)
    if metric is not None and grouped.best is None:
        known = sorted({m for g in grouped.groups for m in g.stats})
        fail(f"--metric: no run has {metric!r}; the runs have: {', '.join(known) or 'no metrics yet'}")
    if json_:
        typer.echo(grouped.to_json())
        return
    print_grouped(grouped)
