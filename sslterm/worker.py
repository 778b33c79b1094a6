"""The training worker process: ``python -m sslterm.worker RUN_DIR``.

Started by the launcher in a new session, so closing the terminal does not reach it. It is the
one writer of its run directory: it holds the run's lock (:mod:`sslterm.store.lock`) for its whole
life, handed over by its starter or taken here. It records its pid and start time before importing
torch, ignores SIGHUP, turns SIGTERM and SIGINT into a clean stop (final checkpoint, status
``stopped``; while it is still setting up, before the first step has ended, it ends at once with status
``stopped``, as nothing would be lost), beats a heartbeat from a background thread, and records any
error in the status.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from sslterm import config, rules
from sslterm.store import Run, read_status, write_status
from sslterm.store.lock import ENV_SUPERVISED, RunLocked, acquire, adopt, record_holder, release
from sslterm.store.states import State
from sslterm.store.status import HEARTBEAT_SECONDS, process_start, touch_heartbeat, write_json_atomic
from sslterm.store.summary import attempt_seconds


def _heartbeat(run_dir: Path, rank: int, done: threading.Event) -> None:
    while not done.is_set():
        with contextlib.suppress(OSError):  # a full disk must not kill training; staleness shows
            touch_heartbeat(run_dir, rank)
        done.wait(HEARTBEAT_SECONDS)


_NO_ROOM = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG}  # writes the disk refused


def describe_failure(e: BaseException, batch_size: int | None, checkpoint: bool = True,
                     data: config.DataConfig | None = None) -> str:
    """The status message for an exception, one line: out-of-memory errors (CUDA's, the CPU allocator's,
    Python's MemoryError) name the size to lower, from ``data`` when given (:func:`rules.describe_out_of_memory`);
    a write the disk refused names the file and how to go on (from the last checkpoint, or from step 0
    when ``checkpoint`` is False: none had been written)."""
    if isinstance(e, OSError) and e.errno in _NO_ROOM:
        where = f" {e.filename}" if e.filename else ""
        advice = "make it writable again" if e.errno == errno.EROFS else "free some space"
        then = ("continue from the last checkpoint: `sslterm resume`" if checkpoint
                else "start it again from step 0 (no checkpoint had been written): `sslterm resume`")
        return f"cannot write{where}: {e.strerror}; {advice}, then {then}"
    if rules.is_out_of_memory(e):
        if batch_size and data is not None:
            said = rules.describe_out_of_memory(e, data.dataset, data.options, batch_size)
            if said is not None:
                return said
        first = _first_line(e)
        if batch_size:
            return (f"out of memory with train.batch_size = {batch_size} ({first}); "
                    f"try --set train.batch_size={max(2, batch_size // 2)}")
        return f"out of memory ({first})"
    return f"{type(e).__name__}: {_first_line(e)}" if str(e).strip() else type(e).__name__


def _first_line(e: BaseException, limit: int = 300) -> str:
    """The first line of ``e``'s message, cut to ``limit`` characters (the status message is one line)."""
    lines = str(e).strip().splitlines()
    first = lines[0] if lines else type(e).__name__
    return first if len(first) <= limit else first[: limit - 1] + "…"


def take_lock(run_dir: Path) -> int | None:
    """The run's lock for this worker's life: handed over by its starter, or taken here; None when a supervisor
    (or the launcher of a distributed job) holds it for the job. RunLocked if another process has the run."""
    fd = adopt(run_dir)
    if fd is None and os.environ.get(ENV_SUPERVISED) != str(run_dir):
        fd = acquire(run_dir)
    if fd is not None:
        record_holder(fd, os.getpid())
    return fd


class Setup:
    """Whether the worker is still setting up (data, model, the first step with its compilation): a stop
    request then ends the process at once, as nothing it would lose has been written yet."""

    def __init__(self) -> None:
        self.done = False

    def wrap(self, should_stop: Callable[[], bool]) -> Callable[[], bool]:
        """``should_stop`` that also marks the end of set-up (the loop asks it after every step)."""

        def asked() -> bool:
            self.done = True
            return should_stop()

        return asked


def run_worker(run_dir: Path, resume: bool = False) -> int:
    """Train the run in ``run_dir`` to the end (continuing from its checkpoint if ``resume``)."""
    rank = int(os.environ.get("RANK", "0"))
    if rank:
        return _run_rank(run_dir, rank, resume)
    try:
        lock = take_lock(run_dir)                                  # held until the final status is written
    except RunLocked as e:
        print(f"sslterm worker: {e}", file=sys.stderr, flush=True)
        return 75                                                  # EX_TEMPFAIL; the status is not ours to touch
    run = Run(run_dir)
    previous = read_status(run_dir)
    now = time.time()
    status = previous.evolve(state=State.RUNNING, pid=os.getpid(), pid_start=process_start(os.getpid()),
                             host=socket.gethostname(), ended_at=None, error=None, warning=None, started_at=now,
                             trained_s=previous.trained_s + attempt_seconds(run_dir, previous) if resume else 0.0,
                             world=int(os.environ.get("WORLD_SIZE", "1")))
    write_status(run_dir, status)
    stop, setup = threading.Event(), Setup()

    def request_stop(signum: int, _frame: object) -> None:
        print(f"received {signal.Signals(signum).name}: stopping after this step", flush=True)
        stop.set()
        if not setup.done:                                         # nothing to save yet: end now, as stopped
            write_status(run_dir, status.evolve(state=State.STOPPED, ended_at=time.time()))
            print(f"run stopped while setting up, at step {status.step}", flush=True)
            os._exit(0)

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    done = threading.Event()
    threading.Thread(target=_heartbeat, args=(run_dir, 0, done), daemon=True).start()

    def progress(step: int, device: str) -> None:
        nonlocal status
        status = status.evolve(step=step, device=device)
        write_status(run_dir, status, durable=False)

    def total(steps: int, per_epoch: float) -> None:            # known once the data is loaded
        nonlocal status
        status = status.evolve(total_steps=steps, steps_per_epoch=per_epoch)
        write_status(run_dir, status)

    def warn(text: str) -> None:
        nonlocal status
        status = status.evolve(warning=text)
        write_status(run_dir, status)

    batch_size, data, clean = None, None, False
    try:
        exp = config.load(run_dir / "config.toml")
        batch_size, data = exp.train.batch_size, exp.data
        from sslterm.launch import planned

        status = planned(status, exp)
        from sslterm.train.loop import Diverged, train  # torch is imported here, after the pid is recorded

        try:
            outcome = train(exp, run, setup.wrap(stop.is_set), progress, resume=resume, on_warning=warn,
                            on_steps=total)
        except Diverged as e:
            print(f"diverged: {e}", flush=True)
            status = status.evolve(state=State.DIVERGED, step=e.step, ended_at=time.time(), error=str(e))
            code = 1
        else:
            state = State.STOPPED if outcome.stopped else State.FINISHED
            status = status.evolve(state=state, step=outcome.step, ended_at=time.time())
            code, clean = 0, True
    except Exception as e:  # every failure is recorded in the status, with the traceback in the log
        traceback.print_exc()
        if status.world > 1:  # the supervisor records the job's failure, naming the rank at its root
            with contextlib.suppress(OSError):
                said = describe_failure(e, batch_size, data=data)
                write_json_atomic(run_dir / "rank0.error", {"rank": 0, "error": said})
            done.set()
            _leave_group()
            return 1
        status = status.evolve(state=State.FAILED, ended_at=time.time(),
                               error=describe_failure(e, batch_size, run.checkpoint_path.is_file(), data))
        code = 1
    finally:
        done.set()
        _leave_group(clean)
    setup.done = True                                              # the final status is written below, whole
    write_status(run_dir, status)
    if lock is not None:
        release(lock)                                              # its last write: the run is free to resume
    print(f"run {status.state} at step {status.step}", flush=True)
    return code


def _leave_group(clean: bool = False) -> None:
    """Leave the process group, if any; ``clean``: every process finished, so they leave together."""
    if "torch" in sys.modules:
        from sslterm.utils.dist import cleanup

        cleanup(sync=clean)


def _run_rank(run_dir: Path, rank: int, resume: bool) -> int:
    """A process of rank > 0: trains its share and writes nothing but its heartbeat and, on failure,
    ``rank<N>.error`` (one line), which the supervisor puts into the run's status."""
    stop, setup = threading.Event(), Setup()

    def request_stop(_signum: int, _frame: object) -> None:
        stop.set()
        if not setup.done:
            os._exit(0)                                            # rank 0 records the stop

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    done = threading.Event()
    threading.Thread(target=_heartbeat, args=(run_dir, rank, done), daemon=True).start()
    batch_size, data, clean = None, None, False
    try:
        exp = config.load(run_dir / "config.toml")
        batch_size, data = exp.train.batch_size, exp.data
        from sslterm.train.loop import Diverged, train

        try:
            train(exp, Run(run_dir), setup.wrap(stop.is_set), lambda step, device: None, resume=resume)
        except Diverged:
            return 1                                               # rank 0 records the divergence
        clean = True
        return 0
    except Exception as e:
        traceback.print_exc()
        with contextlib.suppress(OSError):
            said = describe_failure(e, batch_size, data=data)
            write_json_atomic(run_dir / f"rank{rank}.error", {"rank": rank, "error": said})
        return 1
    finally:
        done.set()
        _leave_group(clean)


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
