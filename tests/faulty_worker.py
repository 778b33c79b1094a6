"""The real worker with one injected fault, for the fault tests: ``python -m tests.faulty_worker RUN_DIR FAULT N``.

FAULT acts at the N-th checkpoint, metrics record, snapshot record or final status record (1-based):

- ``pause-checkpoint``: writes half of the checkpoint's temporary file, touches ``RUN_DIR/fault-point``
  and waits (up to a minute) for SIGTERM or SIGINT, which the worker's own handler also receives; then
  writes the rest. The test sends the signal, or kills the process, while the write is half done.
- ``enospc-checkpoint``: the temporary checkpoint file's descriptor is pointed at ``/dev/full`` (a real ENOSPC).
- ``erofs-checkpoint``: the checkpoint write fails half-way with EROFS (a file system gone read-only).
- ``enospc-metrics``: the metrics log's descriptor is pointed at ``/dev/full`` before the record.
- ``kill-snapshot``: half of the snapshot record is written, then the process SIGKILLs itself.
- ``kill-final-status``: half of the final status record's temporary file is written, then SIGKILL.
- ``block-dataset``: building the dataset touches ``RUN_DIR/fault-point`` and never returns (a slow download
  or generation); the worker has to honour a stop there.
- ``block-first-step``: the first training step touches ``RUN_DIR/fault-point`` and never returns (a long
  ``torch.compile``); likewise.

Everything else is the real worker: ``sslterm.worker.main`` with its signal handlers and error recording.
"""

from __future__ import annotations

import errno
import io
import json
import os
import signal
import sys
import time
from pathlib import Path
from typing import Any, BinaryIO

import torch

import sslterm.train.loop as loop
from sslterm import atomic, worker
from sslterm.store import states
from sslterm.store.jsonl import JsonlWriter, encode

FINAL = tuple(str(s) for s in states.FINAL)


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def _wait_for_stop(marker: Path, seconds: float = 60.0) -> None:
    """Touch ``marker``, then wait until SIGTERM or SIGINT arrives (passing it on to the worker's handler)."""
    got: list[int] = []
    previous = {sig: signal.getsignal(sig) for sig in (signal.SIGTERM, signal.SIGINT)}

    def chained(signum: int, frame: Any) -> None:
        got.append(signum)
        handler = previous[signal.Signals(signum)]
        if callable(handler):
            handler(signum, frame)

    for sig in previous:
        signal.signal(sig, chained)
    marker.touch()
    deadline = time.monotonic() + seconds
    while not got and time.monotonic() < deadline:
        time.sleep(0.02)
    for sig, handler in previous.items():
        signal.signal(sig, handler)


def _writer_module() -> Any:
    """The training module that calls save_checkpoint and opens the JsonlWriters (the loop, or its recorder)."""
    try:
        import sslterm.train.recorder as recorder
    except ImportError:
        return loop
    return recorder if hasattr(recorder, "save_checkpoint") else loop


def install(fault: str, nth: int, run_dir: Path) -> None:
    """Patch the one place where ``fault`` strikes."""
    writes = _writer_module()
    count = {"n": 0}

    def is_nth() -> bool:
        count["n"] += 1
        return count["n"] == nth

    if fault in ("pause-checkpoint", "erofs-checkpoint", "enospc-checkpoint"):
        real_checkpoint, real_save = writes.save_checkpoint, torch.save

        def torn_save(obj: Any, f: BinaryIO) -> None:
            buf = io.BytesIO()
            real_save(obj, buf)
            data = buf.getvalue()
            f.write(data[: len(data) // 2])
            f.flush()
            if fault == "erofs-checkpoint":
                raise OSError(errno.EROFS, os.strerror(errno.EROFS))
            _wait_for_stop(run_dir / "fault-point")
            f.write(data[len(data) // 2:])

        def full_save(obj: Any, f: BinaryIO) -> None:   # the temporary file's descriptor points at /dev/full
            full = os.open("/dev/full", os.O_WRONLY)
            os.dup2(full, f.fileno())
            os.close(full)
            real_save(obj, f)

        def faulty_checkpoint(directory: Path, state: dict[str, Any]) -> Path:
            if not is_nth():
                return real_checkpoint(directory, state)
            torch.save = full_save if fault == "enospc-checkpoint" else torn_save  # type: ignore[assignment]  # only inside this checkpoint's write
            try:
                return real_checkpoint(directory, state)
            finally:
                torch.save = real_save

        writes.save_checkpoint = faulty_checkpoint
    elif fault in ("enospc-metrics", "kill-snapshot"):
        target = "metrics.jsonl" if fault == "enospc-metrics" else "snapshots.jsonl"

        class FaultyWriter(JsonlWriter):
            def write(self, record: dict[str, Any]) -> None:
                if self.path.name == target and is_nth():
                    if fault == "kill-snapshot":
                        line = encode(record)
                        self._f.write(line[: len(line) // 2])
                        self._f.flush()
                        _die()
                    full = os.open("/dev/full", os.O_WRONLY)
                    os.dup2(full, self._f.fileno())
                    os.close(full)
                super().write(record)

        writes.JsonlWriter = FaultyWriter
    elif fault == "kill-final-status":
        real_write = atomic.atomic_write

        def dying_write(path: Path, write: Any, **kwargs: Any) -> None:
            if Path(path).name == "status.json":
                buf = io.BytesIO()
                write(buf)
                if json.loads(buf.getvalue()).get("state") in FINAL and is_nth():
                    def half(f: BinaryIO) -> None:
                        f.write(buf.getvalue()[: len(buf.getvalue()) // 2])
                        f.flush()
                        _die()
                    return real_write(path, half, **kwargs)
            return real_write(path, write, **kwargs)

        atomic.atomic_write = dying_write
    elif fault in ("block-dataset", "block-first-step"):
        def blocked(*_args: Any, **_kwargs: Any) -> Any:
            (run_dir / "fault-point").touch()
            while True:                                                  # only a signal ends this
                time.sleep(3600)

        if fault == "block-dataset":
            loop.build_dataset = blocked
        else:
            loop.train_step = blocked
    else:
        raise SystemExit(f"unknown fault {fault!r}")


def main() -> None:
    """``python -m tests.faulty_worker RUN_DIR FAULT N``: the worker with FAULT at the N-th occasion."""
    run_dir, fault, nth = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    install(fault, nth, run_dir)
    sys.argv = [sys.argv[0], str(run_dir)]
    worker.main()


if __name__ == "__main__":
    main()
