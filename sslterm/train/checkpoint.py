"""Crash-safe checkpoints: written with the one atomic write, read back only as tensors and plain containers."""

from __future__ import annotations

import pickle
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from sslterm.atomic import atomic_write, make_dir
from sslterm.store.runs import CHECKPOINT

REQUIRED = ("step", "model")
"""Keys every checkpoint written by the training loop holds."""


class CheckpointError(ValueError):
    """A checkpoint file that exists but is not a readable sslterm checkpoint; the message is one line."""


def save_checkpoint(directory: Path, state: dict[str, Any]) -> Path:
    """Atomically replace ``directory/last.pt`` (``store.runs.CHECKPOINT``) with ``state``; a crash leaves
    the old one whole.

    A write that fails (a full disk, a file system gone read-only) leaves the old checkpoint as the
    latest, removes its partial temporary file and raises an OSError naming ``last.pt``. Temporary
    files left by a writer killed mid-write are removed first: each may be as large as a checkpoint.
    """
    make_dir(directory)
    final = directory / CHECKPOINT
    for stale in directory.glob(f".{CHECKPOINT}.tmp-*"):
        stale.unlink(missing_ok=True)
    try:
        atomic_write(final, lambda f: torch.save(state, f))
    except (OSError, RuntimeError) as e:
        cause = _os_error(e)
        if cause is None:
            raise
        raise OSError(cause.errno, cause.strerror, str(final)) from e
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
    """Load a checkpoint holding only tensors and plain containers (nothing else is unpickled).

    A missing file raises FileNotFoundError; a file that is empty, truncated, not a checkpoint or
    lacks the training loop's keys raises :class:`CheckpointError` with a one-line message.
    """
    path = Path(path)
    if path.is_file() and path.stat().st_size == 0:
        raise CheckpointError(f"cannot read the checkpoint {path}: the file is empty")
    try:
        with warnings.catch_warnings():                 # a garbage file draws torch's "please file an issue"
            warnings.simplefilter("ignore")
            ckpt = torch.load(path, map_location=device, weights_only=True)
    except (FileNotFoundError, IsADirectoryError, PermissionError):
        raise
    except (pickle.UnpicklingError, zipfile.BadZipFile, EOFError, RuntimeError, ValueError, TypeError,
            AttributeError, KeyError, IndexError, OSError) as e:
        raise CheckpointError(f"cannot read the checkpoint {path}: the file is truncated or corrupt "
                              f"({type(e).__name__})") from None
    if not isinstance(ckpt, dict) or any(k not in ckpt for k in REQUIRED):
        held = sorted(map(str, ckpt)) if isinstance(ckpt, dict) else type(ckpt).__name__
        raise CheckpointError(f"cannot read the checkpoint {path}: it holds {_cut(str(held))}, "
                              f"not an sslterm checkpoint (which has {', '.join(REQUIRED)})")
    return ckpt


def _cut(text: str, limit: int = 120) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
