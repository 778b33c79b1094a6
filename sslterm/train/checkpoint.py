"""Crash-safe checkpoints: write a temporary file, fsync it, rename it over the old one."""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import torch

from sslterm.store.status import fsync_dir

LATEST = "last.pt"


def save_checkpoint(directory: Path, state: dict[str, Any]) -> Path:
    """Atomically replace ``directory/last.pt`` with ``state``; a crash leaves the old one whole.

    A write that fails (a full disk, a file system gone read-only) leaves the old checkpoint as the
    latest, removes its partial temporary file and raises an OSError naming ``last.pt``. Temporary
    files left by a writer killed mid-write are removed first: each may be as large as a checkpoint.
    """
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / LATEST
    tmp = directory / f".{LATEST}.tmp-{os.getpid()}"
    try:
        for stale in directory.glob(f".{LATEST}.tmp-*"):
            if stale != tmp:
                stale.unlink(missing_ok=True)
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
    except (OSError, RuntimeError) as e:
        cause = _os_error(e)
        if cause is None:
            raise
        raise OSError(cause.errno, cause.strerror, str(final)) from e
    finally:
        with contextlib.suppress(OSError):  # must not hide the error being raised
            tmp.unlink(missing_ok=True)
    fsync_dir(directory)
    return final


def _os_error(e: BaseException | None) -> OSError | None:
    """The OSError a failed write started from (torch.save reports it wrapped in a RuntimeError)."""
    found = None
    while e is not None:
        if isinstance(e, OSError) and e.errno is not None:
            found = e
        e = e.__cause__ or e.__context__
    return found


def load_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Load a checkpoint holding only tensors and plain containers (nothing else is unpickled)."""
    return torch.load(path, map_location=device, weights_only=True)
