"""SLURM: one ``sbatch`` script per trial, kept in the sweep directory (``slurm/<trial>.sbatch``).

Each job prepares its trial's run in the shared runs root (``sslterm run FILE --prepare``), notes the run's
directory in ``slurm/<trial>.run``, and trains it in the foreground of the job step: ``python -m
sslterm.worker`` for one process, ``torchrun --standalone --nproc-per-node=N`` for ``--nproc N`` (as
docs/distributed.md shows). SLURM's ``--signal=TERM@300`` gives the worker five minutes to stop cleanly
with a final checkpoint before the time limit; a failure is recorded in the run's status.
"""

from __future__ import annotations

import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from sslterm.atomic import atomic_write_text, make_dir
from sslterm.sweep.store import Sweep

_TIME = re.compile(r"^(\d+-)?\d{1,2}(:\d{2}){0,2}$")


@dataclass(frozen=True)
class SlurmOptions:
    """What each trial's job asks SLURM for."""

    partition: str | None = None
    time: str = "04:00:00"        # SLURM's formats: MM, HH:MM:SS, D-HH:MM:SS
    gpus: int = 1                 # GPUs per trial (--gres=gpu:N)
    nproc: int = 1                # processes per trial; above 1 through torchrun

    def problem(self) -> str | None:
        """Why these options cannot make a job script (one line), or None."""
        if not _TIME.match(self.time):
            return f"--time: got {self.time!r}, expected a SLURM time such as 04:00:00 or 1-00:00:00"
        if self.partition is not None and not re.match(r"^[A-Za-z0-9_.,-]+$", self.partition):
            return f"--partition: got {self.partition!r}, expected a partition name (letters, digits, _ . , -)"
        if self.gpus and self.nproc > self.gpus:
            return f"--nproc {self.nproc} is more than --gpus {self.gpus}: one process per GPU"
        return None


def script(sweep: Sweep, root: Path, trial: dict[str, object], opts: SlurmOptions) -> str:
    """The sbatch script of one trial."""
    tid = str(trial["id"])
    slurm_dir = sweep.path / "slurm"
    config_file = shlex.quote(str(sweep.trial_config(tid)))
    run_file = shlex.quote(str(slurm_dir / f"{tid}.run"))
    settings = trial.get("settings") or {}
    label = ", ".join(f"{k}={v}" for k, v in settings.items()) if isinstance(settings, dict) else ""
    lines = [
        "#!/bin/bash",
        f"# sslterm sweep {sweep.id}, trial {tid}: {label or '(base)'}, seed {trial.get('seed')}",
        f"#SBATCH --job-name={trial['name']}",
        *([f"#SBATCH --partition={opts.partition}"] if opts.partition else []),
        f"#SBATCH --time={opts.time}",
        "#SBATCH --nodes=1",
        "#SBATCH --ntasks=1",
        *([f"#SBATCH --gres=gpu:{opts.gpus}"] if opts.gpus else []),
        "#SBATCH --signal=TERM@300            # 5 minutes before the limit: stop cleanly, with a final checkpoint",
        f"#SBATCH --output={slurm_dir / f'{tid}-%j.out'}",
        "set -euo pipefail",
        'PYTHON=${SSLTERM_PYTHON:-python}',
        f"RUN_DIR=$(\"$PYTHON\" -m sslterm --runs-dir {shlex.quote(str(root))} run {config_file} --prepare)",
        f'echo "$RUN_DIR" > {run_file}',
    ]
    if opts.nproc > 1:
        lines.append(f'torchrun --standalone --nproc-per-node={opts.nproc} -m sslterm.worker "$RUN_DIR" '
                     '>> "$RUN_DIR/worker.log" 2>&1 \\')
    else:
        lines.append('"$PYTHON" -m sslterm.worker "$RUN_DIR" >> "$RUN_DIR/worker.log" 2>&1 \\')
    lines.append('  || "$PYTHON" -m sslterm.supervise "$RUN_DIR" --record-failure $?')
    return "\n".join(lines) + "\n"


def write_scripts(sweep: Sweep, root: Path, opts: SlurmOptions) -> list[Path]:
    """Write every trial's script into ``<sweep>/slurm/``; the paths, in queue order."""
    out = make_dir(sweep.path / "slurm")
    paths = []
    for trial in sweep.trials()["trials"]:
        path = out / f"{trial['id']}.sbatch"
        atomic_write_text(path, script(sweep, root.resolve(), trial, opts))
        paths.append(path)
    return paths
