"""Crash-safe checkpoints: write a temporary file, fsync it, rename it over the old one."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from sslterm.store.status import fsync_dir

LATEST = "last.pt"


def save_checkpoint(directory: Path, state: dict[str, Any]) -> Path:
    """Atomically replace ``directory/last.pt`` with ``state``; a crash leaves the old one whole."""
    directory.mkdir(parents=True, exist_ok=True)
    final = directory / LATEST
    tmp = directory / f".{LATEST}.tmp-{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            torch.save(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            tmp.unlink()
    fsync_dir(directory)
    return final


def load_checkpoint(path: Path, device: torch.device | str = "cpu") -> dict[str, Any]:
    """Load a checkpoint holding only tensors and plain containers (nothing else is unpickled)."""
    return torch.load(path, map_location=device, weights_only=True)
