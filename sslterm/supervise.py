"""Keeps a run's worker alive: ``python -m sslterm.supervise RUN_DIR ATTEMPTS [NPROC]``.

Runs the worker as its child. When the worker dies without recording a final state (killed by
a signal, the machine's OOM killer, a crash of the interpreter), the run is resumed from its last
checkpoint, at most ATTEMPTS times. A worker that finished, stopped, diverged or failed with a
recorded error is left alone: repeating a deterministic error would not help. SIGTERM and SIGINT
are passed on to the worker, so ``sslterm stop`` still ends the run cleanly.

With NPROC > 1 the child is ``torchrun`` (``python -m torch.distributed.run``) starting NPROC
workers. When a rank fails it leaves ``rank<N>.error``; once the job has ended the supervisor
(then the only process left, so still the run's one writer) records that rank and its error as
the run's failure.

A job on several nodes has no supervisor; its batch script ends with
``python -m sslterm.supervise RUN_DIR --record-failure CODE`` when torchrun failed, which records
the failure the same way (see docs/distributed.md).
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

from sslterm.store import Run, read_status, write_status
from sslterm.store.status import ACTIVE

FINAL = ("finished", "stopped", "diverged", "failed")


def worker_command(run_dir: Path, nproc: int, resume: bool) -> list[str]:
    """The command that starts the worker(s): the worker itself, or torchrun with NPROC of them."""
    tail = ["-m", "sslterm.worker", str(run_dir), *(["--resume"] if resume else [])]
    if nproc <= 1:
        return [sys.executable, *tail]
    return [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", *tail]


_ROOT_CAUSE = re.compile(r"Root Cause.*?rank\s*:\s*(\d+).*?exitcode\s*:\s*(-?\d+)", re.S)


def record_failure(run_dir: Path, code: int) -> None:
    """Mark the run failed, naming the rank at the root of it and its error.

    The root cause comes from torchrun's failure summary in the log; its message from the
    ``rank<N>.error`` that rank left, if it could (a killed process leaves none).
    """
    errors = {}
    for path in sorted(run_dir.glob("rank*.error")):
        rec = json.loads(path.read_text(encoding="utf-8"))
        errors[int(rec["rank"])] = str(rec["error"])
    found = _ROOT_CAUSE.findall("\n".join(Run(run_dir).log_tail(300)))
    if found:
        rank, exit_code = int(found[-1][0]), found[-1][1]
        message = (f"rank {rank} failed: {errors[rank]}" if rank in errors
                   else f"rank {rank} died (exit code {exit_code}); see worker.log")
    elif errors:
        rank = min(errors)
        message = f"rank {rank} failed: {errors[rank]}"
    else:
        message = f"a worker died (exit code {code}); see worker.log"
    write_status(run_dir, read_status(run_dir).evolve(state="failed", ended_at=time.time(), error=message))


def supervise(run_dir: Path, attempts: int, nproc: int = 1, resume: bool = False) -> int:
    """Run the worker, resuming it after each unrecorded death; returns the last worker's exit code."""
    run = Run(run_dir)
    child: subprocess.Popen[bytes] | None = None
    stopping = False

    def forward(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True
        if child is not None and child.poll() is None:
            child.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    resume_next = resume
    write_status(run_dir, read_status(run_dir).evolve(supervisor=os.getpid()))
    while True:
        for stale in run_dir.glob("rank*.error"):
            stale.unlink()
        child = subprocess.Popen(worker_command(run_dir, nproc, resume_next), stdin=subprocess.DEVNULL)
        code = child.wait()
        if nproc > 1 and code != 0 and read_status(run_dir).state not in ("diverged", "stopped"):
            record_failure(run_dir, code)
            return code
        state = read_status(run_dir).state
        if state in FINAL or stopping:
            return code
        if attempts <= 0 or not (run.checkpoint_dir / "last.pt").is_file():
            print(f"worker died (exit {code}) with no attempts or checkpoint left: the run is lost", flush=True)
            return code
        attempts -= 1
        print(f"\n--- worker died (exit {code}) in state {state}: resuming; {attempts} attempts left ---", flush=True)
        status = read_status(run_dir)
        write_status(run_dir, status.evolve(state="starting", pid=None, resumes=status.resumes + 1,
                                            created_at=time.time()))
        resume_next = True
        if state not in ACTIVE:
            return code


def record_job_failure(run_dir: Path, code: int) -> None:
    """After workers started without a supervisor ended with ``code`` ≠ 0: record the failure,
    unless the workers recorded how the run ended (diverged, stopped, finished)."""
    if read_status(run_dir).state not in FINAL:
        record_failure(run_dir, code)


def main() -> None:
    """Entry point of the supervisor process, or with ``--record-failure CODE`` of a job script's last step."""
    if len(sys.argv) == 4 and sys.argv[2] == "--record-failure" and sys.argv[3].isdigit():
        record_job_failure(Path(sys.argv[1]), int(sys.argv[3]))
        return
    args = [a for a in sys.argv[1:] if a != "--resume"]
    if len(args) not in (2, 3) or not all(a.isdigit() for a in args[1:]):
        print("usage: python -m sslterm.supervise RUN_DIR ATTEMPTS [NPROC] [--resume]\n"
              "       python -m sslterm.supervise RUN_DIR --record-failure EXIT_CODE", file=sys.stderr)
        raise SystemExit(2)
    nproc = int(args[2]) if len(args) == 3 else 1
    raise SystemExit(supervise(Path(args[0]), int(args[1]), nproc, resume="--resume" in sys.argv))


if __name__ == "__main__":
    main()
