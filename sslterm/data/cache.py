"""Generated datasets cached on disk, so a run of a dataset seen before starts without generating it again.

An entry is keyed by the dataset's name and options, the source of the module that generates it
and the torch version (whose random streams make the pixels), so a change to any of them makes a new
entry. Entries are written with :mod:`sslterm.atomic` (mode 0644 in a 0755 directory, whatever the
umask) and read with ``weights_only`` (tensors and plain values only); the least recently used
beyond ``KEEP`` are removed. Datasets read from the user's files
(``options['path']``) are never cached: the files are the cache.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from sslterm.atomic import atomic_write, make_dir
from sslterm.data import Dataset

KEEP = 8
"""Entries kept in a cache directory; older ones are removed when a new one is written."""


def cache_key(name: str, options: dict[str, Any], builder: Callable[..., Any]) -> str:
    """A digest of everything that decides the generated tensors."""
    source = Path(sys.modules[builder.__module__].__file__ or "").read_bytes()
    text = json.dumps({"name": name, "options": options, "torch": torch.__version__}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode() + hashlib.sha256(source).digest()).hexdigest()[:24]


def cached(directory: Path, name: str, options: dict[str, Any],
           builder: Callable[[dict[str, Any]], Dataset]) -> Dataset:
    """``builder(options)``, read from ``directory`` when it was generated before, else generated and stored.

    The cache only saves time: an entry that cannot be read is generated again, and one that cannot
    be written (a full disk) is skipped; both say so in the worker's log.
    """
    path = directory / f"{name}-{cache_key(name, options, builder)}.pt"
    if path.is_file():
        try:
            data = _from_state(torch.load(path, map_location="cpu", weights_only=True))
        except Exception as e:  # any unreadable entry is regenerated, never fatal
            print(f"dataset cache: cannot read {path} ({type(e).__name__}: {e}); generating again", flush=True)
        else:
            os.utime(path)                                            # most recently used
            return data
    data = builder(options)
    try:
        _store(path, data)
    except (OSError, RuntimeError) as e:  # torch.save wraps a failed write in a RuntimeError
        print(f"dataset cache: cannot write {path} ({e}); continuing without it", flush=True)
    return data


def _store(path: Path, data: Dataset) -> None:
    """Write an entry with the one atomic write, then drop the least recently used beyond ``KEEP``.

    The cache directory and its parents are created with DIR_MODE and entries with FILE_MODE,
    whatever the umask: other users may read the cache, never change it.
    """
    make_dir(path.parent)
    state = _to_state(data)
    atomic_write(path, lambda f: torch.save(state, f))
    for old in sorted(path.parent.glob("*.pt"), key=lambda p: p.stat().st_mtime, reverse=True)[KEEP:]:
        old.unlink(missing_ok=True)


def _to_state(data: Dataset) -> dict[str, Any]:
    return {"train": data.train, "eval": data.eval, "y_train": data.y_train, "y_eval": data.y_eval,
            "classes": list(data.classes), "info": data.info}


def _from_state(state: dict[str, Any]) -> Dataset:
    return Dataset(state["train"], state["eval"], state["y_train"], state["y_eval"], tuple(state["classes"]),
                   state["info"])
