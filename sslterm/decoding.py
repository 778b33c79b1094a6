"""Decoding image files into square uint8 arrays, in worker processes that import Pillow and numpy only.

:mod:`sslterm.data.prepare` runs :func:`decode_chunk` in a pool of processes started with ``spawn``
(the training process may hold CUDA and threads, which ``fork`` does not copy safely); this module
is kept outside ``sslterm.data`` so that those processes never import torch.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
"""Image files sslterm reads (JPEG, PNG, WebP), by suffix, case-insensitively."""


def decode_image(path: Path | str, size: int) -> np.ndarray:
    """One image file → uint8 [3, size, size]: RGB, centre-cropped to a square, resized bilinearly.

    Raises ``OSError`` (Pillow's ``UnidentifiedImageError`` included) or ``ValueError`` for a file
    that is not a readable image.
    """
    from PIL import Image

    with Image.open(path) as source:
        source.draft("RGB", (size, size))          # JPEG: decode at 1/2, 1/4 or 1/8 scale when that still covers size
        rgb = source.convert("RGB")
    side = min(rgb.size)
    left, top = (rgb.width - side) // 2, (rgb.height - side) // 2
    rgb = rgb.crop((left, top, left + side, top + side)).resize((size, size), Image.Resampling.BILINEAR)
    return np.asarray(rgb).transpose(2, 0, 1)


def decode_chunk(jobs: list[tuple[int, str, str, int]], size: int) -> list[tuple[int, str]]:
    """Decode ``jobs`` (flag index, source file, target array file, row) into the arrays, in place.

    Returns (flag index, error) for every job, the error empty when the image was written. Rows are
    flushed to disk before this returns, so a caller that records them as done may trust them.
    """
    out: list[tuple[int, str]] = []
    maps: dict[str, np.memmap] = {}
    try:
        for flag, source, target, row in jobs:
            try:
                image = decode_image(source, size)
            except (OSError, ValueError, SyntaxError) as e:   # Pillow raises SyntaxError for some corrupt PNGs
                out.append((flag, f"{type(e).__name__}: {e}".replace("\n", " ")[:200] or "unreadable"))
                continue
            if target not in maps:
                maps[target] = np.memmap(target, dtype=np.uint8, mode="r+")
            row_bytes = 3 * size * size
            maps[target][row * row_bytes:(row + 1) * row_bytes] = image.reshape(-1)
            out.append((flag, ""))
    finally:
        for m in maps.values():
            m.flush()
    return out
