"""The training worker process: ``python -m sslterm.worker RUN_DIR``.

Started by the launcher in a new session, so closing the terminal does not reach it. It is the
one writer of its run directory. It records its pid before importing torch, ignores SIGHUP,
turns SIGTERM and SIGINT into a clean stop (final checkpoint, status ``stopped``), beats a
heartbeat from a background thread, and records any error in the status.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
import time
import traceback
from pathlib import Path

from sslterm import config
from sslterm.store import Run, read_status, write_status
from sslterm.store.status import HEARTBEAT_SECONDS, touch_heartbeat


def _heartbeat(run_dir: Path, done: threading.Event) -> None:
    while not done.is_set():
        with contextlib.suppress(OSError):  # a full disk must not kill training; staleness shows
            touch_heartbeat(run_dir)
        done.wait(HEARTBEAT_SECONDS)


def describe_failure(e: BaseException, batch_size: int | None) -> str:
    """The status message for an exception: out-of-memory errors name the batch size and suggest a smaller one."""
    text = f"{type(e).__name__}: {e}"
    if "out of memory" in str(e).lower() or type(e).__name__ == "OutOfMemoryError":
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        if batch_size:
            return (f"out of memory with train.batch_size = {batch_size} ({first}); "
                    f"try --set train.batch_size={max(2, batch_size // 2)}")
        return f"out of memory ({first})"
    return text


def run_worker(run_dir: Path, resume: bool = False) -> int:
    """Train the run in ``run_dir`` to the end (continuing from its checkpoint if ``resume``)."""
    run = Run(run_dir)
    previous = read_status(run_dir)
    status = previous.evolve(state="running", pid=os.getpid(), host=socket.gethostname(), ended_at=None,
                             error=None, started_at=previous.started_at if resume else time.time())
    write_status(run_dir, status)
    stop = threading.Event()

    def request_stop(signum: int, _frame: object) -> None:
        print(f"received {signal.Signals(signum).name}: stopping after this step", flush=True)
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    done = threading.Event()
    threading.Thread(target=_heartbeat, args=(run_dir, done), daemon=True).start()

    def progress(step: int, device: str) -> None:
        nonlocal status
        status = status.evolve(step=step, device=device)
        write_status(run_dir, status, durable=False)

    batch_size = None
    try:
        exp = config.load(run_dir / "config.toml")
        batch_size = exp.train.batch_size
        status = status.evolve(total_steps=exp.train.steps)
        from sslterm.train.loop import Diverged, train  # torch is imported here, after the pid is recorded

        try:
            outcome = train(exp, run, stop.is_set, progress, resume=resume)
        except Diverged as e:
            print(f"diverged: {e}", flush=True)
            status = status.evolve(state="diverged", step=e.step, ended_at=time.time(), error=str(e))
            code = 1
        else:
            state = "stopped" if outcome.stopped else "finished"
            status = status.evolve(state=state, step=outcome.step, ended_at=time.time())
            code = 0
    except Exception as e:  # every failure is recorded in the status, with the traceback in the log
        traceback.print_exc()
        status = status.evolve(state="failed", ended_at=time.time(), error=describe_failure(e, batch_size))
        code = 1
    finally:
        done.set()
    write_status(run_dir, status)
    print(f"run {status.state} at step {status.step}", flush=True)
    return code


def main() -> None:
    """Entry point of the worker process."""
    args = sys.argv[1:]
    resume = "--resume" in args
    paths = [a for a in args if a != "--resume"]
    if len(paths) != 1:
        print("usage: python -m sslterm.worker RUN_DIR [--resume]", file=sys.stderr)
        raise SystemExit(2)
    raise SystemExit(run_worker(Path(paths[0]), resume=resume))


if __name__ == "__main__":
    main()
