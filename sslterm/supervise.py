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
from sslterm.store.lock import ENV_FD, ENV_SUPERVISED, RunLocked, acquire, adopt, record_holder
from sslterm.store.states import State, is_active, is_final
from sslterm.store.status import process_start
from sslterm.subproc import child_env, python_module


def worker_command(run_dir: Path, nproc: int, resume: bool) -> list[str]:
    """The command that starts the worker(s): the worker itself, or torchrun with NPROC of them."""
    tail = ["-m", "sslterm.worker", str(run_dir), *(["--resume"] if resume else [])]
    if nproc <= 1:
        return python_module(*tail[1:])
    return python_module("torch.distributed.run", "--standalone", f"--nproc-per-node={nproc}", *tail)


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
    write_status(run_dir, read_status(run_dir).evolve(state=State.FAILED, ended_at=time.time(), error=message))


def _start(run_dir: Path, lock: int, nproc: int, resume: bool) -> subprocess.Popen[bytes]:
    """Start the worker(s), handing them the run's lock (torchrun's workers are told the supervisor holds it)."""
    env = child_env(**{ENV_FD: str(lock), ENV_SUPERVISED: str(run_dir)})
    return subprocess.Popen(worker_command(run_dir, nproc, resume), stdin=subprocess.DEVNULL, env=env,
                            pass_fds=(lock,))


def supervise(run_dir: Path, attempts: int, nproc: int = 1, resume: bool = False) -> int:
    """Run the worker, resuming it after each unrecorded death; returns the last worker's exit code."""
    run = Run(run_dir)
    try:
        lock = adopt(run_dir)
        lock = acquire(run_dir) if lock is None else lock
    except RunLocked as e:
        print(f"sslterm supervisor: {e}", file=sys.stderr, flush=True)
        return 75
    record_holder(lock, os.getpid())
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
    me = os.getpid()
    write_status(run_dir, read_status(run_dir).evolve(supervisor=me, supervisor_start=process_start(me)))
    while True:
        for stale in run_dir.glob("rank*.error"):
            stale.unlink()
        child = _start(run_dir, lock, nproc, resume_next)
        code = child.wait()
        if nproc > 1 and code != 0 and read_status(run_dir).state not in (State.DIVERGED, State.STOPPED):
            record_failure(run_dir, code)
            return code
        state = read_status(run_dir).state
        if is_final(state) or stopping:
            return code
        if not is_active(state):
            return code
        if attempts <= 0:
            print(f"worker died (exit {code}) with no attempts left: the run is lost", flush=True)
            return code
        attempts -= 1
        resume_next = run.has_checkpoint()
        what = "resuming" if resume_next else "restarting from step 0 (no checkpoint)"
        print(f"\n--- worker died (exit {code}) in state {state}: {what}; {attempts} attempts left ---", flush=True)
        status = read_status(run_dir)
        if not resume_next:
            run.clear_logs()
        write_status(run_dir, status.evolve(state=State.STARTING, pid=None, pid_start=None, resumes=status.resumes + 1,
                                            step=status.step if resume_next else 0))


def record_job_failure(run_dir: Path, code: int) -> None:
    """After workers started without a supervisor ended with ``code`` ≠ 0: record the failure,
    unless the workers recorded how the run ended (diverged, stopped, finished)."""
    try:
        lock = acquire(run_dir)                      # another job has the run: its status is not ours to write
    except RunLocked as e:
        print(f"sslterm supervisor: {e}; nothing recorded", file=sys.stderr, flush=True)
        return
    try:
        if not is_final(read_status(run_dir).state):
            record_failure(run_dir, code)
    finally:
        os.close(lock)


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
