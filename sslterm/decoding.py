"""Decoding image files and clip folders of frames into square uint8 arrays, in processes without torch.

:mod:`sslterm.data.prepare` runs :func:`decode_chunk` in a pool of processes started with ``spawn``
(the training process may hold CUDA and threads, which ``fork`` does not copy safely); this module
is kept outside ``sslterm.data`` so that those processes never import torch. An image is a file, or
a member of a tar shard named ``PATH\0OFFSET\0SIZE`` (:func:`tar_member`). Shard patterns such as
``train-{000000..000146}.tar`` are expanded here too (:func:`expand_shards`), below the config that checks them.
Audio has its own decoders, in :mod:`sslterm.decoding_audio`.
"""

from __future__ import annotations

import io
import itertools
import os
import re
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:                                   # numpy is imported where images are decoded, not by the config
    import numpy as np

SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
"""Image files sslterm reads (JPEG, PNG, WebP), by suffix, case-insensitively."""


def tar_member(shard: Path | str, offset: int, size: int) -> str:
    """The name :func:`decode_chunk` reads as the ``size`` bytes at ``offset`` of the tar file ``shard``."""
    return f"{shard}\0{offset}\0{size}"


def _read_source(source: str | bytes) -> Path | io.BytesIO:
    if isinstance(source, bytes):                   # an encoded image read from a table (Parquet, Arrow)
        return io.BytesIO(source)
    if "\0" not in source:
        return Path(source)
    shard, offset, size = source.split("\0")
    with open(shard, "rb") as f:
        f.seek(int(offset))
        return io.BytesIO(f.read(int(size)))


_BRACES = re.compile(r"\{([^{}]*)\}")


def expand_shards(pattern: str) -> list[str]:
    """Every name of a brace pattern, in order: ``a-{000..002}.tar`` (zero padding kept) or ``{x,y}.tar``."""
    parts: list[list[str]] = []
    last = 0
    for m in _BRACES.finditer(pattern):
        parts.append([pattern[last:m.start()]])
        body = m.group(1)
        numeric = re.fullmatch(r"(\d+)\.\.(\d+)", body)
        if numeric:
            lo, hi = numeric.groups()
            width = len(lo) if lo.startswith("0") else 0
            parts.append([str(i).zfill(width) for i in range(int(lo), int(hi) + 1)])
        elif "," in body:
            parts.append(body.split(","))
        else:                                               # not a pattern: literal braces
            parts.append([m.group(0)])
        last = m.end()
    parts.append([pattern[last:]])
    return ["".join(p) for p in itertools.product(*parts)]


def decode_image(path: Path | str | io.BytesIO, size: int) -> np.ndarray:
    """One image file → uint8 [3, size, size]: RGB, centre-cropped to a square, resized bilinearly.

    Raises ``OSError`` (Pillow's ``UnidentifiedImageError`` included) or ``ValueError`` for a file
    that is not a readable image.
    """
    import numpy as np
    from PIL import Image

    with Image.open(path) as source:
        source.draft("RGB", (size, size))          # JPEG: decode at 1/2, 1/4 or 1/8 scale when that still covers size
        rgb = source.convert("RGB")
    side = min(rgb.size)
    left, top = (rgb.width - side) // 2, (rgb.height - side) // 2
    rgb = rgb.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(rgb).transpose(2, 0, 1)


def watch_parent(interval: float = 0.5) -> None:
    """Pool initialiser: end this worker process soon after the process that started it ends.

    A training process stopped while it prepares a dataset ends at once (``os._exit``), which leaves
    its pool's workers behind, idle or still decoding; each checks its parent every ``interval`` s.
    """
    import threading
    import time

    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(interval)
        os._exit(0)

    threading.Thread(target=watch, daemon=True, name="watch-parent").start()


def decode_image_item(source: str | bytes, size: int) -> np.ndarray:
    """One image (a file, a tar member named by :func:`tar_member`, or encoded bytes) → uint8 [3, size, size]."""
    return decode_image(_read_source(source), size)


def clip_frames(folder: Path) -> list[Path]:
    """The frame images of a clip folder, in name order."""
    return sorted(f for f in folder.iterdir() if f.is_file() and f.suffix.lower() in SUFFIXES)


def decode_clip(folder: str, size: int, frames: int) -> np.ndarray:
    """A clip folder's first ``frames`` frame images → uint8 [frames, 3, size, size], each as :func:`decode_image`.

    Raises ``ValueError`` naming the frame that cannot be read, or a clip with fewer frames.
    """
    import numpy as np

    files = clip_frames(Path(folder))
    if len(files) < frames:
        raise ValueError(f"{len(files)} frames, expected at least {frames}")
    out = np.empty((frames, 3, size, size), dtype=np.uint8)
    for k, f in enumerate(files[:frames]):
        try:
            out[k] = decode_image(f, size)
        except (OSError, ValueError, SyntaxError) as e:
            raise ValueError(f"frame {f.name}: {type(e).__name__}: {e}") from None
    return out


def decode_chunk(jobs: list[tuple[int, str, str, int]], decode: Callable[[str], np.ndarray]) -> list[tuple[int, str]]:
    """Decode ``jobs`` (flag index, source, target array file, row) with ``decode`` into the arrays, in place.

    ``decode`` (picklable: a ``functools.partial`` of a function of this module or of
    :mod:`sslterm.decoding_audio`) turns a source into one row, always of one shape and dtype; row r
    of a target file holds the elements r × row size onwards. Returns (flag index, error) for every
    job, the error empty when the row was written. Rows are flushed to disk before this returns, so a
    caller that records them as done may trust them.
    """
    import numpy as np

    out: list[tuple[int, str]] = []
    maps: dict[str, np.memmap] = {}
    try:
        for flag, source, target, row in jobs:
            try:
                value = decode(source)
            except (OSError, ValueError, SyntaxError) as e:   # Pillow raises SyntaxError for some corrupt PNGs
                out.append((flag, f"{type(e).__name__}: {e}".replace("\n", " ")[:200] or "unreadable"))
                continue
            if target not in maps:
                maps[target] = np.memmap(target, dtype=value.dtype, mode="r+")
            maps[target][row * value.size:(row + 1) * value.size] = value.reshape(-1)
            out.append((flag, ""))
    finally:
        for m in maps.values():
            m.flush()
    return out
