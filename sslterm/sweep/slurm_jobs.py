"""A sweep on SLURM: each trial's script submitted with ``sbatch``, the jobs followed through ``squeue``/``sacct``
and the runs' own status files in the shared runs root, held, released and cancelled with ``scontrol``/``scancel``.

SLURM is the queue: no scheduler process runs for such a sweep. Whoever looks (``sslterm queue``, ``sweep
show``) brings ``trials.json`` up to date (:func:`refresh`): a trial's run, once its job has noted it in
``slurm/<trial>.run``, says how the trial stands (its status is the truth about training); before that, and
when a job ended without its run saying so (killed at the time limit, a node lost), SLURM's state does.
Torch-free; the SLURM commands are found on PATH, and a missing ``squeue``/``sacct`` only means less is known.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

from sslterm.store import Run
from sslterm.store.states import State, is_final
from sslterm.sweep.store import CANCELLED, DONE, FAILED, PAUSED, QUEUED, RUNNING, TRIAL_FINAL, Sweep

TIMEOUT_S = 60
PENDING_STATES = ("PENDING", "REQUEUED", "REQUEUE_HOLD", "REQUEUE_FED", "RESV_DEL_HOLD", "SUSPENDED")
RUNNING_STATES = ("RUNNING", "CONFIGURING", "COMPLETING", "STAGE_OUT", "SIGNALING", "RESIZING")


class SlurmError(RuntimeError):
    """A SLURM command that is missing or refused: the one line to show."""


def is_slurm(sweep: Sweep) -> bool:
    """Whether the sweep's trials are SLURM jobs."""
    return bool(sweep.spec().get("slurm"))


def _run(args: list[str]) -> subprocess.CompletedProcess[str]:
    exe = shutil.which(args[0])
    if exe is None:
        raise SlurmError(f"{args[0]} is not on PATH (not a SLURM login node?)")
    try:
        return subprocess.run([exe, *args[1:]], capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError) as e:
        raise SlurmError(f"{args[0]} could not run: {e}") from None


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def submit(sweep: Sweep, scripts: list[Path]) -> list[str]:
    """Submit each queued trial's script (``slurm/<trial>.sbatch``) with ``sbatch --parsable``; record its job
    id as the trial's ``job``. A refused submission marks that trial failed with sbatch's line; the others go on.
    One line per trial, to print."""
    by_id = {p.stem: p for p in scripts}
    said = []
    with sweep.edit() as data:
        for t in data["trials"]:
            script = by_id.get(t["id"])
            if script is None or t["state"] != QUEUED or t.get("job"):
                continue
            try:
                proc = _run(["sbatch", "--parsable", str(script)])
            except SlurmError as e:
                t.update(state=FAILED, error=f"not submitted: {e}")
                said.append(f"{t['id']}: not submitted: {e}")
                continue
            job = proc.stdout.strip().split(";")[0].strip()
            if proc.returncode != 0 or not job.isdigit():
                t.update(state=FAILED, error=f"not submitted: {_last_line(proc.stderr or proc.stdout)}")
                said.append(f"{t['id']}: not submitted: {_last_line(proc.stderr or proc.stdout)}")
                continue
            t["job"] = job
            said.append(f"{t['id']}: SLURM job {job}")
        data["state"] = RUNNING if any(t.get("job") for t in data["trials"]) else FAILED
    return said


def job_states(jobs: list[str]) -> dict[str, str]:
    """SLURM's state of each job (``PENDING``, ``RUNNING``, ``COMPLETED``, ``TIMEOUT``, ...): ``squeue`` for
    the jobs it still lists, ``sacct`` for the ended ones; a job neither knows (or no command on PATH) is left out."""
    if not jobs:
        return {}
    states: dict[str, str] = {}
    for cmd, fmt in (("squeue", ["-h", "-j", "{}", "-o", "%i %T"]), ("sacct", ["-n", "-P", "-X", "-j", "{}", "-o",
                                                                             "JobID,State"])):
        missing = [j for j in jobs if j not in states]
        if not missing or shutil.which(cmd) is None:
            continue
        try:
            proc = _run([cmd, *(a.format(",".join(missing)) for a in fmt)])
        except SlurmError:
            continue
        for line in proc.stdout.splitlines():
            parts = line.replace("|", " ").split()
            if len(parts) >= 2 and parts[0] in missing:
                states[parts[0]] = parts[1].split("+")[0].upper()   # "CANCELLED by 1000" arrives as "CANCELLED"
    return states


def _run_of(sweep: Sweep, t: dict[str, Any]) -> Run | None:
    """The run the trial's job noted in ``slurm/<trial>.run``, once it has a status."""
    note = sweep.path / "slurm" / f"{t['id']}.run"
    try:
        text = note.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    run = Run(Path(text)) if text else None
    return run if run is not None and (run.path / "status.json").is_file() else None


def _from_run(t: dict[str, Any], run: Run) -> bool:
    """Update ``t`` from its run's status; True when that settles the trial (its run ended)."""
    from sslterm.sweep.scheduler import run_metric

    state = run.state()
    t["run_id"] = run.id
    if not is_final(state):
        return False
    ok = state == State.FINISHED
    t.update(state=DONE if ok else CANCELLED if state == State.STOPPED else FAILED,
             error=None if ok else run.status().error or str(state), metric=run_metric(run))
    return True


def refresh(sweep: Sweep) -> None:
    """Bring a SLURM sweep's trial list up to date from its runs and SLURM's view of its jobs."""
    with sweep.edit() as data:
        open_trials = []
        for t in data["trials"]:
            if t["state"] in TRIAL_FINAL or not t.get("job"):
                continue
            run = _run_of(sweep, t)
            try:
                if run is not None and _from_run(t, run):
                    continue                            # its run has ended: SLURM need not be asked
            except (OSError, ValueError) as e:
                t.update(state=FAILED, error=f"its run cannot be read: {e}")
                continue
            open_trials.append((t, run))
        states = job_states([t["job"] for t, _ in open_trials])
        for t, run in open_trials:
            job = states.get(t["job"])
            if job in PENDING_STATES:
                t["state"] = QUEUED
            elif job in RUNNING_STATES or (job is None and run is not None):
                t["state"] = RUNNING
            elif job is not None:                       # the job ended and its run does not say how
                t.update(state=CANCELLED if job == "CANCELLED" else FAILED,
                         error=f"SLURM job {t['job']} {job}" + ("" if run else " before its run was made"))
        if all(t["state"] in TRIAL_FINAL for t in data["trials"]) and data["state"] not in (CANCELLED, FAILED):
            data["state"] = DONE


def _open_jobs(data: dict[str, Any], queued_only: bool = False) -> list[str]:
    return [t["job"] for t in data["trials"] if t.get("job") and t["state"] not in TRIAL_FINAL
            and (not queued_only or t["state"] == QUEUED)]


def cancel(sweep: Sweep) -> str:
    """Cancel every job of the sweep not ended: a pending one (``scancel``) never starts; a running one gets
    ``scancel --signal=TERM --full`` (the worker runs in the batch step, which only ``--full`` reaches): its
    worker stops cleanly with a final checkpoint, its run ends stopped and its trial is cancelled at the next look."""
    refresh(sweep)
    with sweep.edit() as data:
        pending = _open_jobs(data, queued_only=True)
        running = [j for j in _open_jobs(data) if j not in pending]
        jobs = pending + running
        for options, some in (([], pending), (["--signal=TERM", "--full"], running)):
            if some:
                proc = _run(["scancel", *options, *some])
                if proc.returncode != 0:
                    raise SlurmError(f"scancel refused: {_last_line(proc.stderr or proc.stdout)}")
        data["state"] = CANCELLED
        for t in data["trials"]:
            if t["state"] == QUEUED:
                t.update(state=CANCELLED, error=None)
    return f"sweep {sweep.id} cancelled: scancel {len(jobs)} job(s)" if jobs else f"sweep {sweep.id} cancelled"


def hold(sweep: Sweep, release: bool) -> str:
    """``scontrol hold`` the sweep's pending jobs (running ones go on), or ``scontrol release`` them."""
    refresh(sweep)
    with sweep.edit() as data:
        if data["state"] in (DONE, CANCELLED):
            return f"sweep {sweep.id} is {data['state']}; nothing to {'resume' if release else 'pause'}"
        jobs = _open_jobs(data, queued_only=True)
        if jobs:
            proc = _run(["scontrol", "release" if release else "hold", ",".join(jobs)])
            if proc.returncode != 0:
                raise SlurmError(f"scontrol refused: {_last_line(proc.stderr or proc.stdout)}")
        data["state"] = RUNNING if release else PAUSED
    what = "released" if release else "held (running ones go on)"
    return f"sweep {sweep.id} {'resumed' if release else 'paused'}: {len(jobs)} pending SLURM job(s) {what}"
